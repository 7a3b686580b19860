/**
 * Reading XML that comes from outside (authority replies; in the sandbox, messages from clients). signing.md §4:
 * refuse any DOCTYPE before parsing (no entity tricks reach the parser), limit the size, check well-formedness,
 * then parse with fast-xml-parser keeping every value a string (`parseTagValue: false`: a tax code stays
 * `0101234567`, not 101234567) and decoding character references (`htmlEntities: true`).
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";

/** A parsed element: text, or an object of children (`@_name` for attributes, `#text` for mixed text). */
export type XmlNode = string | { readonly [name: string]: XmlNode | readonly XmlNode[] | undefined };

/** Result of {@link parseUntrusted}. */
export type SafeParse =
  | { readonly ok: true; readonly doc: XmlNode }
  | { readonly ok: false; readonly problem: string; readonly code: "too-large" | "doctype" | "malformed" };

/** Default size limit for one message: a 204 for 1000 invoices with long error texts stays far below it. */
export const DEFAULT_MAX_XML_BYTES = 4 * 1024 * 1024;

const DOCTYPE_RE = /<!DOCTYPE/i;

/** Result of {@link checkUntrusted}: the text, well-formed and free of DOCTYPE, or why not. */
export type SafeCheck =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly problem: string; readonly code: "too-large" | "doctype" | "malformed" };

/**
 * Size-limits, refuses DOCTYPE and checks well-formedness, without building a tree (fast-xml-parser's validator is
 * several times faster than its parser; the sandbox reads big batches this way).
 */
export function checkUntrusted(input: string | Buffer, maxBytes: number = DEFAULT_MAX_XML_BYTES): SafeCheck {
  const size = typeof input === "string" ? Buffer.byteLength(input, "utf8") : input.length;
  if (size > maxBytes) return { ok: false, code: "too-large", problem: `XML quá lớn: ${size} byte > ${maxBytes} byte` };
  const text = (typeof input === "string" ? input : input.toString("utf8")).replace(/^\uFEFF/, "");
  if (DOCTYPE_RE.test(text))
    return { ok: false, code: "doctype", problem: "XML chứa DOCTYPE, bị từ chối (chống XXE) / DOCTYPE refused" };
  const valid = XMLValidator.validate(text);
  if (valid !== true)
    return { ok: false, code: "malformed", problem: `XML sai cú pháp (dòng ${valid.err.line}): ${valid.err.msg}` };
  return { ok: true, text };
}

/**
 * {@link checkUntrusted}, then parses. `listTags` are always arrays, so one child and many children look the same
 * (signing.md §4 trap 4).
 */
export function parseUntrusted(
  input: string | Buffer,
  opts: { readonly maxBytes?: number; readonly listTags: ReadonlySet<string> },
): SafeParse {
  const checked = checkUntrusted(input, opts.maxBytes);
  if (!checked.ok) return checked;
  const parser = new XMLParser({
    ignoreAttributes: false,
    parseTagValue: false,
    parseAttributeValue: false,
    htmlEntities: true,
    trimValues: true,
    isArray: (name) => opts.listTags.has(name),
  });
  try {
    return { ok: true, doc: parser.parse(checked.text) as XmlNode };
  } catch (e) {
    return { ok: false, code: "malformed", problem: `XML không đọc được: ${(e as Error).message}` };
  }
}

/** The child element `name` (the first, when repeated). */
export function child(node: XmlNode | undefined, name: string): XmlNode | undefined {
  if (node === undefined || typeof node === "string") return undefined;
  const v = node[name];
  if (Array.isArray(v)) return v[0] as XmlNode | undefined;
  return v as XmlNode | undefined;
}

/** All child elements `name`. */
export function children(node: XmlNode | undefined, name: string): readonly XmlNode[] {
  if (node === undefined || typeof node === "string") return [];
  const v = node[name];
  if (v === undefined) return [];
  return Array.isArray(v) ? (v as readonly XmlNode[]) : [v as XmlNode];
}

/** Follows a path of child names. */
export function at(node: XmlNode | undefined, ...path: readonly string[]): XmlNode | undefined {
  let cur = node;
  for (const p of path) cur = child(cur, p);
  return cur;
}

/** The text of an element ('' for an empty one), or undefined when it is absent. */
export function text(node: XmlNode | undefined): string | undefined {
  if (node === undefined) return undefined;
  if (typeof node === "string") return node;
  const t = node["#text"];
  return typeof t === "string" ? t : "";
}
