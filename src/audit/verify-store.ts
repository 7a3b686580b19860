/**
 * Re-checks what the store promises an auditor (design.md invariants 3–5): the hash chain over every invoice's
 * signed bytes, gap-free numbering per (form, symbol) and per MCCQT year, every invoice's signature, and the raw
 * capture journal (every stream's chain, every receipt's bytes still in it: src/audit/journal.ts). Read-only;
 * names the first broken place.
 */
import { createHash } from "node:crypto";
import { parseMccqt } from "../invoice/index.js";
import { verifySignatures } from "../sign/index.js";
import type { Db } from "../store/db.js";
import { GENESIS_CHAIN } from "../store/ingest.js";
import { readSignedXml, type StoredSignedXml, signedXmlColumns } from "../store/signed-xml.js";
import { checkJournal, type JournalCheck } from "./journal.js";

export interface StoreCheck {
  readonly ok: boolean;
  readonly invoices: number;
  /** The first problem found, in words (Vietnamese / English). */
  readonly problem?: string;
  /** The raw capture journal, once the invoices check out (absent in a store older than the journal). */
  readonly journal?: JournalCheck;
}

interface Row extends StoredSignedXml {
  id: number;
  khmshdon: string;
  khhdon: string;
  shdon: number;
  mccqt: string;
  sha256: string;
  chain: string;
}

export function verifyStore(db: Db, opts: { trustedCertPem?: string; signatures?: boolean } = {}): StoreCheck {
  let prev = GENESIS_CHAIN;
  let count = 0;
  const lastShdon = new Map<string, number>();
  const lastSeq = new Map<string, number>();
  const fail = (problem: string): StoreCheck => ({ ok: false, invoices: count, problem });
  const rows = db
    .prepare(
      `SELECT id, khmshdon, khhdon, shdon, mccqt, ${signedXmlColumns(db)}, sha256, chain FROM invoices ORDER BY id`,
    )
    .iterate() as IterableIterator<Row>;
  for (const row of rows) {
    count++;
    const where = `hóa đơn #${row.id} (${row.mccqt}) / invoice #${row.id}`;
    let xml: Buffer;
    try {
      xml = readSignedXml(row);
    } catch {
      return fail(`${where}: nội dung nén không giải nén được / stored (compressed) bytes unreadable`);
    }
    if (createHash("sha256").update(xml).digest("hex") !== row.sha256)
      return fail(`${where}: nội dung đã bị sửa (sha256) / signed bytes changed`);
    const chain = createHash("sha256").update(prev).update(xml).digest("hex");
    if (chain !== row.chain) return fail(`${where}: chuỗi băm bị đứt / hash chain broken`);
    prev = chain;

    const key = `${row.khmshdon}${row.khhdon}`;
    const expectShdon = (lastShdon.get(key) ?? 0) + 1;
    if (row.shdon !== expectShdon)
      return fail(`${where}: ${key} nhảy số từ ${expectShdon - 1} sang ${row.shdon} / SHDon gap or repeat`);
    lastShdon.set(key, row.shdon);

    const m = parseMccqt(row.mccqt);
    if (!m) return fail(`${where}: MCCQT sai dạng / malformed MCCQT`);
    const seqKey = `${m.typeDigit}-${m.yy}-${m.block}`;
    const expectSeq = (lastSeq.get(seqKey) ?? 0) + 1;
    if (m.seq !== expectSeq)
      return fail(`${where}: dãy MCCQT nhảy từ ${expectSeq - 1} sang ${m.seq} / MCCQT sequence gap or repeat`);
    lastSeq.set(seqKey, m.seq);

    if (opts.signatures !== false) {
      const report = verifySignatures(xml, opts.trustedCertPem ? { trustedCertPem: opts.trustedCertPem } : {});
      if (!report.ok || report.signatures.length === 0)
        return fail(`${where}: chữ ký không hợp lệ / bad signature: ${report.problem ?? "không có chữ ký / none"}`);
    }
  }
  const journal = checkJournal(db);
  if (journal === undefined) return { ok: true, invoices: count };
  return journal.ok
    ? { ok: true, invoices: count, journal }
    : { ok: false, invoices: count, problem: journal.problem!, journal };
}
