/**
 * A small element-tree reader for invoice XML that is already known to be well-formed (fast-xml-parser's validator
 * runs first). fast-xml-parser's own parse takes ~0.5 ms for a 20-line invoice; the sandbox and the verifier read
 * every invoice of a batch, so this reader keeps only what they need: element names, attributes and text.
 */

/** One element: its name, attributes, child elements and its own text (entities decoded, CDATA included). */
export interface XNode {
  readonly name: string;
  readonly attrs: Readonly<Record<string, string>>;
  readonly children: XNode[];
  text: string;
}

const TOKEN =
  /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[([\s\S]*?)\]\]>|<(\/?)([^\s/>]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/y;
const ATTR = /([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g;
const ENTITY = /&(#x[0-9a-fA-F]+|#\d+|amp|lt|gt|quot|apos);/g;
const NAMED: Readonly<Record<string, string>> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decode(s: string): string {
  if (!s.includes("&")) return s;
  return s.replace(ENTITY, (_, e: string) =>
    e.startsWith("#x")
      ? String.fromCodePoint(Number.parseInt(e.slice(2), 16))
      : e.startsWith("#")
        ? String.fromCodePoint(Number(e.slice(1)))
        : (NAMED[e] as string),
  );
}

/**
 * The root element of a well-formed document (no DOCTYPE: callers refuse those first).
 *
 * @throws SyntaxError on input the tokenizer cannot follow (unbalanced tags, stray markup).
 */
export function readXmlTree(xml: string): XNode {
  const stack: XNode[] = [];
  let root: XNode | undefined;
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < xml.length) {
    const at = TOKEN.lastIndex;
    const m = TOKEN.exec(xml);
    if (!m) throw new SyntaxError(`unreadable XML at ${at}`);
    const [, cdata, close, name, attrText, selfClose, text] = m;
    const top = stack.at(-1);
    if (text !== undefined || cdata !== undefined) {
      if (top) top.text += cdata ?? decode(text as string);
      continue;
    }
    if (name === undefined) continue; // comment or processing instruction
    if (close) {
      if (top?.name !== name) throw new SyntaxError(`unexpected </${name}> at ${at}`);
      stack.pop();
      continue;
    }
    const attrs: Record<string, string> = {};
    if (attrText) {
      for (const a of attrText.matchAll(ATTR)) attrs[a[1] as string] = decode(a[2] ?? a[3] ?? "");
    }
    const node: XNode = { name, attrs, children: [], text: "" };
    if (top) top.children.push(node);
    else if (root) throw new SyntaxError(`second root element <${name}> at ${at}`);
    else root = node;
    if (!selfClose) stack.push(node);
  }
  if (!root || stack.length > 0) throw new SyntaxError("unbalanced XML");
  return root;
}

/** The first child element called `name`. */
export function childOf(n: XNode | undefined, name: string): XNode | undefined {
  return n?.children.find((c) => c.name === name);
}

/** Every child element called `name`. */
export function childrenOf(n: XNode | undefined, name: string): XNode[] {
  return n ? n.children.filter((c) => c.name === name) : [];
}

/** The trimmed text of the first child called `name`: "" for an empty element, undefined when there is none. */
export function textOf(n: XNode | undefined, name: string): string | undefined {
  return childOf(n, name)?.text.trim();
}
