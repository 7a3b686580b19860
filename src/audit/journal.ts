/**
 * The raw capture journal for the auditor (issue 4 item 5): is every stream's hash chain whole, are the bytes each
 * receipt and held print job says it came from still there and still those bytes, and the journal of one register
 * written back out as a capture file (style.md Part 4), so `hoadon decode` — or a fixed driver — can read it again.
 * Read-only over the store.
 */
import type { Side } from "../driver-api/index.js";
import { formatCaptureChunk } from "../ingest/capture.js";
import type { JournalRange } from "../ingest/journal-sink.js";
import { vnDateTime } from "../shared/clock.js";
import type { Db } from "../store/db.js";
import {
  journalRangeOf,
  pruneMarks,
  readJournalRange,
  startsOf,
  startsSelect,
  streamKey,
  verifyJournal,
} from "../store/journal.js";

/** What {@link checkJournal} found. */
export interface JournalCheck {
  readonly ok: boolean;
  readonly streams: number;
  readonly chunks: number;
  readonly bytes: number;
  /** Receipts (and held print jobs) tied to a byte range of the journal, all of them checked. */
  readonly tied: number;
  /** Receipts stored in all, tied or not (a receipt from before the journal, or one whose bytes were not found). */
  readonly receipts: number;
  /** Ties whose journal bytes were shed by `journal.keepDays` (the rows keep their own bytes): not checkable. */
  readonly pruned: number;
  /** The first problem found, in words (Vietnamese / English). */
  readonly problem?: string;
}

/** A good {@link JournalCheck} in words, per language, for the CLI and the web page. */
export function journalSummary(j: JournalCheck): { readonly vi: string; readonly en: string } {
  return {
    vi:
      `${j.streams} luồng, ${j.chunks} khúc, ${j.bytes} byte, chuỗi băm đúng; ${j.tied} phiếu và bản giữ lại khớp byte gốc ` +
      `(${j.receipts} phiếu trong kho${j.pruned > 0 ? `; ${j.pruned} có byte nhật ký đã xóa theo journal.keepDays` : ""})`,
    en:
      `${j.streams} streams, ${j.chunks} chunks, ${j.bytes} bytes, chains whole; ${j.tied} receipts and held jobs tied ` +
      `to their bytes (${j.receipts} receipts stored${j.pruned > 0 ? `; ${j.pruned} whose journal bytes journal.keepDays shed` : ""})`,
  };
}

/** The journal range a receipt or held row came from; undefined when it has none or the store predates the journal. */
export function journalSourceOf(db: Db, kind: "receipt" | "quarantine", rowId: number): JournalRange | undefined {
  return hasJournal(db) ? journalRangeOf(db, kind, rowId) : undefined;
}

/** Whether the store has the journal tables (schema 4 on); an older store opened read-only has none. */
export function hasJournal(db: Db): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal'").get() !== undefined;
}

/**
 * `raw` came from `range`: the same bytes, or — for a receipt made of frames with other traffic between them (a
 * Datecs POS asking for status mid-receipt, a frame sent twice) — its bytes in order inside the range, which begins
 * with its first byte and ends with its last.
 */
export function rawFromRange(range: Uint8Array, raw: Uint8Array): boolean {
  if (range.length === raw.length) return Buffer.compare(range, raw) === 0;
  if (raw.length === 0 || range.length < raw.length) return false;
  if (range[0] !== raw[0] || range[range.length - 1] !== raw[raw.length - 1]) return false;
  let j = 0;
  for (let i = 0; i < range.length && j < raw.length; i++) if (range[i] === raw[j]) j++;
  return j === raw.length;
}

interface SourceRow {
  kind: "receipt" | "quarantine";
  row_id: number;
  register_id: string;
  side: Side;
  direction: "in" | "out";
  start_offset: number;
  end_offset: number;
  raw: Buffer | null;
}

/**
 * Re-compute every stream's chain (gaps, changed or reordered chunks) and read back the range of every receipt and
 * held print job tied to the journal: it must still be there and hold that row's kept bytes. `undefined` when the
 * store predates the journal.
 */
