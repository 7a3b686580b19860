/**
 * The auditor's ledger over the store (design.md CLI contract: `hoadon audit list/show/export/report`): which
 * invoices exist, what each one is, the exact signed files, and the figures per day. Read-only: every function takes
 * a connection opened with `openStoreReadOnly` and only runs SELECTs.
 */
import { createHash } from "node:crypto";
import type { JournalRange } from "../ingest/journal-sink.js";
import { readXmlTree, type XNode } from "../invoice/xml-read.js";
import { VN_OFFSET_MS } from "../shared/clock.js";
import type { Db } from "../store/db.js";
import {
  readSignedXml,
  SignedXmlUnreadableError,
  type StoredSignedXml,
  signedXmlColumns,
} from "../store/signed-xml.js";
import { journalSourceOf } from "./journal.js";

/** Where an invoice is on its way to the authority (the `deliveries.state` values). */
export const DELIVERY_STATES = ["pending", "batched", "accepted", "rejected"] as const;
export type DeliveryState = (typeof DELIVERY_STATES)[number];

/** Which invoices: issue days (`NLap`, Vietnam local, inclusive), delivery state, register. */
export interface LedgerFilter {
  readonly fromDay?: string;
  readonly toDay?: string;
  readonly state?: DeliveryState;
  readonly registerId?: string;
}

/** One invoice as the ledger lists it. */
export interface LedgerRow {
  readonly id: number;
  readonly nlap: string;
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly shdon: number;
  readonly mccqt: string;
  /** `TgTTTBSo`, đồng. */
  readonly total: number;
  readonly state: DeliveryState;
  readonly registerId: string;
  readonly receiptId: string;
  /** Epoch ms the invoice was made. */
  readonly createdAt: number;
  /** The authority's reason when rejected. */
  readonly error: string | null;
  /** sha256 of the signed bytes as stored with the invoice. */
  readonly sha256: string;
}

const ROW_SELECT = `
  SELECT i.id, i.nlap, i.khmshdon, i.khhdon, i.shdon, i.mccqt, i.total, d.state, r.register_id AS registerId,
         r.receipt_id AS receiptId, i.created_at AS createdAt, d.error, i.sha256
    FROM invoices i JOIN receipts r ON r.id = i.receipt_row JOIN deliveries d ON d.invoice_id = i.id`;

/** The filter as one static condition: an unset field matches everything (bound as NULL). */
const WHERE = `
   WHERE (@fromDay IS NULL OR i.nlap >= @fromDay) AND (@toDay IS NULL OR i.nlap <= @toDay)
     AND (@state IS NULL OR d.state = @state) AND (@registerId IS NULL OR r.register_id = @registerId)`;

const whereParams = (f: LedgerFilter) => ({
  fromDay: f.fromDay ?? null,
  toDay: f.toDay ?? null,
  state: f.state ?? null,
  registerId: f.registerId ?? null,
});

/** Invoices in issue order (oldest first), at most `limit`. */
export function listInvoices(db: Db, filter: LedgerFilter, limit = Number.MAX_SAFE_INTEGER): LedgerRow[] {
  return db
    .prepare(`${ROW_SELECT}${WHERE} ORDER BY i.id LIMIT @limit`)
    .all({ ...whereParams(filter), limit }) as LedgerRow[];
}

/**
 * One invoice by what an auditor has in hand: its `MCCQT` (`M1-26-A1B2C-00000000123`), its symbol and number
 * (`C26MAB-123`, optionally with the form first: `1C26MAB-123`), or the store's row id (`#42`).
 */
export function findInvoice(db: Db, key: string): LedgerRow | undefined {
  const k = key.trim();
  if (/^M\d-\d{2}-[A-Z0-9]{5}-\d{11}$/.test(k))
    return db.prepare(`${ROW_SELECT} WHERE i.mccqt = ?`).get(k) as LedgerRow | undefined;
  const byNumber = /^(\d)?([CK]\d{2}[A-Z][A-Z0-9]{2})[-/ ](\d{1,8})$/.exec(k);
  if (byNumber) {
    const [, form, khhdon, shdon] = byNumber;
    const rows = db
      .prepare(`${ROW_SELECT} WHERE i.khhdon = ? AND i.shdon = ? ORDER BY i.khmshdon`)
      .all(khhdon, Number(shdon)) as LedgerRow[];
    return form ? rows.find((r) => r.khmshdon === form) : rows[0];
  }
  const byId = /^#(\d+)$/.exec(k);
  if (byId) return db.prepare(`${ROW_SELECT} WHERE i.id = ?`).get(Number(byId[1])) as LedgerRow | undefined;
  return undefined;
}

