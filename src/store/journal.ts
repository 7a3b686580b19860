/**
 * The raw capture journal over SQLite (migration 004): every byte of every port, hash-chained per stream, written in
 * batches (in the transaction that commits the receipts they carry, or one transaction per timed flush), plus the receipt → byte-range
 * links and the register identity pins with their alerts. Read helpers re-assemble a range's bytes and verify the
 * chains for `hoadon audit`.
 */
import { createHash } from "node:crypto";
import type {
  ChunkStarts,
  DeviceIdentity,
  IdentityObservation,
  JournalRange,
  JournalSink,
  JournalStream,
} from "../ingest/journal-sink.js";
import type { Db } from "./db.js";

/** The chain value before a stream's first chunk. */
export const JOURNAL_GENESIS = "0".repeat(64);

/** One stream's key in a map of streams. */
export const streamKey = (s: JournalStream): string => `${s.registerId}\u0000${s.side}\u0000${s.direction}`;

/** Where a stream ends: the offset its next chunk gets and the chain value so far. */
export interface JournalHead {
  offset: number;
  chain: string;
}

/** One chunk, offset and chain value assigned: what the writer stores as one `journal` row. */
export interface JournalChunk {
  readonly stream: JournalStream;
  readonly at: number;
  readonly offset: number;
  readonly bytes: Uint8Array;
  readonly chain: string;
  /** The chunk begins a connection (`journal.starts`, migration 007). */
  readonly starts?: ChunkStarts;
}

/** `journal.starts` for a chunk's {@link ChunkStarts}. */
export const startsColumn = (starts: ChunkStarts | undefined): 0 | 1 | 2 =>
  starts === "connection" ? 1 : starts === "session" ? 2 : 0;

/** The {@link ChunkStarts} of a `journal.starts` value. */
export const startsOf = (column: number | undefined): ChunkStarts | undefined =>
  column === 1 ? "connection" : column === 2 ? "session" : undefined;

/**
 * The chain value after `bytes`, from the one before them (the same formula {@link verifyJournal} checks). A chunk
 * that begins a connection chains its `starts` too (so it cannot be changed unseen); any other chunk chains as
 * before migration 007.
 */
export const nextChain = (chain: string, bytes: Uint8Array, starts?: ChunkStarts): string => {
  const hash = createHash("sha256").update(chain);
  if (starts !== undefined) hash.update(`\u0000starts:${starts}\u0000`);
  return hash.update(bytes).digest("hex");
};

/**
 * Assigns offsets and chain values to appended bytes, from stream heads given by `head` (read from the store the
 * first time a stream is used); `push` gets each chunk. The writer thread and the port thread share this one cursor
 * logic (src/writer), so a chunk's chain never depends on which thread appended it.
 */
export function journalCursor(
  head: (stream: JournalStream) => JournalHead,
  push: (chunk: JournalChunk) => void,
): Pick<JournalSink, "append" | "offset"> {
  return {
    append(stream, bytes, at, starts): number {
      const h = head(stream);
      const offset = h.offset;
      if (bytes.length === 0) return offset;
      const copy = bytes.slice();
      const chain = nextChain(h.chain, copy, starts);
      push({
        stream: { registerId: stream.registerId, side: stream.side, direction: stream.direction },
        at,
        offset,
        bytes: copy,
        chain,
        ...(starts ? { starts } : {}),
      });
      h.offset += copy.length;
      h.chain = chain;
      return offset;
    },
    offset: (stream) => head(stream).offset,
  };
}

/** The journal writer: a {@link JournalSink} plus housekeeping. */
export interface JournalWriter extends JournalSink {
  /** Chunks appended and not yet flushed. */
  pending(): number;
  /** Flush every `ms` while anything is pending; returns a stop function (which flushes once more). */
  autoFlush(ms: number, onError?: (error: unknown) => void): () => void;
  /**
   * Write the pending chunks inside the caller's open transaction (one commit with the receipts of that
   * transaction). They stay owed until the caller says how the transaction ended: `rolledBack()` puts them back at
   * the front of the pending chunks, so a failed commit never loses a byte. Throws when the insert fails (nothing
   * is taken from the pending chunks then).
   */
  stage(): StagedChunks;
  /**
   * Take chunks another thread appended (offsets and chains assigned by its {@link journalCursor} from
   * {@link JournalWriter.headOf}); they are pending like appended ones. Do not mix with `append` on the same stream.
   */
  adopt(chunks: readonly JournalChunk[]): void;
  /** Where the stream ends, with what was appended here (the start of another thread's {@link journalCursor}). */
  headOf(stream: JournalStream): JournalHead;
}