export function checkJournal(db: Db): JournalCheck | undefined {
  if (!hasJournal(db)) return undefined;
  const receipts = (db.prepare("SELECT count(*) AS n FROM receipts").get() as { n: number }).n;
  const chains = verifyJournal(db);
  if (!chains.ok) {
    const s = chains.stream;
    return {
      ok: false,
      streams: 0,
      chunks: 0,
      bytes: 0,
      tied: 0,
      receipts,
      pruned: 0,
      problem: `nhật ký ${s.registerId} ${s.side}/${s.direction}, khúc #${chains.id} / journal chunk #${chains.id}: ${chains.reason}`,
    };
  }
  const sources = db
    .prepare(
      `SELECT s.kind, s.row_id, s.register_id, s.side, s.direction, s.start_offset, s.end_offset,
              coalesce(r.raw, q.raw) AS raw
         FROM journal_sources s
         LEFT JOIN receipts r ON s.kind = 'receipt' AND r.id = s.row_id
         LEFT JOIN quarantine q ON s.kind = 'quarantine' AND q.id = s.row_id
        ORDER BY s.id`,
    )
    .iterate() as IterableIterator<SourceRow>;
  let tied = 0;
  let pruned = 0;
  const starts = pruneMarks(db);
  const result = (problem?: string): JournalCheck => ({
    ok: problem === undefined,
    streams: chains.streams,
    chunks: chains.chunks,
    bytes: chains.bytes,
    tied,
    receipts,
    pruned,
    ...(problem === undefined ? {} : { problem }),
  });
  for (const s of sources) {
    const what =
      s.kind === "receipt"
        ? `phiếu #${s.row_id} / receipt #${s.row_id}`
        : `bản giữ lại #${s.row_id} / held #${s.row_id}`;
    const where = `${s.register_id} ${s.side}/${s.direction} ${s.start_offset}–${s.end_offset}`;
    if (s.raw === null) return result(`${what}: không còn trong kho / row missing (${where})`);
    const start = starts.get(streamKey({ registerId: s.register_id, side: s.side, direction: s.direction }));
    if (start !== undefined && s.start_offset < start.offset) {
      pruned++;
      continue;
    }
    const bytes = readJournalRange(db, {
      registerId: s.register_id,
      side: s.side,
      direction: s.direction,
      start: s.start_offset,
      end: s.end_offset,
    });
    if (bytes === undefined) return result(`${what}: nhật ký thiếu byte ${where} / journal lacks those bytes`);
    if (!rawFromRange(bytes, s.raw))
      return result(`${what}: byte gốc khác byte trong nhật ký ${where} / kept bytes differ from the journal`);
    tied++;
  }
  return result();
}

/** One stream of the journal, for the list. */
export interface JournalStreamSummary {
  readonly registerId: string;
  readonly side: Side;
  readonly direction: "in" | "out";
  readonly chunks: number;
  readonly bytes: number;
  readonly firstAt: number;
  readonly lastAt: number;
  /** Where the stream starts now, when `journal.keepDays` shed its older bytes. */
  readonly since?: number;
}

/** Every stream with its size and time span. */
export function journalStreams(db: Db): JournalStreamSummary[] {
  if (!hasJournal(db)) return [];
  const marks = pruneMarks(db);
  const rows = db
    .prepare(
      `SELECT register_id AS registerId, side, direction, count(*) AS chunks, sum(length(bytes)) AS bytes,
              min(at) AS firstAt, max(at) AS lastAt
         FROM journal GROUP BY register_id, side, direction ORDER BY register_id, side, direction DESC`,
    )
    .all() as JournalStreamSummary[];
  return rows.map((r) => {
    const mark = marks.get(streamKey(r));
    return mark ? { ...r, since: mark.offset } : r;
  });
}

/** Which part of a register's journal to write out. */
export interface JournalCaptureOptions {
  readonly registerId: string;
  /** Epoch ms, inclusive. */
  readonly from?: number;
  /** Epoch ms, inclusive. */
  readonly to?: number;
}

interface ChunkRow {
  side: Side;
  direction: "in" | "out";
  at: number;
  stream_offset: number;
  bytes: Buffer;
  starts: number;
}

/**
 * The capture notes before a chunk that begins a connection (migration 007), in the live tap's words, so a replay
 * resets its decoder where the session did: a reconnect is the port going down and up; hoadon starting again is
 * `# started:` (for a bridged printer's side, only its link coming up: the register side's start reset the decoder).
 */
function connectionNotes(c: ChunkRow, tap: boolean): string {
  const starts = c.direction === "in" ? startsOf(c.starts) : undefined;
  if (starts === undefined) return "";
  const side = tap ? `${c.side} ` : "";
  if (starts === "session" && c.side === "register") return "# started: hoadon (journal)\n";
  if (starts === "session") return `# ${side}connected: (journal)\n`;
  return `# ${side}disconnected: (journal)\n# ${side}connected: (journal)\n`;
}

interface TieRow {
  kind: "receipt" | "quarantine";
  row_id: number;
  side: Side;
  direction: "in" | "out";
  start_offset: number;
  end_offset: number;
  label: string | null;
}