/** Everything kept about one invoice, for `hoadon audit show`. */
export interface InvoiceDetail {
  readonly invoice: LedgerRow;
  /** The receipt it was made from (the vendor-neutral receipt as validated). */
  readonly receipt: unknown;
  readonly receivedAt: number;
  readonly rawBytes: number;
  /** Where those bytes lie in the raw capture journal (absent for a receipt from before the journal). */
  readonly source?: JournalRange;
  /** The batch that carried it, once batched. */
  readonly batch?: { readonly mtdiep: string; readonly state: string; readonly attempts: number };
  /** The authority's replies to that batch, oldest first. */
  readonly replies: readonly { readonly mltdiep: string; readonly receivedAt: number }[];
  /** The signed XML exactly as stored and sent. */
  readonly xml: Buffer;
  /** Whether the stored bytes still hash to the sha256 recorded with them. */
  readonly intact: boolean;
}

export function invoiceDetail(db: Db, row: LedgerRow): InvoiceDetail {
  const r = db
    .prepare(
      `SELECT r.id AS receiptRow, r.receipt_json AS receiptJson, r.received_at AS receivedAt, length(r.raw) AS rawBytes,
              d.batch_id AS batchId
         FROM invoices i JOIN receipts r ON r.id = i.receipt_row JOIN deliveries d ON d.invoice_id = i.id
        WHERE i.id = ?`,
    )
    .get(row.id) as {
    receiptRow: number;
    receiptJson: string;
    receivedAt: number;
    rawBytes: number;
    batchId: number | null;
  };
  const source = journalSourceOf(db, "receipt", r.receiptRow);
  const batch =
    r.batchId === null
      ? undefined
      : (db.prepare("SELECT mtdiep, state, attempts FROM batches WHERE id = ?").get(r.batchId) as
          | { mtdiep: string; state: string; attempts: number }
          | undefined);
  const replies =
    r.batchId === null
      ? []
      : (db
          .prepare("SELECT mltdiep, received_at AS receivedAt FROM replies WHERE batch_id = ? ORDER BY id")
          .all(r.batchId) as { mltdiep: string; receivedAt: number }[]);
  const xml = signedXmlReader(db)(row.id);
  return {
    invoice: row,
    receipt: JSON.parse(r.receiptJson) as unknown,
    receivedAt: r.receivedAt,
    rawBytes: r.rawBytes,
    ...(source ? { source } : {}),
    ...(batch ? { batch } : {}),
    replies,
    xml,
    intact: sha256Hex(xml) === row.sha256,
  };
}

/** The raw bytes kept with the receipt invoice `id` was made from. */
export function receiptRawOf(db: Db, id: number): Buffer {
  const row = db
    .prepare<[number], { raw: Buffer }>(
      "SELECT r.raw FROM invoices i JOIN receipts r ON r.id = i.receipt_row WHERE i.id = ?",
    )
    .get(id);
  return row?.raw ?? Buffer.alloc(0);
}

/**
 * The exact signed bytes of invoice `id`, as signed and sent (src/store/signed-xml.ts). A row whose stored bytes no
 * longer inflate comes back as it is stored: its sha256 then fails, and the ledger names it as altered.
 */
function signedXmlReader(db: Db): (id: number) => Buffer {
  const st = db.prepare<[number], StoredSignedXml>(`SELECT ${signedXmlColumns(db)} FROM invoices WHERE id = ?`);
  return (id) => {
    const row = st.get(id);
    if (!row) throw new Error(`no invoice #${id}`);
    try {
      return readSignedXml(row);
    } catch (e) {
      if (e instanceof SignedXmlUnreadableError) return row.signed_xml;
      throw e;
    }
  };
}

const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** Totals of one `TSuat` on one day (VAT invoices). */
export interface RateTotals {
  readonly TSuat: string;
  ThTien: number;
  TThue: number;
}

/** One issue day (`NLap`) of the report. */
export interface DayReport {
  readonly day: string;
  invoices: number;
  /** Per form (`KHMSHDon`): how many. */
  readonly byForm: Record<string, number>;
  /** Per delivery state: how many. */
  readonly byState: Record<DeliveryState, number>;
  /** Replacement invoices issued that day (they carry `TTHDLQuan`). */
  replacements: number;
  /** Σ `TgTTTBSo` of every invoice issued that day, replaced ones included (đồng). */
  totalPayable: number;
  /** VAT invoices: Σ `TgTCThue`, Σ `TgTThue`, and per rate. */
  totalBeforeVat: number;
  totalVat: number;
  readonly byRate: RateTotals[];
  /**
   * Receipts held in quarantine that day (by when they arrived, Vietnam local), not invoiced; notices and print-outs
   * invoiced later (`hoadon release-held`) not counted.
   */
  quarantined: number;
  /**
   * Print-outs that arrived that day, were held, and were invoiced later by `hoadon release-held` (their invoices are
   * counted on the day they were issued).
   */
  releasedLater: number;
  /**
   * What the registers themselves reported that day (by arrival): their day closes (Z reports, with their own count
   * and takings) and the receipts they cancelled before payment — to set against the invoices above.
   */
  readonly registerNotices: RegisterNotice[];
  /** Invoices whose stored XML could not be read back (altered): counted, but their figures are missing. */
  unreadable: number;
}