/** Chunks written inside a transaction that has not ended yet (see {@link JournalWriter.stage}). */
export interface StagedChunks {
  readonly count: number;
  /** The transaction rolled back: the chunks are pending again. */
  rolledBack(): void;
}

/** Open the writer. Stream heads are read from the database the first time a stream is used. */
export function journalWriter(db: Db): JournalWriter {
  const heads = new Map<string, JournalHead>();
  let pending: JournalChunk[] = [];
  const headStmt = db.prepare<[string, string, string], { stream_offset: number; length: number; chain: string }>(
    `SELECT stream_offset, length(bytes) AS length, chain FROM journal
      WHERE register_id = ? AND side = ? AND direction = ? ORDER BY stream_offset DESC LIMIT 1`,
  );
  const marks = pruneMarks(db);
  const insert = db.prepare(
    `INSERT INTO journal (register_id, side, direction, at, stream_offset, bytes, chain, starts)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const writeAll = db.transaction((chunks: readonly JournalChunk[]) => {
    for (const c of chunks) {
      const { registerId, side, direction } = c.stream;
      insert.run(registerId, side, direction, c.at, c.offset, Buffer.from(c.bytes), c.chain, startsColumn(c.starts));
    }
  });

  const head = (stream: JournalStream): JournalHead => {
    const k = streamKey(stream);
    let h = heads.get(k);
    if (!h) {
      const row = headStmt.get(stream.registerId, stream.side, stream.direction);
      // A stream whose every chunk was shed (journal.keepDays) goes on from its prune mark.
      h = row ? { offset: row.stream_offset + row.length, chain: row.chain } : (marks.get(k) ?? startOfStream());
      heads.set(k, h);
    }
    return h;
  };

  const cursor = journalCursor(head, (chunk) => pending.push(chunk));

  const writer: JournalWriter = {
    append: cursor.append,
    offset: cursor.offset,
    adopt(chunks): void {
      pending.push(...chunks);
    },
    headOf(stream): JournalHead {
      const h = head(stream);
      return { offset: h.offset, chain: h.chain };
    },
    flush(): void {
      if (pending.length === 0) return;
      const chunks = pending;
      // Inside a caller's transaction this becomes a savepoint: the journal commits with the receipt.
      writeAll(chunks);
      pending = pending.slice(chunks.length);
    },
    pending: () => pending.length,
    stage(): StagedChunks {
      if (!db.inTransaction) throw new Error("journal.stage() needs an open transaction");
      const chunks = pending;
      if (chunks.length > 0) writeAll(chunks);
      pending = pending.slice(chunks.length);
      let undone = false;
      return {
        count: chunks.length,
        rolledBack(): void {
          if (undone) return;
          undone = true;
          pending = [...chunks, ...pending];
        },
      };
    },
    autoFlush(ms, onError): () => void {
      const timer = setInterval(() => {
        try {
          writer.flush();
        } catch (error) {
          onError?.(error);
        }
      }, ms);
      timer.unref();
      return () => {
        clearInterval(timer);
        try {
          writer.flush();
        } catch (error) {
          onError?.(error);
        }
      };
    },
  };
  return writer;
}

/** The bytes of a journal range (complete chunks cut to the range), or `undefined` if the journal lacks some. */
export function readJournalRange(db: Db, range: JournalRange): Uint8Array | undefined {
  const rows = db
    .prepare<[JournalRange], { stream_offset: number; bytes: Buffer }>(
      // From the chunk holding `start` (found through the index), not a scan of the stream from its first byte.
      `SELECT stream_offset, bytes FROM journal
        WHERE register_id = @registerId AND side = @side AND direction = @direction AND stream_offset < @end
          AND stream_offset >= coalesce((SELECT max(stream_offset) FROM journal
                                          WHERE register_id = @registerId AND side = @side AND direction = @direction
                                            AND stream_offset <= @start), 0)
        ORDER BY stream_offset`,
    )
    .all({
      registerId: range.registerId,
      side: range.side,
      direction: range.direction,
      start: range.start,
      end: range.end,
    });
  const out = new Uint8Array(range.end - range.start);
  let filled = 0;
  let expect = range.start;
  for (const row of rows) {
    const from = Math.max(range.start, row.stream_offset);
    if (from !== expect) return undefined;
    const to = Math.min(range.end, row.stream_offset + row.bytes.length);
    out.set(row.bytes.subarray(from - row.stream_offset, to - row.stream_offset), from - range.start);
    filled += to - from;
    expect = to;
  }
  return filled === out.length ? out : undefined;
}

/** A stream's start when nothing was shed from it. */
const startOfStream = (): JournalHead => ({ offset: 0, chain: JOURNAL_GENESIS });

/**
 * Each stream's newest prune mark (journal.keepDays): where it now starts. Empty on a store from before retention
 * (opened read-only, not migrated).
 */
export function pruneMarks(db: Db): Map<string, JournalHead> {
  const marks = new Map<string, JournalHead>();
  if (db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_pruned'").get() === undefined)
    return marks;
  const rows = db
    .prepare(
      `SELECT register_id AS registerId, side, direction, up_to AS offset, chain FROM journal_pruned p
        WHERE up_to = (SELECT max(up_to) FROM journal_pruned q WHERE q.register_id = p.register_id
                         AND q.side = p.side AND q.direction = p.direction)`,
    )
    .all() as (JournalStream & JournalHead)[];
  for (const r of rows) marks.set(streamKey(r), { offset: r.offset, chain: r.chain });
  return marks;
}

/** What one {@link pruneJournal} run shed. */
export interface PruneResult {
  readonly streams: number;
  readonly chunks: number;
  readonly bytes: number;
  /** The run used its whole budget: more may be due (run again soon). */
  readonly more: boolean;
}

/**
 * Shed each stream's chunks older than `keepDays` (by `at`), oldest first and at most `maxChunks` in all per run
 * (one transaction on the writer: about 4–5 ms per 1000 chunks, `npm run bench -- --only journal`), behind a prune
 * mark per stream written in the same transaction (migration 006). A stream stops at its first chunk that is young
 * enough, so a clock that once went backwards never leaves a hole. Receipts keep their own bytes.
 */
export function pruneJournal(
  db: Db,
  opts: { readonly keepDays: number; readonly now: number; readonly maxChunks?: number },
): PruneResult {
  const cutoff = opts.now - opts.keepDays * 86_400_000;
  const budget = opts.maxChunks ?? 1000;
  // Every stream, one index seek each (a DISTINCT over the table would read every chunk of a years-long journal).
  // (The offset in the key makes the seek land past a whole stream; on three columns SQLite walks the stream's rows.)
  const after = db.prepare<[string, string, string, number], JournalStream>(
    `SELECT register_id AS registerId, side, direction FROM journal
      WHERE (register_id, side, direction, stream_offset) > (?, ?, ?, ?)
      ORDER BY register_id, side, direction, stream_offset LIMIT 1`,
  );
  const past = Number.MAX_SAFE_INTEGER;
  const streams: JournalStream[] = [];
  for (let s = after.get("", "", "", past); s; s = after.get(s.registerId, s.side, s.direction, past)) streams.push(s);
  const oldest = db.prepare<[string, string, string, number], { at: number; end: number; chain: string }>(
    `SELECT at, stream_offset + length(bytes) AS "end", chain FROM journal
      WHERE register_id = ? AND side = ? AND direction = ? ORDER BY stream_offset LIMIT ?`,
  );
  const mark = db.prepare(
    `INSERT INTO journal_pruned (register_id, side, direction, up_to, chain, at, keep_days, chunks, bytes)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  const shed = db.prepare<[string, string, string, number], { n: number; bytes: number }>(
    `SELECT count(*) AS n, coalesce(sum(length(bytes)), 0) AS bytes FROM journal
      WHERE register_id = ? AND side = ? AND direction = ? AND stream_offset < ?`,
  );
  const remove = db.prepare(
    "DELETE FROM journal WHERE register_id = ? AND side = ? AND direction = ? AND stream_offset < ?",
  );
  let pruned = 0;
  let chunks = 0;
  let bytes = 0;
  db.transaction(() => {
    for (const s of streams) {
      if (chunks >= budget) break;
      let last: { end: number; chain: string } | undefined;
      for (const c of oldest.iterate(s.registerId, s.side, s.direction, budget - chunks)) {
        if (c.at >= cutoff) break;
        last = c;
      }
      if (last === undefined) continue;
      const gone = shed.get(s.registerId, s.side, s.direction, last.end)!;
      mark.run(s.registerId, s.side, s.direction, last.end, last.chain, opts.now, opts.keepDays, gone.n, gone.bytes);
      remove.run(s.registerId, s.side, s.direction, last.end);
      pruned++;
      chunks += gone.n;
      bytes += gone.bytes;
    }
  }).immediate();
  return { streams: pruned, chunks, bytes, more: chunks >= budget };
}

/** What {@link verifyJournal} found. */
export type JournalVerdict =
  | { readonly ok: true; readonly streams: number; readonly chunks: number; readonly bytes: number }
  | {
      readonly ok: false;
      readonly stream: JournalStream;
      /** `journal.id` of the first broken chunk. */
      readonly id: number;
      readonly reason: string;
    };

/**
 * `journal.starts` as a SELECT column: the column (migration 007), or 0 for a read-only store an older hoadon wrote,
 * which has none.
 */
export function startsSelect(db: Db): string {
  const has = db.prepare("SELECT 1 FROM pragma_table_info('journal') WHERE name = 'starts'").get() !== undefined;
  return has ? "starts" : "0 AS starts";
}

/** Re-compute every stream's chain and check that its offsets are contiguous; names the first broken chunk. */
export function verifyJournal(db: Db): JournalVerdict {
  const heads = new Map<string, JournalHead>();
  // Where each stream starts now: offset 0 and the genesis value, or its newest prune mark.
  const starts = pruneMarks(db);
  let chunks = 0;
  let bytes = 0;
  const rows = db
    .prepare<
      [],
      {
        id: number;
        register_id: string;
        side: "register" | "device";
        direction: "in" | "out";
        stream_offset: number;
        bytes: Buffer;
        chain: string;
        starts: number;
      }
    >(
      `SELECT id, register_id, side, direction, stream_offset, bytes, chain, ${startsSelect(db)}
         FROM journal ORDER BY register_id, side, direction, stream_offset`,
    )
    .iterate();
  for (const row of rows) {
    const stream: JournalStream = { registerId: row.register_id, side: row.side, direction: row.direction };
    const k = streamKey(stream);
    const h = heads.get(k) ?? starts.get(k) ?? startOfStream();
    if (row.stream_offset !== h.offset)
      return {
        ok: false,
        stream,
        id: row.id,
        reason: `thiếu byte: khúc bắt đầu ở ${row.stream_offset}, cần ${h.offset} / gap: chunk starts at ${row.stream_offset}, expected ${h.offset}`,
      };
    const chain = nextChain(h.chain, row.bytes, startsOf(row.starts));
    if (chain !== row.chain)
      return { ok: false, stream, id: row.id, reason: "chuỗi băm không khớp / hash chain does not match" };
    heads.set(k, { offset: h.offset + row.bytes.length, chain });
    chunks++;
    bytes += row.bytes.length;
  }
  return { ok: true, streams: heads.size, chunks, bytes };
}

/**
 * The statement the write path runs inside its transaction to tie a receipt (or a quarantine row) to its bytes:
 * `linkJournal(db)("receipt", receiptRowId, range)`.
 */
export function linkJournal(db: Db): (kind: "receipt" | "quarantine", rowId: number, range: JournalRange) => void {
  const stmt = db.prepare(
    `INSERT INTO journal_sources (kind, row_id, register_id, side, direction, start_offset, end_offset)
     VALUES (?, ?, ?, ?, ?, ?, ?)`,
  );
  return (kind, rowId, r) => {
    stmt.run(kind, rowId, r.registerId, r.side, r.direction, r.start, r.end);
  };
}

/** The journal range a receipt row came from, if it was linked. */
export function journalRangeOf(db: Db, kind: "receipt" | "quarantine", rowId: number): JournalRange | undefined {
  const row = db
    .prepare<
      [string, number],
      {
        register_id: string;
        side: "register" | "device";
        direction: "in" | "out";
        start_offset: number;
        end_offset: number;
      }
    >(
      "SELECT register_id, side, direction, start_offset, end_offset FROM journal_sources WHERE kind = ? AND row_id = ?",
    )
    .get(kind, rowId);
  return row
    ? {
        registerId: row.register_id,
        side: row.side,
        direction: row.direction,
        start: row.start_offset,
        end: row.end_offset,
      }
    : undefined;
}

const FIELDS = ["serial", "model", "firmware"] as const;

/** The fields two identity reports both give, with different values: a change of device or firmware. */
export const changedIdentityFields = (before: DeviceIdentity, after: DeviceIdentity): (keyof DeviceIdentity)[] =>
  FIELDS.filter((f) => before[f] !== undefined && after[f] !== undefined && before[f] !== after[f]);

/**
 * Identity pins over `register_identity` and `events`: the first report pins, a report that contradicts the pin is a
 * change (new row with `changed = 1` and an event `register-identity-changed`), new fields extend the pin.
 */
export function identityPins(
  db: Db,
): (registerId: string, identity: DeviceIdentity, at: number) => IdentityObservation {
  const latest = db.prepare<[string], { serial: string | null; model: string | null; firmware: string | null }>(
    "SELECT serial, model, firmware FROM register_identity WHERE register_id = ? ORDER BY id DESC LIMIT 1",
  );
  const insert = db.prepare(
    "INSERT INTO register_identity (register_id, at, serial, model, firmware, changed) VALUES (?, ?, ?, ?, ?, ?)",
  );
  const event = db.prepare("INSERT INTO events (at, kind, register_id, detail) VALUES (?, ?, ?, ?)");
  const clean = (i: DeviceIdentity): DeviceIdentity => {
    const out: { -readonly [K in keyof DeviceIdentity]: string } = {};
    for (const f of FIELDS) {
      const v = i[f]?.trim();
      if (v) out[f] = v.slice(0, 64);
    }
    return out;
  };
  const observe = db.transaction((registerId: string, reported: DeviceIdentity, at: number): IdentityObservation => {
    const identity = clean(reported);
    const row = latest.get(registerId);
    const pin: DeviceIdentity = row
      ? clean({
          ...(row.serial ? { serial: row.serial } : {}),
          ...(row.model ? { model: row.model } : {}),
          ...(row.firmware ? { firmware: row.firmware } : {}),
        })
      : {};
    const differs = changedIdentityFields(pin, identity);
    const merged: DeviceIdentity = differs.length > 0 ? identity : { ...pin, ...identity };
    const added = FIELDS.some((f) => identity[f] !== undefined && pin[f] === undefined);
    if (row && differs.length === 0 && !added) return { status: "same", identity: pin };
    insert.run(
      registerId,
      at,
      merged.serial ?? null,
      merged.model ?? null,
      merged.firmware ?? null,
      differs.length > 0 ? 1 : 0,
    );
    if (differs.length > 0) {
      event.run(
        at,
        "register-identity-changed",
        registerId,
        JSON.stringify({ previous: pin, current: merged, fields: differs }),
      );
      return { status: "changed", identity: merged, previous: pin };
    }
    event.run(at, "register-identity-pinned", registerId, JSON.stringify({ identity: merged }));
    return { status: "pinned", identity: merged };
  });
  return (registerId, identity, at) => observe.immediate(registerId, identity, at);
}
