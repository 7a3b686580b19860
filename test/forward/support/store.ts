/**
 * A real SQLite file for forwarding tests: the same pragmas as production (WAL, synchronous=FULL) and the project's
 * MIGRATIONS applied by `PRAGMA user_version`, plus helpers that put signed invoices into the outbox the way the
 * write path does (receipt → invoice → pending delivery, one transaction).
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { MIGRATIONS } from "../../../src/store/migrations/index.js";
import { packSignedXml } from "../../../src/store/signed-xml.js";

export type Db = Database.Database;

/** Opens (creating) `file` and brings it to the current schema (or to `upTo` migrations). */
export function openTestDb(file: string, upTo = MIGRATIONS.length): Db {
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.pragma("foreign_keys = ON");
  const version = db.pragma("user_version", { simple: true }) as number;
  for (let v = version; v < upTo; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
  return db;
}

/** `openTestDb` on `<dir>/hoadon.db`. */
export function openDbIn(dir: string): Db {
  return openTestDb(join(dir, "hoadon.db"));
}

/** What a seeded invoice needs. */
export interface SeedInvoice {
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly shdon: number;
  readonly mccqt: string;
  readonly xml: Buffer | string;
  readonly total?: number;
  readonly createdAt?: number;
  /** Default `createdAt` + 24 h. */
  readonly deadlineAt?: number;
  /** Default `2026-11-20`. */
  readonly nlap?: string;
}

let receiptSeq = 0;

/** Inserts receipt, invoice and `pending` delivery for each invoice (one transaction); returns the invoice ids. */
export function seedInvoices(db: Db, invoices: readonly SeedInvoice[], now = Date.now()): number[] {
  const insReceipt = db.prepare(
    `INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json)
     VALUES ('till-1', ?, 'ndjson-v1', ?, ?, ?, '{}')`,
  );
  // A store older than migration 005 has no signed_xml_size: its invoices are stored whole, as hoadon did then.
  const compact =
    (db
      .prepare("SELECT count(*) AS n FROM pragma_table_info('invoices') WHERE name = 'signed_xml_size'")
      .pluck()
      .get() as number) > 0;
  const insInvoice = db.prepare(
    compact
      ? `INSERT INTO invoices (receipt_row, khmshdon, khhdon, shdon, mccqt, nlap, total, qr, signed_xml, signed_xml_size,
                               sha256, chain, created_at, deadline_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?)`
      : `INSERT INTO invoices (receipt_row, khmshdon, khhdon, shdon, mccqt, nlap, total, qr, signed_xml, sha256, chain,
                               created_at, deadline_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?)`,
  );
  const insDelivery = db.prepare(
    "INSERT INTO deliveries (invoice_id, state, batch_id, updated_at) VALUES (?, 'pending', NULL, ?)",
  );
  const lastChain = (): string =>
    (db.prepare("SELECT chain FROM invoices ORDER BY id DESC LIMIT 1").get() as { chain: string } | undefined)?.chain ??
    "0".repeat(64);
  return db.transaction(() =>
    invoices.map((inv) => {
      const at = inv.createdAt ?? now;
      receiptSeq += 1;
      const receipt = insReceipt.run(
        `r-${process.pid}-${receiptSeq}-${inv.mccqt}`,
        at,
        "2026-11-20T09:41:07+07:00",
        Buffer.from("{}"),
      );
      const xml = Buffer.isBuffer(inv.xml) ? inv.xml : Buffer.from(inv.xml, "utf8");
      const sha = createHash("sha256").update(xml).digest("hex");
      const chain = createHash("sha256").update(lastChain()).update(xml).digest("hex");
      // Stored as the write path stores it (store.insertInvoice): compressed, read back with readSignedXml.
      const packed = compact ? packSignedXml(xml) : { signedXml: xml, signedXmlSize: null };
      const info = insInvoice.run(
        receipt.lastInsertRowid,
        inv.khmshdon,
        inv.khhdon,
        inv.shdon,
        inv.mccqt,
        inv.nlap ?? "2026-11-20",
        inv.total ?? 0,
        packed.signedXml,
        ...(compact ? [packed.signedXmlSize] : []),
        sha,
        chain,
        at,
        inv.deadlineAt ?? at + 86_400_000,
      );
      const id = Number(info.lastInsertRowid);
      insDelivery.run(id, at);
      return id;
    }),
  )();
}

/** Delivery states by invoice id. */
export function deliveryStates(db: Db): Map<number, { state: string; batchId: number | null; error: string | null }> {
  const rows = db.prepare("SELECT invoice_id, state, batch_id, error FROM deliveries ORDER BY invoice_id").all() as {
    invoice_id: number;
    state: string;
    batch_id: number | null;
    error: string | null;
  }[];
  return new Map(rows.map((r) => [r.invoice_id, { state: r.state, batchId: r.batch_id, error: r.error }]));
}

/** Every attempt row, oldest first. */
export function attemptRows(db: Db): {
  batch_id: number | null;
  at: number;
  kind: string;
  outcome: string;
  http_status: number | null;
  side: string | null;
  detail: string;
}[] {
  return db
    .prepare("SELECT batch_id, at, kind, outcome, http_status, side, detail FROM attempts ORDER BY id")
    .all() as ReturnType<typeof attemptRows>;
}