/** A register's own report kept with the quarantine rows (no invoice is made from it). */
export interface RegisterNotice {
  readonly registerId: string;
  readonly code: string;
  /** When it arrived, ms since the epoch. */
  readonly receivedAt: number;
  readonly detail: string;
}

/**
 * Quarantine codes that are a register's report, not a receipt held back: a day close (Z report) and a receipt the
 * register cancelled before payment. The daily report lists them apart and does not count them as held receipts.
 */
export const NOTICE_CODES: readonly string[] = ["DAY_CLOSE", "RECEIPT_CANCELLED"];
/** {@link NOTICE_CODES} as an SQL list, for `code IN (…)` / `code NOT IN (…)`. */
export const NOTICE_SQL = NOTICE_CODES.map((c) => `'${c}'`).join(", ");

/** The quarantine ids invoiced later by `hoadon release-held` (one `quarantine-released` event each). */
export const RELEASED_SQL =
  "SELECT json_extract(detail, '$.quarantineId') FROM events WHERE kind = 'quarantine-released'";

/** The MCCQT `hoadon release-held` issued from quarantine row `<alias>.id`, as an SQL expression (NULL if none). */
export const releasedAsSql = (alias: string): string =>
  `(SELECT json_extract(e.detail, '$.mccqt') FROM events e WHERE e.kind = 'quarantine-released'
      AND json_extract(e.detail, '$.quarantineId') = ${alias}.id)`;

/** A quarantine row that still holds a sale back: not a register's own report, not invoiced since. */
export const HELD_SQL = `code NOT IN (${NOTICE_SQL}) AND id NOT IN (${RELEASED_SQL})`;

const childText = (node: XNode | undefined, name: string): string | undefined =>
  node?.children.find((c) => c.name === name)?.text;

const child = (node: XNode | undefined, name: string): XNode | undefined => node?.children.find((c) => c.name === name);

/**
 * The per-day figures an auditor reconciles against the shop's books, read from the signed invoices themselves
 * (not from what the register sent), plus quarantine counts so what was NOT invoiced is visible too, and the
 * registers' own day closes to set those figures against.
 */
