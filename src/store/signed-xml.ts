/**
 * How an invoice's signed XML sits in `invoices` (migration 005), and the one way to get the exact bytes back.
 *
 * `signed_xml_size` is the length of the exact signed bytes. When `length(signed_xml)` equals it (or it is NULL: rows
 * written before migration 005), `signed_xml` IS the exact bytes; otherwise `signed_xml` holds them zlib-compressed
 * (RFC 1950: deflate with an Adler-32 check). That is the convention of SQLite's own archive format, so an auditor's
 * `sqlite3` shell reads either kind of row with `sqlar_uncompress(signed_xml, signed_xml_size)` (README, "Reading the
 * store"). The hash chain and `sha256` stay over the exact bytes, and nothing re-serialises them (design.md
 * invariant 7): compression is lossless and checked on the way back.
 */
import { createHash } from "node:crypto";
import { deflateSync, inflateSync } from "node:zlib";
import type BetterSqlite3 from "better-sqlite3";

/**
 * zlib settings for new rows. Measured on the 15 signed fixture invoices (≈5.8 KiB each): level 1 keeps 48.5% of
 * the bytes, 3 keeps 48.0%, 6 and 9 keep 47.1–47.6%; compressing costs ≈30–65 µs, inflating ≈12–15 µs (sha256 of
 * the same bytes: ≈11 µs). 9 buys nothing over 6. An 8 KiB window (`windowBits` 13, `memLevel` 6) compresses these
 * as well as the default 32 KiB (a 200-line, 64 KiB invoice too) with a quarter of the working memory: ≈64 KiB
 * allocated per call instead of ≈256 KiB, on the write path of every invoice.
 */
export const SIGNED_XML_ZLIB = { level: 6, windowBits: 13, memLevel: 6 } as const;

const compactStores = new WeakMap<BetterSqlite3.Database, boolean>();

/** Whether the store has `signed_xml_size` (an audit may open a file written before migration 005, read-only). */
function isCompact(db: BetterSqlite3.Database): boolean {
  let known = compactStores.get(db);
  if (known === undefined) {
    known =
      db.prepare("SELECT count(*) FROM pragma_table_info('invoices') WHERE name = 'signed_xml_size'").pluck().get() ===
      1;
    compactStores.set(db, known);
  }
  return known;
}

/**
 * The select-list items an invoice's signed XML is read from, as `signed_xml, signed_xml_size` (`alias.`-prefixed
 * when given), for {@link readSignedXml}. Pass `db` when it may be a file from before migration 005 (audit).
 */
export function signedXmlColumns(db?: BetterSqlite3.Database, alias?: string): string {
  const p = alias ? `${alias}.` : "";
  return db === undefined || isCompact(db)
    ? `${p}signed_xml, ${p}signed_xml_size`
    : `${p}signed_xml, NULL AS signed_xml_size`;
}

/** SQL for the length of the exact signed bytes of an `invoices` row, compressed or not. */
export function signedXmlSizeSql(db: BetterSqlite3.Database, alias?: string): string {
  const p = alias ? `${alias}.` : "";
  return isCompact(db) ? `coalesce(${p}signed_xml_size, length(${p}signed_xml))` : `length(${p}signed_xml)`;
}

/** The stored form of an invoice's signed XML: the two column values. */
export interface StoredSignedXml {
  readonly signed_xml: Buffer;
  /** Absent or NULL on a row (or a file) from before migration 005. */
  readonly signed_xml_size?: number | null | undefined;
}

/** What goes into `invoices.signed_xml` / `signed_xml_size` for these exact bytes. */
export function packSignedXml(exact: Buffer): { readonly signedXml: Buffer; readonly signedXmlSize: number } {
  const packed = deflateSync(exact, SIGNED_XML_ZLIB);
  // Equal lengths mean "stored as is", so compressed bytes must be strictly shorter (as in sqlar).
  return { signedXml: packed.length < exact.length ? packed : exact, signedXmlSize: exact.length };
}

/** The stored bytes do not give back what was signed. */
export class SignedXmlUnreadableError extends Error {
  override readonly name = "SignedXmlUnreadableError";
}

/**
 * The exact signed bytes of a stored invoice. With `sha256` (the row's own column) they are checked against it too;
 * a compressed row is always checked by its length and zlib's Adler-32. Throws {@link SignedXmlUnreadableError}.
 */
export function readSignedXml(row: StoredSignedXml, sha256?: string): Buffer {
  const size = row.signed_xml_size ?? null;
  let exact = row.signed_xml;
  if (size !== null && size !== row.signed_xml.length) {
    try {
      exact = inflateSync(row.signed_xml, { maxOutputLength: Math.max(size, 1) });
    } catch (cause) {
      throw new SignedXmlUnreadableError(`compressed signed XML does not inflate: ${String(cause)}`, { cause });
    }
    if (exact.length !== size)
      throw new SignedXmlUnreadableError(`signed XML inflates to ${exact.length} bytes, stored size says ${size}`);
  }
  if (sha256 !== undefined && createHash("sha256").update(exact).digest("hex") !== sha256)
    throw new SignedXmlUnreadableError("signed XML does not match its stored sha256");
  return exact;
}
