/**
 * Re-derive a register's receipts from the raw capture journal with a driver — a fixed one, or the same one with a
 * corrected receipt template — and set them beside what the store holds (issue 4 item 5: "a fixed driver can
 * re-derive invoices from the journal"). Read-only: it says which sales read the same, which read differently now,
 * which the store never invoiced (and whether their bytes were held for review), and which it no longer finds.
 */
import type { Driver, Side } from "../driver-api/index.js";
import { toHex } from "../driver-api/index.js";
import { parseCapture, replayCapture } from "../ingest/capture.js";
import { Receipt } from "../receipt/model.js";
import type { Db } from "../store/db.js";
import { pruneMarks, streamKey } from "../store/journal.js";
import { type JournalCaptureOptions, journalCapture } from "./journal.js";

/** One receipt of the replay, or one stored receipt the replay did not give. */
export type RederivedReceipt =
  | {
      /** The store has this receipt, from the same bytes, and it reads the same. */
      readonly status: "same";
      readonly receiptId: string;
      readonly total?: number;
      readonly mccqt?: string;
    }
  | {
      /** The store has this receipt id, but the driver now reads it otherwise (or from other bytes). */
      readonly status: "differs";
      readonly receiptId: string;
      readonly total?: number;
      readonly storedTotal?: number;
      readonly mccqt?: string;
      /** What differs, in words. */
      readonly what: string;
    }
  | {
      /** Not in the store as a receipt. `held` names the review rows that kept its bytes, if any. */
      readonly status: "new";
      readonly receiptId?: string;
      readonly total?: number;
      readonly valid: boolean;
      readonly held: readonly { readonly id: number; readonly code: string }[];
      /** The receipt as the driver reads it now (unvalidated), and its bytes (hex). */
      readonly receipt: unknown;
      readonly raw: string;
    }
  | {
      /** In the store, in the span replayed, but the replay did not give it. */
      readonly status: "missing";
      readonly receiptId: string;
      readonly storedTotal?: number;
      readonly mccqt?: string;
    };

/** What {@link rederive} found. */
export interface RederiveReport {
  readonly registerId: string;
  readonly driver: string;
  readonly receipts: readonly RederivedReceipt[];
  readonly counts: Readonly<Record<RederivedReceipt["status"], number>>;
  /** Problems the replay reported (what this driver would hold for review), by code. */
  readonly problems: Readonly<Record<string, number>>;
  /** Stored receipts in the span whose journal bytes `journal.keepDays` shed: they cannot be read again. */
  readonly pruned: number;
}

interface StoredRow {
  id: number;
  receipt_id: string;
  raw: Buffer;
  receipt_json: string;
  received_at: number;
  mccqt: string | null;
  side: Side | null;
  direction: "in" | "out" | null;
  start_offset: number | null;
}

const totalOf = (r: unknown): number | undefined => {
  const t = (r as { total?: unknown } | undefined)?.total;
  return typeof t === "number" ? t : undefined;
};