export function dailyReport(db: Db, filter: LedgerFilter): DayReport[] {
  const days = new Map<string, DayReport>();
  const dayOf = (day: string): DayReport => {
    let d = days.get(day);
    if (!d) {
      d = {
        day,
        invoices: 0,
        byForm: {},
        byState: { pending: 0, batched: 0, accepted: 0, rejected: 0 },
        replacements: 0,
        totalPayable: 0,
        totalBeforeVat: 0,
        totalVat: 0,
        byRate: [],
        quarantined: 0,
        releasedLater: 0,
        registerNotices: [],
        unreadable: 0,
      };
      days.set(day, d);
    }
    return d;
  };
  const read = signedXmlReader(db);
  for (const row of listInvoices(db, filter)) {
    const d = dayOf(row.nlap);
    d.invoices++;
    d.byForm[row.khmshdon] = (d.byForm[row.khmshdon] ?? 0) + 1;
    d.byState[row.state]++;
    d.totalPayable += row.total;
    let root: XNode;
    try {
      root = readXmlTree(read(row.id).toString("utf8"));
    } catch {
      d.unreadable++;
      continue;
    }
    const dl = child(root, "DLHDon");
    if (child(child(dl, "TTChung"), "TTHDLQuan")) d.replacements++;
    const ttoan = child(child(dl, "NDHDon"), "TToan");
    d.totalBeforeVat += Number(childText(ttoan, "TgTCThue") ?? 0);
    d.totalVat += Number(childText(ttoan, "TgTThue") ?? 0);
    for (const lt of child(ttoan, "THTTLTSuat")?.children ?? []) {
      const code = childText(lt, "TSuat") ?? "";
      let rate = d.byRate.find((x) => x.TSuat === code);
      if (!rate) {
        rate = { TSuat: code, ThTien: 0, TThue: 0 };
        d.byRate.push(rate);
      }
      rate.ThTien += Number(childText(lt, "ThTien") ?? 0);
      rate.TThue += Number(childText(lt, "TThue") ?? 0);
    }
  }
  // Quarantine by arrival day: the register id filter applies, the state filter does not (nothing was invoiced).
  if (!filter.state) {
    const inRange = (day: string): boolean =>
      !(filter.fromDay && day < filter.fromDay) && !(filter.toDay && day > filter.toDay);
    const byDay = `date((received_at + ${VN_OFFSET_MS}) / 1000, 'unixepoch')`;
    const registerId = filter.registerId ?? null;
    const q = db
      .prepare(
        `SELECT ${byDay} AS day, count(*) AS n FROM quarantine
          WHERE (@registerId IS NULL OR register_id = @registerId) AND ${HELD_SQL} GROUP BY day`,
      )
      .all({ registerId }) as { day: string; n: number }[];
    for (const { day, n } of q) if (inRange(day)) dayOf(day).quarantined += n;
    const released = db
      .prepare(
        `SELECT ${byDay} AS day, count(*) AS n FROM quarantine
          WHERE (@registerId IS NULL OR register_id = @registerId) AND id IN (${RELEASED_SQL}) GROUP BY day`,
      )
      .all({ registerId }) as { day: string; n: number }[];
    for (const { day, n } of released) if (inRange(day)) dayOf(day).releasedLater += n;
    const notices = db
      .prepare(
        `SELECT ${byDay} AS day, register_id AS registerId, code, received_at AS receivedAt, detail FROM quarantine
          WHERE (@registerId IS NULL OR register_id = @registerId) AND code IN (${NOTICE_SQL}) ORDER BY id`,
      )
      .all({ registerId }) as (RegisterNotice & { day: string })[];
    for (const { day, ...notice } of notices) if (inRange(day)) dayOf(day).registerNotices.push(notice);
  }
  return [...days.values()].sort((a, b) => a.day.localeCompare(b.day));
}

/** What `exportInvoices` wrote. */
export interface ExportResult {
  readonly dir: string;
  readonly files: number;
  readonly bytes: number;
  /** Invoices whose stored bytes no longer match their recorded sha256 (exported as stored, and named here). */
  readonly altered: readonly string[];
}

/** File name of an invoice in an export: form + symbol + 8-digit number, as the authority's portal names them. */
export const exportFileName = (r: Pick<LedgerRow, "khmshdon" | "khhdon" | "shdon">): string =>
  `${r.khmshdon}${r.khhdon}-${String(r.shdon).padStart(8, "0")}.xml`;

/** One CSV field (RFC 4180). */
const csv = (v: string | number | null): string => {
  const s = v === null ? "" : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
};

/**
 * The export an auditor takes away: every selected signed invoice byte for byte under `<day>/`, a `manifest.csv`
 * (one line per invoice: file, codes, total, state, sha256) and a `SHA256SUMS` that `sha256sum -c` checks. Writes
 * through `write(relativePath, bytes)` so the caller owns the file system (and refuses to overwrite).
 */
export function exportInvoices(
  db: Db,
  filter: LedgerFilter,
  write: (relativePath: string, bytes: Uint8Array) => void,
): Omit<ExportResult, "dir"> {
  const read = signedXmlReader(db);
  const manifest = ["file,khmshdon,khhdon,shdon,mccqt,nlap,total,state,register,receipt,sha256"];
  const sums: string[] = [];
  const altered: string[] = [];
  let files = 0;
  let bytes = 0;
  for (const row of listInvoices(db, filter)) {
    const xml = read(row.id);
    const file = `${row.nlap}/${exportFileName(row)}`;
    const digest = sha256Hex(xml);
    if (digest !== row.sha256) altered.push(`${file} (${row.mccqt})`);
    write(file, xml);
    files++;
    bytes += xml.length;
    // The recorded sha256, not the recomputed one: `sha256sum -c` then catches an altered file as well.
    sums.push(`${row.sha256}  ${file}`);
    manifest.push(
      [
        file,
        row.khmshdon,
        row.khhdon,
        row.shdon,
        row.mccqt,
        row.nlap,
        row.total,
        row.state,
        row.registerId,
        row.receiptId,
        row.sha256,
      ]
        .map(csv)
        .join(","),
    );
  }
  write("manifest.csv", Buffer.from(`${manifest.join("\n")}\n`, "utf8"));
  write("SHA256SUMS", Buffer.from(sums.length ? `${sums.join("\n")}\n` : "", "utf8"));
  return { files, bytes, altered };
}
