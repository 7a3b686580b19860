/**
 * Strict XML parsing and Canonical XML over a parsed DOM, for verifying signatures on documents we did not write
 * ourselves (or that were re-serialized after we wrote them). Our own output never needs this: src/xml/canonical.ts
 * writes canonical text directly (signing.md §2).
 *
 * Implements inclusive Canonical XML 1.0 (W3C REC-xml-c14n-20010315) and Exclusive XML Canonicalization 1.0
 * (REC-xml-exc-c14n-20020718) for a whole document or an element subtree, optionally minus one excluded subtree
 * (the enveloped-signature transform). Input always comes from {@link parseXml}, so there are no entity references
 * and no DTD; line endings and attribute values are already normalized by the parser.
 */
import { DOMParser, type Document, type Element, type Node } from "@xmldom/xmldom";
import { escAttr, escText } from "../xml/canonical.js";

const ELEMENT_NODE = 1;
const TEXT_NODE = 3;
const CDATA_SECTION_NODE = 4;
const PROCESSING_INSTRUCTION_NODE = 7;
const COMMENT_NODE = 8;
const DOCUMENT_NODE = 9;

const XMLNS_NS = "http://www.w3.org/2000/xmlns/";
const XML_NS = "http://www.w3.org/XML/1998/namespace";