/** Replay `registerId`'s journal (within `from`–`to`) through `driver` with `options` and compare. */
export function rederive<O>(db: Db, driver: Driver<O>, options: O, span: JournalCaptureOptions): RederiveReport {
  const text = [...journalCapture(db, span)].join("");
  const events = replayCapture(driver, options, parseCapture(text));
  const from = span.from ?? Number.MIN_SAFE_INTEGER;
  const to = span.to ?? Number.MAX_SAFE_INTEGER;
  // A receipt whose bytes the journal no longer has (journal.keepDays) cannot be read again: left out, counted.
  const starts = pruneMarks(db);
  const shed = (r: StoredRow): boolean => {
    if (r.side === null) return false;
    const start = starts.get(streamKey({ registerId: span.registerId, side: r.side, direction: r.direction! }));
    return start !== undefined && r.start_offset! < start.offset;
  };
  const inSpan = db
    .prepare(
      `SELECT r.id, r.receipt_id, r.raw, r.receipt_json, r.received_at, s.side, s.direction, s.start_offset,
              (SELECT i.mccqt FROM invoices i WHERE i.receipt_row = r.id ORDER BY i.id LIMIT 1) AS mccqt
         FROM receipts r LEFT JOIN journal_sources s ON s.kind = 'receipt' AND s.row_id = r.id
        WHERE r.register_id = ? AND r.received_at >= ? AND r.received_at <= ? ORDER BY r.id`,
    )
    .all(span.registerId, from, to) as StoredRow[];
  const stored = inSpan.filter((r) => !shed(r));
  const byId = new Map(stored.map((r) => [r.receipt_id, r]));
  const held = db
    .prepare(
      "SELECT id, code, raw FROM quarantine WHERE register_id = ? AND received_at >= ? AND received_at <= ? ORDER BY id",
    )
    .all(span.registerId, from, to) as { id: number; code: string; raw: Buffer }[];

  const receipts: RederivedReceipt[] = [];
  const problems: Record<string, number> = {};
  const seen = new Set<string>();
  for (const e of events) {
    if (e.type === "problem") problems[e.code] = (problems[e.code] ?? 0) + 1;
    if (e.type !== "receipt") continue;
    const parsed = Receipt.safeParse(e.receipt);
    const receiptId =
      parsed.success && parsed.data.receiptId
        ? parsed.data.receiptId
        : ((e.receipt as { receiptId?: unknown })?.receiptId as string | undefined);
    const total = parsed.success ? parsed.data.total : totalOf(e.receipt);
    // A resend the driver reads twice is the same receipt: only its first reading counts.
    if (receiptId !== undefined && seen.has(receiptId)) continue;
    if (receiptId !== undefined) seen.add(receiptId);
    const mine = receiptId === undefined ? undefined : byId.get(receiptId);
    if (mine === undefined) {
      const raw = Buffer.from(e.raw);
      receipts.push({
        status: "new",
        ...(receiptId === undefined ? {} : { receiptId }),
        ...(total === undefined ? {} : { total }),
        valid: parsed.success,
        held: held
          .filter((q) => q.raw.length > 0 && (q.raw.indexOf(raw) >= 0 || raw.indexOf(q.raw) >= 0))
          .map((q) => ({ id: q.id, code: q.code })),
        receipt: e.receipt,
        raw: toHex(e.raw),
      });
      continue;
    }
    const storedReceipt = JSON.parse(mine.receipt_json) as { kind?: string };
    const storedTotal = totalOf(storedReceipt);
    const sameBytes = Buffer.compare(mine.raw, Buffer.from(e.raw)) === 0;
    // A refund is stored as the replacement it became, so only its bytes can be compared.
    const sameReading =
      storedReceipt.kind === "replacement" || (parsed.success && JSON.stringify(parsed.data) === mine.receipt_json);
    const ref = {
      receiptId: mine.receipt_id,
      ...(total === undefined ? {} : { total }),
      ...(mine.mccqt ? { mccqt: mine.mccqt } : {}),
    };
    if (sameBytes && sameReading) receipts.push({ status: "same", ...ref });
    else
      receipts.push({
        status: "differs",
        ...ref,
        ...(storedTotal === undefined ? {} : { storedTotal }),
        what: [
          ...(sameBytes ? [] : ["byte gốc khác / other bytes"]),
          ...(sameReading
            ? []
            : parsed.success
              ? [
                  total !== storedTotal
                    ? `tổng ${storedTotal} → ${total} / total`
                    : "nội dung đọc khác / reads otherwise",
                ]
              : ["nay không hợp lệ / now invalid"]),
        ].join("; "),
      });
  }
  for (const r of stored)
    if (!seen.has(r.receipt_id)) {
      const storedTotal = totalOf(JSON.parse(r.receipt_json));
      receipts.push({
        status: "missing",
        receiptId: r.receipt_id,
        ...(storedTotal === undefined ? {} : { storedTotal }),
        ...(r.mccqt ? { mccqt: r.mccqt } : {}),
      });
    }
  const counts = { same: 0, differs: 0, new: 0, missing: 0 };
  for (const r of receipts) counts[r.status]++;
  return {
    registerId: span.registerId,
    driver: driver.id,
    receipts,
    counts,
    problems,
    pruned: inSpan.length - stored.length,
  };
}