/**
 * The journal of one register as capture text, one piece at a time (it can be large): its chunks in the order they
 * were read or written, with the real gaps between them (so a replay sees the same idle times), `<d`/`>d` for a
 * bridged printer's side (then `# decoder: tap`), and after the chunk that ends a receipt or held print job a
 * comment naming it, and before a chunk that began a connection the tap's notes for it. Replaying it (`hoadon
 * decode`) gives the receipts again, a receipt cut by a disconnect read as the session read it (journals written
 * before migration 007 have no connection starts: there a cut line may be glued to the next connection's bytes).
 */
export function* journalCapture(db: Db, opts: JournalCaptureOptions): Generator<string> {
  const { registerId } = opts;
  const from = opts.from ?? Number.MIN_SAFE_INTEGER;
  const to = opts.to ?? Number.MAX_SAFE_INTEGER;
  const driver = db
    .prepare(
      `SELECT driver FROM (SELECT driver, received_at FROM receipts WHERE register_id = @registerId
                           UNION ALL SELECT driver, received_at FROM quarantine WHERE register_id = @registerId)
        ORDER BY received_at DESC LIMIT 1`,
    )
    .get({ registerId }) as { driver: string } | undefined;
  const tap =
    db.prepare("SELECT 1 FROM journal WHERE register_id = ? AND side = 'device' LIMIT 1").get(registerId) !== undefined;
  yield `# register: ${registerId}\n`;
  if (driver) yield `# driver: ${driver.driver}\n`;
  if (tap) yield "# decoder: tap\n";
  yield "# source: hoadon journal (hoadon audit journal)\n";
  for (const [k, mark] of pruneMarks(db))
    if (k.startsWith(`${registerId}\u0000`))
      yield `# pruned: ${k.split("\u0000").slice(1).join("/")} starts at byte ${mark.offset} (journal.keepDays)\n`;
  if (opts.from !== undefined || opts.to !== undefined)
    yield `# span: ${opts.from === undefined ? "…" : `${vnDateTime(from)}+07:00`} – ${opts.to === undefined ? "…" : `${vnDateTime(to)}+07:00`}\n`;

  // Ties of this register, per stream in end order, to name each receipt after the chunk that completes it.
  const ties = new Map<string, TieRow[]>();
  const tieRows = db
    .prepare(
      `SELECT s.kind, s.row_id, s.side, s.direction, s.start_offset, s.end_offset,
              CASE s.kind WHEN 'receipt' THEN (SELECT 'phiếu / receipt ' || r.receipt_id ||
                                                      coalesce(' → ' || i.mccqt, '')
                                                 FROM receipts r LEFT JOIN invoices i ON i.receipt_row = r.id
                                                WHERE r.id = s.row_id ORDER BY i.id LIMIT 1)
                          ELSE (SELECT 'giữ lại / held ' || q.code FROM quarantine q WHERE q.id = s.row_id) END AS label
         FROM journal_sources s WHERE s.register_id = ? ORDER BY s.end_offset, s.id`,
    )
    .iterate(registerId) as IterableIterator<TieRow>;
  for (const t of tieRows) {
    const k = streamKey({ registerId, side: t.side, direction: t.direction });
    const list = ties.get(k) ?? [];
    list.push(t);
    ties.set(k, list);
  }
  const nextTie = new Map<string, number>();

  const chunks = db
    .prepare(
      `SELECT side, direction, at, stream_offset, bytes, ${startsSelect(db)} FROM journal
        WHERE register_id = ? AND at >= ? AND at <= ? ORDER BY at, id`,
    )
    .iterate(registerId, from, to) as IterableIterator<ChunkRow>;
  let last: number | undefined;
  for (const c of chunks) {
    const k = streamKey({ registerId, side: c.side, direction: c.direction });
    const end = c.stream_offset + c.bytes.length;
    const list = ties.get(k);
    let i = nextTie.get(k) ?? 0;
    // Ties that ended before this chunk (before `from`) are not in this capture.
    while (list && i < list.length && list[i]!.end_offset <= c.stream_offset) i++;
    yield connectionNotes(c, tap);
    yield formatCaptureChunk(last === undefined ? 0 : c.at - last, c.direction, c.bytes, 32, c.side);
    last = c.at;
    while (list && i < list.length && list[i]!.end_offset <= end) {
      const t = list[i]!;
      yield `# ↑ #${t.row_id} ${t.label ?? t.kind} (byte ${t.start_offset}–${t.end_offset})\n`;
      i++;
    }
    nextTie.set(k, i);
  }
}