/** Thrown by {@link parseXml} for input we refuse or cannot parse. */
export class XmlInputError extends Error {
  override readonly name = "XmlInputError";
  constructor(
    /** `doctype`: a DTD was refused; `encoding`: not UTF-8; `malformed`: not well-formed XML. */
    readonly kind: "doctype" | "encoding" | "malformed",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Parses XML strictly with @xmldom/xmldom: any parser warning or error throws, a leading BOM is dropped (xmldom
 * throws on it, signing.md §2), and any `<!DOCTYPE` is refused before parsing (no DTDs, no entities: signing.md §4).
 * A Buffer must be UTF-8, and its XML declaration, if any, must not name another encoding.
 *
 * @throws XmlInputError
 */
export function parseXml(input: string | Buffer): Document {
  let text: string;
  if (typeof input === "string") {
    text = input;
  } else {
    try {
      text = decoder.decode(input);
    } catch (cause) {
      throw new XmlInputError("encoding", "input is not valid UTF-8", { cause });
    }
    const enc = /^\uFEFF?<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']/.exec(text)?.[1];
    if (enc !== undefined && !/^utf-?8$/i.test(enc)) throw new XmlInputError("encoding", `unsupported encoding ${enc}`);
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (/<!DOCTYPE/i.test(text)) throw new XmlInputError("doctype", "DOCTYPE is not allowed");
  const parser = new DOMParser({
    onError: (level: string, message: string): never => {
      throw new XmlInputError("malformed", `${level}: ${message}`);
    },
  });
  try {
    return parser.parseFromString(text, "text/xml");
  } catch (cause) {
    if (cause instanceof XmlInputError) throw cause;
    // xmldom wraps what onError throws in its ParseError; keep our message.
    const inner = cause instanceof Error && cause.cause instanceof XmlInputError ? cause.cause : undefined;
    throw new XmlInputError("malformed", inner?.message ?? (cause instanceof Error ? cause.message : String(cause)), {
      cause,
    });
  }
}

/** Options of {@link canonicalize}. */
export interface C14nOptions {
  /** Exclusive c14n instead of inclusive C14N 1.0. Default false. */
  readonly exclusive?: boolean;
  /** Keep comments (the `#WithComments` variants). Default false. */
  readonly withComments?: boolean;
  /** Exclusive only: the InclusiveNamespaces PrefixList, `#default` meaning the default namespace. */
  readonly inclusivePrefixes?: readonly string[];
  /** A subtree left out of the output, e.g. the Signature for the enveloped-signature transform. */
  readonly exclude?: Node;
}

/** Prefix → namespace URI; "" is the default namespace. */
type NsMap = ReadonlyMap<string, string>;

function isElement(n: Node): n is Element {
  return n.nodeType === ELEMENT_NODE;
}

/** The namespace declarations written on `el` itself. */
function ownDeclarations(el: Element): [string, string][] {
  const out: [string, string][] = [];
  const attrs = el.attributes;
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs.item(i);
    if (a?.namespaceURI !== XMLNS_NS) continue;
    out.push([a.prefix === "xmlns" ? (a.localName ?? "") : "", a.value]);
  }
  return out;
}

function withDeclarations(parent: NsMap, el: Element): NsMap {
  const own = ownDeclarations(el);
  if (own.length === 0) return parent;
  const m = new Map(parent);
  for (const [p, uri] of own) m.set(p, uri);
  return m;
}

/** Namespaces in scope at `el`, from its ancestors and itself. */
function inScope(el: Element): NsMap {
  const chain: Element[] = [];
  for (let n: Node | null = el; n && isElement(n); n = n.parentNode) chain.push(n);
  let m: NsMap = new Map();
  for (let i = chain.length - 1; i >= 0; i--) m = withDeclarations(m, chain[i] as Element);
  return m;
}

const byCodePoint = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

interface Ctx {
  readonly exclusive: boolean;
  readonly withComments: boolean;
  readonly inclusivePrefixes: ReadonlySet<string>;
  readonly exclude: Node | undefined;
}

/**
 * Canonical form of `node` (an element subtree, or a whole document) as a string; hash it as UTF-8.
 *
 * For an element, namespace declarations in scope from its ancestors are rendered on it (inclusive mode), and so
 * are the ancestors' `xml:*` attributes, as C14N 1.0 §2.4 requires for a document subset.
 */
export function canonicalize(node: Element | Document, opts: C14nOptions = {}): string {
  const ctx: Ctx = {
    exclusive: opts.exclusive ?? false,
    withComments: opts.withComments ?? false,
    inclusivePrefixes: new Set((opts.inclusivePrefixes ?? []).map((p) => (p === "#default" ? "" : p))),
    exclude: opts.exclude,
  };
  const out: string[] = [];
  if (node.nodeType === DOCUMENT_NODE) {
    renderDocument(node as Document, ctx, out);
  } else {
    const el = node as Element;
    const parent = el.parentNode;
    const scope = parent && isElement(parent) ? inScope(parent) : new Map<string, string>();
    renderElement(el, scope, new Map(), inheritedXmlAttrs(el, ctx), ctx, out);
  }
  return out.join("");
}

function renderDocument(doc: Document, ctx: Ctx, out: string[]): void {
  let seenRoot = false;
  for (let c = doc.firstChild; c; c = c.nextSibling) {
    if (c === ctx.exclude) continue;
    if (isElement(c)) {
      renderElement(c, new Map(), new Map(), [], ctx, out);
      seenRoot = true;
    } else if (c.nodeType === PROCESSING_INSTRUCTION_NODE || (c.nodeType === COMMENT_NODE && ctx.withComments)) {
      // xmldom keeps the XML declaration as a PI; it is not part of the data model.
      if (c.nodeType === PROCESSING_INSTRUCTION_NODE && c.nodeName.toLowerCase() === "xml") continue;
      const text = renderLeaf(c);
      out.push(seenRoot ? `\n${text}` : `${text}\n`);
    }
  }
}

function renderLeaf(n: Node): string {
  if (n.nodeType === COMMENT_NODE) return `<!--${(n as unknown as { data: string }).data}-->`;
  const pi = n as unknown as { target: string; data: string };
  return pi.data === "" ? `<?${pi.target}?>` : `<?${pi.target} ${pi.data}?>`;
}

/** C14N 1.0 §2.4: `xml:*` attributes of ancestors outside the subset are copied onto the apex (inclusive only). */
function inheritedXmlAttrs(apex: Element, ctx: Ctx): [string, string, string][] {
  if (ctx.exclusive) return [];
  const found = new Map<string, string>();
  for (let n: Node | null = apex.parentNode; n && isElement(n); n = n.parentNode) {
    const attrs = n.attributes;
    for (let i = 0; i < attrs.length; i++) {
      const a = attrs.item(i);
      if (a?.namespaceURI === XML_NS && !found.has(a.localName ?? "")) found.set(a.localName ?? "", a.value);
    }
  }
  const own = apex.attributes;
  for (let i = 0; i < own.length; i++) {
    const a = own.item(i);
    if (a?.namespaceURI === XML_NS) found.delete(a.localName ?? "");
  }
  return [...found].map(([local, value]) => [local, `xml:${local}`, value]);
}

/**
 * @param parentScope namespaces in scope at the parent in the input document
 * @param rendered namespaces as declared by output ancestors (what a reader of the output would see in scope)
 * @param extraXml `xml:*` attributes inherited onto the apex: [localName, qName, value]
 */
function renderElement(
  el: Element,
  parentScope: NsMap,
  rendered: NsMap,
  extraXml: [string, string, string][],
  ctx: Ctx,
  out: string[],
): void {
  const scope = withDeclarations(parentScope, el);
  const decls: [string, string][] = [];
  const consider = (p: string): void => {
    if (p === "xml") return;
    const uri = scope.get(p) ?? "";
    const before = rendered.get(p) ?? "";
    if (p === "" ? uri !== before : uri !== "" && rendered.get(p) !== uri) decls.push([p, uri]);
  };
  if (ctx.exclusive) {
    const used = new Set<string>([el.prefix ?? ""]);
    const attrs = el.attributes;
    for (let i = 0; i < attrs.length; i++) {
      const a = attrs.item(i);
      if (a && a.namespaceURI !== XMLNS_NS && a.prefix) used.add(a.prefix);
    }
    for (const p of ctx.inclusivePrefixes) if (scope.has(p)) used.add(p);
    for (const p of used) consider(p);
  } else {
    for (const p of scope.keys()) consider(p);
    // An element back in no namespace under a rendered default one needs xmlns="".
    if (!scope.has("") && (rendered.get("") ?? "") !== "") decls.push(["", ""]);
  }
  decls.sort((a, b) => byCodePoint(a[0], b[0]));

  const plain: [string, string, string, string][] = []; // [nsURI, localName, qName, value]
  const attrs = el.attributes;
  for (let i = 0; i < attrs.length; i++) {
    const a = attrs.item(i);
    if (!a || a.namespaceURI === XMLNS_NS) continue;
    plain.push([a.namespaceURI ?? "", a.localName ?? a.name, a.name, a.value]);
  }
  for (const [local, qName, value] of extraXml) plain.push([XML_NS, local, qName, value]);
  plain.sort((a, b) => byCodePoint(a[0], b[0]) || byCodePoint(a[1], b[1]));

  let tag = `<${el.tagName}`;
  for (const [p, uri] of decls) tag += p === "" ? ` xmlns="${escAttr(uri)}"` : ` xmlns:${p}="${escAttr(uri)}"`;
  for (const [, , qName, value] of plain) tag += ` ${qName}="${escAttr(value)}"`;
  out.push(`${tag}>`);

  let childRendered = rendered;
  if (decls.length > 0) {
    const m = new Map(rendered);
    for (const [p, uri] of decls) m.set(p, uri);
    childRendered = m;
  }
  for (let c = el.firstChild; c; c = c.nextSibling) {
    if (c === ctx.exclude) continue;
    switch (c.nodeType) {
      case ELEMENT_NODE:
        renderElement(c as Element, scope, childRendered, [], ctx, out);
        break;
      case TEXT_NODE:
      case CDATA_SECTION_NODE:
        out.push(escText((c as unknown as { data: string }).data));
        break;
      case PROCESSING_INSTRUCTION_NODE:
        out.push(renderLeaf(c));
        break;
      case COMMENT_NODE:
        if (ctx.withComments) out.push(renderLeaf(c));
        break;
      default:
        break;
    }
  }
  out.push(`</${el.tagName}>`);
}
