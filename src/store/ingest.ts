/**
 * The store side of the write path: everything a receipt becomes goes in with these statements, inside one
 * transaction run by src/record.ts. All synchronous (better-sqlite3); nothing async may run inside a transaction.
 */

import type { JournalRange } from "../ingest/journal-sink.js";
import type { QuarantineInput } from "../ingest/register-session.js";
import type { FindIssuedInvoice, InvoiceNumberRef } from "../invoice/index.js";
import type { Db } from "./db.js";
import { linkJournal } from "./journal.js";
import { packSignedXml } from "./signed-xml.js";

export const GENESIS_CHAIN = "0".repeat(64);

export interface StoredInvoiceRef {
  readonly mccqt: string;
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly shdon: number;
  readonly qr: string;
}

export interface NewReceiptRow {
  readonly registerId: string;
  readonly receiptId: string;
  readonly driver: string;
  readonly receivedAt: number;
  readonly issuedAt: string;
  readonly raw: Uint8Array;
  readonly receiptJson: string;
}

export interface NewInvoiceRow {
  readonly receiptRow: number;
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly shdon: number;
  readonly mccqt: string;
  readonly nlap: string;
  readonly total: number;
  readonly qr: string;
  /** The exact signed bytes; stored compressed (src/store/signed-xml.ts), `sha256` and `chain` are over these. */
  readonly signedXml: Buffer;
  readonly sha256: string;
  readonly chain: string;
  readonly createdAt: number;
  readonly deadlineAt: number;
}

export interface QuarantineRow {
  readonly registerId: string;
  readonly driver: string;
  readonly receivedAt: number;
  readonly code: string;
  readonly detail: string;
  readonly raw: Uint8Array;
}

/** Prepared statements for the write path, prepared once per open store. */
export interface IngestStore {
  findInvoiceForReceipt(registerId: string, receiptId: string): StoredInvoiceRef | undefined;
  /** Next value of a named counter (first value 1), persisted in the caller's transaction. */
  nextCounter(name: string): number;
  /** Chain value of the newest invoice, or the genesis value. */
  chainHead(): string;
  insertReceipt(row: NewReceiptRow): number;
  insertInvoice(row: NewInvoiceRow): number;
  insertDelivery(invoiceId: number, at: number): void;
  quarantine(row: QuarantineRow): number;
  /** Keep what a session quarantined: the row, and its journal range when it has one. Returns the row id. */
  keepQuarantined(q: QuarantineInput): number;
  event(at: number, kind: string, registerId: string | null, detail: unknown): void;
  /**
   * An invoice this box issued, by number, with the receipt it was made from and the invoice that replaced it
   * (a replacement's stored receipt carries `replaces`). Corrections use it to find what is being replaced.
   */
  findIssuedInvoice: FindIssuedInvoice;
  /** Record that a receipt or quarantine row came from this byte range of the raw capture journal. */
  linkJournal(kind: "receipt" | "quarantine", rowId: number, range: JournalRange): void;
  /** Run `fn` in one IMMEDIATE transaction: all of it commits or none of it does. */
  transaction<T>(fn: () => T): T;
}

export function ingestStore(db: Db): IngestStore {
  const findInvoice = db.prepare<[string, string], StoredInvoiceRef>(
    `SELECT i.mccqt, i.khmshdon, i.khhdon, i.shdon, i.qr FROM receipts r JOIN invoices i ON i.receipt_row = r.id
      WHERE r.register_id = ? AND r.receipt_id = ?`,
  );
  const bump = db.prepare<[string], { value: number }>(
    `INSERT INTO counters (name, value) VALUES (?, 1)
       ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value`,
  );
  const head = db.prepare<[], { chain: string }>("SELECT chain FROM invoices ORDER BY id DESC LIMIT 1");
  const insReceipt = db.prepare(
    `INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json)
     VALUES (@registerId, @receiptId, @driver, @receivedAt, @issuedAt, @raw, @receiptJson)`,
  );
  const insInvoice = db.prepare(
    `INSERT INTO invoices (receipt_row, khmshdon, khhdon, shdon, mccqt, nlap, total, qr, signed_xml, signed_xml_size,
                           sha256, chain, created_at, deadline_at)
     VALUES (@receiptRow, @khmshdon, @khhdon, @shdon, @mccqt, @nlap, @total, @qr, @signedXml, @signedXmlSize,
             @sha256, @chain, @createdAt, @deadlineAt)`,
  );
  const insDelivery = db.prepare("INSERT INTO deliveries (invoice_id, state, updated_at) VALUES (?, 'pending', ?)");
  const insQuarantine = db.prepare(
    `INSERT INTO quarantine (register_id, driver, received_at, code, detail, raw)
     VALUES (@registerId, @driver, @receivedAt, @code, @detail, @raw)`,
  );
  const insEvent = db.prepare("INSERT INTO events (at, kind, register_id, detail) VALUES (?, ?, ?, ?)");
  const issuedByNumber = db.prepare<[string, string, number], { nlap: string; receiptJson: string }>(
    `SELECT i.nlap, r.receipt_json AS receiptJson FROM invoices i JOIN receipts r ON r.id = i.receipt_row
      WHERE i.khmshdon = ? AND i.khhdon = ? AND i.shdon = ?`,
  );
  const replacerOf = db.prepare<[string, string, string], InvoiceNumberRef>(
    `SELECT i.khmshdon, i.khhdon, i.shdon FROM invoices i JOIN receipts r ON r.id = i.receipt_row
      WHERE json_extract(r.receipt_json, '$.replaces.khmshdon') = ?
        AND json_extract(r.receipt_json, '$.replaces.khhdon') = ?
        AND json_extract(r.receipt_json, '$.replaces.shdon') = ?
      ORDER BY i.id LIMIT 1`,
  );

  const store: IngestStore = {
    findInvoiceForReceipt: (registerId, receiptId) => findInvoice.get(registerId, receiptId),
    nextCounter: (name) => (bump.get(name) as { value: number }).value,
    chainHead: () => head.get()?.chain ?? GENESIS_CHAIN,
    insertReceipt: (row) => Number(insReceipt.run({ ...row, raw: Buffer.from(row.raw) }).lastInsertRowid),
    insertInvoice: (row) => Number(insInvoice.run({ ...row, ...packSignedXml(row.signedXml) }).lastInsertRowid),
    insertDelivery: (invoiceId, at) => {
      insDelivery.run(invoiceId, at);
    },
    quarantine: (row) => Number(insQuarantine.run({ ...row, raw: Buffer.from(row.raw) }).lastInsertRowid),
    keepQuarantined(q): number {
      const row = store.quarantine({
        registerId: q.registerId,
        driver: q.driverId,
        receivedAt: q.receivedAt,
        code: q.code,
        detail: q.detail,
        raw: q.raw,
      });
      if (q.journal) store.linkJournal("quarantine", row, q.journal);
      return row;
    },
    event: (at, kind, registerId, detail) => {
      insEvent.run(at, kind, registerId, JSON.stringify(detail));
    },
    findIssuedInvoice: (ref) => {
      const row = issuedByNumber.get(ref.khmshdon, ref.khhdon, ref.shdon);
      if (!row) return undefined;
      const by = replacerOf.get(ref.khmshdon, ref.khhdon, String(ref.shdon));
      return { ...ref, ...row, ...(by ? { replacedBy: by } : {}) };
    },
    linkJournal: linkJournal(db),
    transaction: (fn) => db.transaction(fn).immediate(),
  };
  return store;
}
