/**
 * The outbox toward the tax authority (style.md §2.7): due deliveries are grouped into TDiep 206 batches in one
 * transaction, a batch is claimed with a lease, the HTTP call happens outside any transaction, and a short
 * settle transaction appends the attempt and moves the state forward. Everything here is synchronous and
 * works on a `better-sqlite3` handle opened elsewhere (WAL, synchronous=FULL, migrations applied).
 *
 * Crash safety: a batch is inserted together with its deliveries moving to `batched`, so an invoice is never
 * in two batches and never lost; a claim's lease expires if the process dies mid-send; a claim of a `ready`
 * batch marks it `in_doubt`, so after a crash the forwarder asks the authority about that `MTDiep` before it
 * sends again (design.md invariant 6).
 */
import { createHash } from "node:crypto";
import type BetterSqlite3 from "better-sqlite3";
import { prepared } from "./db.js";
import {
  readSignedXml,
  SignedXmlUnreadableError,
  type StoredSignedXml,
  signedXmlColumns,
  signedXmlSizeSql,
} from "./signed-xml.js";

type Db = BetterSqlite3.Database;

/** Batch states (migration 002). Order matters: a batch only moves to the right, `done`/`failed` are final. */
export type BatchState = "ready" | "submitted" | "received" | "done" | "failed";

/** What an attempt row says about one HTTP call. */
export type AttemptKind = "submit" | "poll" | "lookup" | "login";

/** One HTTP call to the authority, as stored in `attempts`. */
export interface AttemptRecord {
  readonly kind: AttemptKind;
  /** Epoch ms when the call started. */
  readonly at: number;
  /** Short stable word: `accepted`, `duplicate`, `rejected`, `retry`, `replies`, `unknown`, `ok` … */
  readonly outcome: string;
  readonly httpStatus?: number | undefined;
  /** Whose fault a failed call was (gateway.ts explains the rule); absent when the call worked. */
  readonly side?: "ours" | "theirs" | undefined;
  readonly detail: string;
  readonly durationMs: number;
  /** `origin + path` called (no query). */
  readonly endpoint?: string | undefined;
  /** The transport failure (refused, dns, tls, timeout, no-answer …) or reply-level one (`no-result`). */
  readonly failure?: string | undefined;
}

/** One invoice as the batch builder needs it. */
export interface BatchInvoiceInput {
  readonly invoiceId: number;
  /** The exact signed bytes of the invoice (src/store/signed-xml.ts). */
  readonly signedXml: Buffer;
}

/** A group of invoices that may share one TDiep 206: one seller, one form, one symbol (addendum §1d). */
export interface BatchGroup {
  readonly khmshdon: string;
  readonly khhdon: string;
  /** Oldest first, in the order they must appear in `DLieu`. */
  readonly invoices: readonly BatchInvoiceInput[];
}

/** What the builder returns for a group: a fresh `MTDiep` and the complete signed message bytes. */
export interface BuiltBatch {
  readonly mtdiep: string;
  readonly xml: Buffer;
  /**
   * Where the invoices' bytes lie in `xml` (each stored invoice minus its XML declaration, in order). When given,
   * the store keeps the message without them and puts them back on every read (migration 003).
   */
  readonly invoices?: { readonly at: number; readonly length: number } | undefined;
}

/** Options of {@link createBatches}. */
export interface CreateBatchesOptions {
  /** Epoch ms; invoices created after this are not due yet. */
  readonly now: number;
  /** At most this many invoices per batch (addendum §1d: 1–1000). */
  readonly maxInvoices: number;
  /** At most this many bytes per message, envelope and signature included (addendum §1d: 2 MB). */
  readonly maxBytes: number;
  /** Stop after this many batches in one call, so one call never holds the write lock for long. Default 8. */
  readonly maxBatches?: number;
  /** Only invoices whose deadline falls before this (epoch ms); default all due ones. */
  readonly deadlineBefore?: number | undefined;
  /** Builds and signs the TDiep for a group. Synchronous: in {@link createBatches} it runs inside the transaction. */
  readonly build: (group: BatchGroup) => BuiltBatch;
}

/** A batch {@link createBatches} inserted. */
export interface CreatedBatch {
  readonly id: number;
  readonly mtdiep: string;
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly invoiceIds: readonly number[];
  readonly bytes: number;
}

/** What {@link createBatches} did. */
export interface CreateBatchesResult {
  readonly batches: readonly CreatedBatch[];
  /** Invoices that can never fit in a message (bigger than `maxBytes` alone); their deliveries are rejected. */
  readonly oversized: readonly SettledInvoice[];
  /**
   * Invoices whose stored bytes no longer give back what was signed (sha256 or zlib check failed): left out and left
   * `pending`, never sent as they are.
   */
  readonly unreadable: readonly { readonly invoiceId: number; readonly problem: string }[];
}

/** A batch taken by {@link claimBatch}; the caller owns it until `leaseUntil`. */
export interface ClaimedBatch {
  readonly id: number;
  readonly mtdiep: string;
  /** `ready`: send it (after a lookup when `inDoubt`); `submitted`/`received`: poll for replies. */
  readonly state: "ready" | "submitted" | "received";
  /** The T-VAN's id for the message (`maGDich`), once it gave one. */
  readonly transportRef: string | undefined;
  /** When the T-VAN first took it. */
  readonly submittedAt: number | undefined;
  /** Submit rounds so far, this one included (only `ready` claims count). */
  readonly attempts: number;
  /** A previous POST may have reached the authority unanswered (timeout or crash): look it up first. */
  readonly inDoubt: boolean;
  readonly leaseUntil: number;
  /** The exact bytes to POST; only loaded for `ready` claims (and not at all with `readXml: false`, unless built here). */
  readonly xml: Buffer | undefined;
}

/** One invoice of a batch, in `DLieu` order, with what is needed to map authority errors to it. */
export interface BatchInvoice {
  readonly invoiceId: number;
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly shdon: number;
  readonly mccqt: string;
  /** 1-based position inside `DLieu`. */
  readonly position: number;
}

/** An invoice whose delivery reached a final state. */
export interface SettledInvoice {
  readonly invoiceId: number;
  readonly mccqt: string;
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly shdon: number;
  readonly accepted: boolean;
  /** Why it was rejected, verbatim from the authority where there is a text. */
  readonly error?: string | undefined;
}

/** Result of a submit round, decided by the forwarder from the gateway's outcome. */
export type SubmitSettlement =
  /** The T-VAN has the message (accepted, duplicate, or found by a lookup): poll for replies from `nextPollAt`. */
  | { readonly kind: "submitted"; readonly nextPollAt: number; readonly transportRef?: string | undefined }
  /** Try again at `nextAttemptAt`; `inDoubt` when the message may have arrived anyway. */
  | { readonly kind: "retry"; readonly nextAttemptAt: number; readonly inDoubt: boolean; readonly error: string }
  /** The T-VAN refused the message for good: the batch fails and every invoice in it is rejected. */
  | { readonly kind: "failed"; readonly reason: string };

/** A reply to store, already parsed (forward/replies.ts). */
export interface ReplyRecord {
  readonly mltdiep: string;
  /** The reply's own MTDiep; storing the same one twice does nothing. */
  readonly replyMtdiep: string;
  readonly raw: Buffer;
  /** Serialised with JSON.stringify. */
  readonly parsed: unknown;
}

/** Figures for `hoadon status` and audit. */
export interface OutboxStatus {
  /** Deliveries not settled yet (pending or in a batch that has no final answer). */
  readonly backlog: number;
  readonly pending: number;
  readonly batched: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly batchesByState: Readonly<Record<BatchState, number>>;
  /** The oldest invoice not yet handed to the authority (pending, or in a batch still `ready`). */
  readonly oldestUnsent:
    | { readonly invoiceId: number; readonly mccqt: string; readonly createdAt: number; readonly deadlineAt: number }
    | undefined;
  /** The most recently accepted invoice. */
  readonly lastAccepted: { readonly invoiceId: number; readonly mccqt: string; readonly at: number } | undefined;
  /** The deadline clock at `now` (spec §7.4: each invoice reaches the authority on its own day). */
  readonly deadline: DeadlineStatus;
  /** Batches the T-VAN took whose result (204) is past the reply deadline and still missing (the give-up alarm). */
  readonly resultsOverdue: ResultsOverdue;
}

/** Batches with a `result-overdue` alarm and no result yet. */
export interface ResultsOverdue {
  readonly batches: number;
  /** Invoices in those batches. */
  readonly invoices: number;
  /** The one the T-VAN took first. */
  readonly oldest: OverdueResult | undefined;
}

/** One `result-overdue` alarm (an `events` row) and its batch as it is now. */
export interface OverdueResult {
  readonly batchId: number;
  readonly mtdiep: string;
  /** When the T-VAN took the batch. */
  readonly submittedAt: number;
  /** When the alarm was raised (the deadline had passed by then). */
  readonly raisedAt: number;
  /** The reply deadline in force when it was raised. */
  readonly deadlineMs: number;
  readonly invoices: number;
  /** The batch's state now: `submitted`/`received` while the result is still missing, `done`/`failed` once it came. */
  readonly state: BatchState;
  /** When the result finally came (the batch's last update once `done`/`failed`). */
  readonly resultAt: number | undefined;
}

/** Same-day deadlines of the invoices not yet handed to the T-VAN. */
export interface DeadlineStatus {
  /** Epoch ms the figures are for. */
  readonly now: number;
  /** Unsent invoices whose deadline (end of their Vietnam-local issue day) has passed. */
  readonly overdue: number;
  /** The unsent invoice whose deadline comes next (not passed yet), and how long is left. */
  readonly next:
    | { readonly invoiceId: number; readonly mccqt: string; readonly deadlineAt: number; readonly msLeft: number }
    | undefined;
  /** Unsent invoices whose deadline falls within the next hour. */
  readonly dueWithinHour: number;
  /** Invoices the T-VAN took after their deadline (from `batches.submitted_at`). */
  readonly sentLate: number;
}

const DEFAULT_MAX_BATCHES = 8;
/** Room kept for TTChung, the DLieu tags and the CKSNNT signature with its certificate when planning a batch. */
const ENVELOPE_RESERVE = 16 * 1024;

/**
 * Groups due `pending` deliveries (oldest first) into batches of one (KHMSHDon, KHHDon), at most `maxInvoices`
 * invoices and `maxBytes` bytes each, builds each batch with `build`, and inserts it while moving its deliveries
 * to `batched`: all in ONE immediate transaction, so a crash leaves either no batch or a complete one.
 * {@link planBatches} and {@link insertBatches} are its two halves, for a caller that builds outside the transaction.
 */
export function createBatches(db: Db, opts: CreateBatchesOptions): CreateBatchesResult {
  return db.transaction(() => insertBatches(db, planBatches(db, opts), opts.now)).immediate();
}

/** Batches {@link planBatches} built, not stored yet. */
export interface PlannedBatches {
  readonly batches: readonly PlannedBatch[];
  /** Invoices too big for any message, with the reason they will be rejected. */
  readonly oversized: readonly { readonly invoiceId: number; readonly error: string }[];
  readonly unreadable: CreateBatchesResult["unreadable"];
  /** More deliveries were due than this plan took (another group, or the read's limit). */
  readonly more: boolean;
}

/** One built batch and the invoices it holds, in `DLieu` order. */
export interface PlannedBatch {
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly invoiceIds: readonly number[];
  readonly built: BuiltBatch;
}

/** The plan went stale: a delivery it holds is no longer pending. Nothing was written; plan again. */
export class StaleBatchPlan extends Error {
  constructor(readonly invoiceId: number) {
    super(`delivery ${invoiceId} was not pending while batching`);
  }
}

/**
 * The read half of {@link createBatches}: picks the due deliveries, reads their invoices (each checked against its
 * sha256) and builds the batches. Writes nothing, so it may run outside any transaction; hand the plan to
 * {@link insertBatches} soon after.
 */
export function planBatches(db: Db, opts: CreateBatchesOptions): PlannedBatches {
  const maxBatches = opts.maxBatches ?? DEFAULT_MAX_BATCHES;
  if (opts.maxInvoices < 1 || opts.maxInvoices > 1000) throw new RangeError("maxInvoices must be 1..1000");
  const due = prepared<
    [number, number, number],
    { id: number; khmshdon: string; khhdon: string; nlap: string; size: number }
  >(
    db,
    `SELECT i.id, i.khmshdon, i.khhdon, i.nlap, ${signedXmlSizeSql(db, "i")} AS size
         FROM deliveries d JOIN invoices i ON i.id = d.invoice_id
        WHERE d.state = 'pending' AND i.created_at <= ? AND i.deadline_at <= ?
        ORDER BY i.id LIMIT ?`,
  ).all(opts.now, opts.deadlineBefore ?? Number.MAX_SAFE_INTEGER, opts.maxInvoices * maxBatches);
  // Groups keep first-seen order, so the group holding the oldest invoice is batched first. One issue day per
  // batch as well, so a batch is signed on its invoices' own day whenever it is built that day (issue 5).
  const groups = new Map<string, typeof due>();
  for (const row of due) {
    const key = `${row.khmshdon};${row.khhdon};${row.nlap}`;
    const g = groups.get(key);
    if (g) g.push(row);
    else groups.set(key, [row]);
  }
  const loadXml = prepared<[number], StoredSignedXml & { sha256: string }>(
    db,
    `SELECT ${signedXmlColumns(db)}, sha256 FROM invoices WHERE id = ?`,
  );
  const batches: PlannedBatch[] = [];
  const oversized: { invoiceId: number; error: string }[] = [];
  const unreadable: { invoiceId: number; problem: string }[] = [];
  const budget = Math.max(opts.maxBytes - ENVELOPE_RESERVE, 0);
  for (const group of groups.values()) {
    const rows = [...group];
    let i = 0;
    while (i < rows.length && batches.length < maxBatches) {
      // Plan by the invoices' own sizes, then check the real message size after building.
      let n = 0;
      let bytes = 0;
      while (i + n < rows.length && n < opts.maxInvoices) {
        const size = (rows[i + n] as (typeof rows)[number]).size;
        if (n > 0 && bytes + size > budget) break;
        bytes += size;
        n += 1;
      }
      let chosen = rows.slice(i, i + n);
      let built: BuiltBatch;
      try {
        built = buildGroup(chosen);
      } catch (err) {
        if (!(err instanceof UnreadableInvoice)) throw err;
        // Its stored bytes are damaged: it stays pending and is left out, so it never holds up the others
        // (design.md invariant 8); `hoadon audit verify` names it. Plan again without it.
        unreadable.push({ invoiceId: err.invoiceId, problem: err.message });
        rows.splice(
          rows.findIndex((r) => r.id === err.invoiceId),
          1,
        );
        continue;
      }
      while (built.xml.length > opts.maxBytes && chosen.length > 1) {
        // The reserve was too small (a long certificate chain): drop invoices from the tail until it fits.
        let excess = built.xml.length - opts.maxBytes;
        let keep = chosen.length;
        while (keep > 1 && excess > 0) {
          keep -= 1;
          excess -= (chosen[keep] as (typeof chosen)[number]).size;
        }
        chosen = chosen.slice(0, keep);
        built = buildGroup(chosen);
      }
      i += chosen.length;
      const only = chosen[0] as (typeof chosen)[number];
      if (built.xml.length > opts.maxBytes) {
        oversized.push({
          invoiceId: only.id,
          error: `Hóa đơn quá lớn để gửi: thông điệp ${built.xml.length} byte vượt giới hạn ${opts.maxBytes} byte (addendum §1d)`,
        });
        continue;
      }
      batches.push({ khmshdon: only.khmshdon, khhdon: only.khhdon, invoiceIds: chosen.map((r) => r.id), built });
    }
  }
  const taken = batches.reduce((n, b) => n + b.invoiceIds.length, 0) + oversized.length + unreadable.length;
  return { batches, oversized, unreadable, more: due.length === opts.maxInvoices * maxBatches || taken < due.length };

  function buildGroup(chosen: readonly { id: number; khmshdon: string; khhdon: string }[]): BuiltBatch {
    const first = chosen[0] as (typeof chosen)[number];
    return opts.build({
      khmshdon: first.khmshdon,
      khhdon: first.khhdon,
      invoices: chosen.map((r) => ({
        invoiceId: r.id,
        // Checked against its sha256 here: the batch's own hash is taken from these bytes.
        signedXml: exactXml(r.id, loadXml.get(r.id)),
      })),
    });
  }
}

/**
 * The write half of {@link createBatches}: stores each planned batch as `ready` and moves its deliveries to
 * `batched`; rejects the oversized invoices. Call it inside a transaction. Throws {@link StaleBatchPlan} when a
 * delivery of the plan is no longer pending; the caller's transaction (or savepoint) must then be rolled back.
 */
export function insertBatches(db: Db, plan: PlannedBatches, now: number): CreateBatchesResult {
  const insertBatch = prepared<[string, string, string, number, Buffer, number | null, string, number, number, number]>(
    db,
    `INSERT INTO batches (mtdiep, khmshdon, khhdon, invoice_count, xml, invoices_at, xml_sha256, created_at, state,
                          next_attempt_at, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'ready', ?, ?)`,
  );
  const moveDelivery = prepared<[number, number, number]>(
    db,
    "UPDATE deliveries SET state = 'batched', batch_id = ?, updated_at = ? WHERE invoice_id = ? AND state = 'pending'",
  );
  const stillPending = prepared<[number], { one: number }>(
    db,
    "SELECT 1 AS one FROM deliveries WHERE invoice_id = ? AND state = 'pending'",
  );
  const oversized: SettledInvoice[] = [];
  for (const o of plan.oversized) {
    if (!stillPending.get(o.invoiceId)) throw new StaleBatchPlan(o.invoiceId);
    oversized.push(rejectOne(db, o.invoiceId, now, o.error));
  }
  const batches: CreatedBatch[] = [];
  for (const b of plan.batches) {
    const { built } = b;
    const cut = built.invoices;
    const kept = cut
      ? Buffer.concat([built.xml.subarray(0, cut.at), built.xml.subarray(cut.at + cut.length)])
      : built.xml;
    const info = insertBatch.run(
      built.mtdiep,
      b.khmshdon,
      b.khhdon,
      b.invoiceIds.length,
      kept,
      cut ? cut.at : null,
      sha256(built.xml),
      now,
      now,
      now,
    );
    const batchId = Number(info.lastInsertRowid);
    for (const id of b.invoiceIds) {
      if (moveDelivery.run(batchId, now, id).changes !== 1) throw new StaleBatchPlan(id);
    }
    batches.push({
      id: batchId,
      mtdiep: built.mtdiep,
      khmshdon: b.khmshdon,
      khhdon: b.khhdon,
      invoiceIds: b.invoiceIds,
      bytes: built.xml.length,
    });
  }
  return { batches, oversized, unreadable: plan.unreadable };
}

/** An invoice whose stored bytes do not give back what was signed. */
class UnreadableInvoice extends Error {
  constructor(
    readonly invoiceId: number,
    message: string,
  ) {
    super(message);
  }
}

function exactXml(invoiceId: number, row: (StoredSignedXml & { sha256: string }) | undefined): Buffer {
  if (!row) throw new Error(`no invoice ${invoiceId}`);
  try {
    return readSignedXml(row, row.sha256);
  } catch (cause) {
    if (cause instanceof SignedXmlUnreadableError) throw new UnreadableInvoice(invoiceId, cause.message);
    throw cause;
  }
}

function rejectOne(db: Db, invoiceId: number, now: number, error: string): SettledInvoice {
  db.prepare<[number, string, number]>(
    "UPDATE deliveries SET state = 'rejected', updated_at = ?, error = ? WHERE invoice_id = ?",
  ).run(now, error, invoiceId);
  const inv = db
    .prepare<[number], { mccqt: string; khmshdon: string; khhdon: string; shdon: number }>(
      "SELECT mccqt, khmshdon, khhdon, shdon FROM invoices WHERE id = ?",
    )
    .get(invoiceId) as { mccqt: string; khmshdon: string; khhdon: string; shdon: number };
  return { invoiceId, ...inv, accepted: false, error };
}

/**
 * Takes the next batch that has work due (a `ready` batch to send, or a `submitted`/`received` one to poll) and
 * leases it for `leaseMs`, in an IMMEDIATE transaction. Oldest batch first, so after an outage invoices reach the
 * authority in the order they were made. A `ready` claim counts as a submit round and marks the batch in doubt
 * until {@link settleSubmit} says otherwise, so a crash mid-send is followed by a lookup. `skip` leaves batches
 * out of this one claim (the forwarder's probe past a batch that keeps failing on its own).
 */
export function claimBatch(
  db: Db,
  now: number,
  leaseMs: number,
  opts: {
    readonly skip?: readonly number[];
    /** The exact bytes of a batch this process built and still holds, to spare reassembling them. */
    readonly builtXml?: (batchId: number) => Buffer | undefined;
    /**
     * `false`: `xml` only from `builtXml`; the caller reads the stored bytes ({@link batchXml}) after the commit, so
     * putting a big batch back together never sits inside the write transaction. Default true.
     */
    readonly readXml?: boolean;
  } = {},
): ClaimedBatch | undefined {
  const skip = JSON.stringify(opts.skip ?? []);
  const run = db.transaction((): ClaimedBatch | undefined => {
    const row = db
      .prepare<
        [number, number, string],
        {
          id: number;
          mtdiep: string;
          state: ClaimedBatch["state"];
          attempts: number;
          in_doubt: number;
          transport_ref: string | null;
          submitted_at: number | null;
        }
      >(
        `SELECT id, mtdiep, state, attempts, in_doubt, transport_ref, submitted_at FROM batches
          WHERE state IN ('ready', 'submitted', 'received') AND next_attempt_at <= ?
            AND (lease_until IS NULL OR lease_until <= ?)
            AND id NOT IN (SELECT value FROM json_each(?))
          ORDER BY id LIMIT 1`,
      )
      .get(now, now, skip);
    if (!row) return undefined;
    const leaseUntil = now + leaseMs;
    const sending = row.state === "ready";
    db.prepare<[number, number, number, number, number]>(
      `UPDATE batches SET lease_until = ?, attempts = attempts + ?, in_doubt = max(in_doubt, ?), updated_at = ?
        WHERE id = ?`,
    ).run(leaseUntil, sending ? 1 : 0, sending ? 1 : 0, now, row.id);
    const xml = sending
      ? (opts.builtXml?.(row.id) ?? (opts.readXml === false ? undefined : batchXml(db, row.id)))
      : undefined;
    return {
      id: row.id,
      mtdiep: row.mtdiep,
      state: row.state,
      transportRef: row.transport_ref ?? undefined,
      submittedAt: row.submitted_at ?? undefined,
      attempts: row.attempts + (sending ? 1 : 0),
      inDoubt: row.in_doubt === 1,
      leaseUntil,
      xml,
    };
  });
  return run.immediate();
}

/** Batches built and not yet taken by the T-VAN. */
export function readyBatchCount(db: Db): number {
  return (prepared(db, "SELECT count(*) AS n FROM batches WHERE state = 'ready'").get() as { n: number }).n;
}

/**
 * Ends every lease at once (or those of `only`). A store has one daemon, so at its start every lease belongs to a
 * process that is gone; its batches are due again now instead of when the lease would have run out. Safe even if that were not so: a
 * batch in doubt is looked up before it is sent again, and its MTDiep makes a second send a duplicate.
 */
export function releaseLeases(db: Db, now: number, only?: readonly number[]): number {
  if (only !== undefined)
    return db
      .prepare<[number, string]>(
        `UPDATE batches SET lease_until = NULL, updated_at = ?
          WHERE lease_until IS NOT NULL AND id IN (SELECT value FROM json_each(?))`,
      )
      .run(now, JSON.stringify(only)).changes;
  return db
    .prepare<[number]>("UPDATE batches SET lease_until = NULL, updated_at = ? WHERE lease_until IS NOT NULL")
    .run(now).changes;
}

/**
 * When the last failed round asked the forwarder to wait until (the latest retry time of a batch that failed and
 * is still due to be sent or polled), or undefined when nothing failed.
 */
export function retryHoldUntil(db: Db, now: number): number | undefined {
  const row = db
    .prepare<[number], { until: number | null }>(
      `SELECT max(next_attempt_at) AS until FROM batches
        WHERE state IN ('ready', 'submitted', 'received') AND last_error IS NOT NULL AND next_attempt_at > ?`,
    )
    .get(now);
  return row?.until ?? undefined;
}

/** Appends one attempt row (poll, lookup, login, or a submit settled elsewhere). */
export function recordAttempt(db: Db, batchId: number | null, attempt: AttemptRecord): void {
  db.prepare<
    [number | null, number, string, string, number | null, string | null, string, number, string | null, string | null]
  >(
    `INSERT INTO attempts (batch_id, at, kind, outcome, http_status, side, detail, duration_ms, endpoint, failure)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    batchId,
    attempt.at,
    attempt.kind,
    attempt.outcome,
    attempt.httpStatus ?? null,
    attempt.side ?? null,
    attempt.detail,
    Math.max(0, Math.round(attempt.durationMs)),
    attempt.endpoint ?? null,
    attempt.failure ?? null,
  );
}

/**
 * Ends a submit round in one transaction: appends its attempt rows (login, lookup, submit, in call order),
 * releases the lease and moves the batch on. `failed` rejects every invoice of the batch with the reason and
 * returns them; otherwise the result is empty.
 */
export function settleSubmit(
  db: Db,
  input: {
    readonly batchId: number;
    readonly now: number;
    readonly attempts: readonly AttemptRecord[];
    readonly result: SubmitSettlement;
  },
): readonly SettledInvoice[] {
  const run = db.transaction((): readonly SettledInvoice[] => {
    for (const a of input.attempts) recordAttempt(db, input.batchId, a);
    const r = input.result;
    switch (r.kind) {
      case "submitted":
        db.prepare<[number, number, string | null, number, number]>(
          `UPDATE batches SET state = CASE WHEN state = 'ready' THEN 'submitted' ELSE state END, in_doubt = 0,
                  lease_until = NULL, next_attempt_at = ?, last_error = NULL, submitted_at = coalesce(submitted_at, ?),
                  transport_ref = coalesce(transport_ref, ?), updated_at = ? WHERE id = ?`,
        ).run(r.nextPollAt, input.now, r.transportRef ?? null, input.now, input.batchId);
        return [];
      case "retry":
        db.prepare<[number, number, string, number, number]>(
          `UPDATE batches SET in_doubt = ?, lease_until = NULL, next_attempt_at = ?, last_error = ?, updated_at = ?
            WHERE id = ?`,
        ).run(r.inDoubt ? 1 : 0, r.nextAttemptAt, r.error, input.now, input.batchId);
        return [];
      case "failed": {
        const all = new Map(batchInvoices(db, input.batchId).map((i) => [i.invoiceId, r.reason] as const));
        return settleInvoices(db, { batchId: input.batchId, now: input.now, state: "failed", rejected: all });
      }
      default: {
        const never: never = r;
        throw new Error(`unknown settlement ${JSON.stringify(never)}`);
      }
    }
  });
  return run.immediate();
}

/**
 * Ends a poll round without a final answer: appends its attempt rows, moves the batch forward to `state` when
 * given (`received` after a 999 TTTNhan=0), releases the lease and schedules the next poll.
 */
export function settlePoll(
  db: Db,
  input: {
    readonly batchId: number;
    readonly now: number;
    readonly attempts: readonly AttemptRecord[];
    readonly state?: "submitted" | "received" | undefined;
    readonly nextPollAt: number;
    readonly error?: string | undefined;
  },
): void {
  const run = db.transaction((): void => {
    for (const a of input.attempts) recordAttempt(db, input.batchId, a);
    db.prepare<[string | null, number, string | null, number, number]>(
      `UPDATE batches SET state = coalesce(?, state), lease_until = NULL, next_attempt_at = ?, last_error = ?,
              updated_at = ? WHERE id = ?`,
    ).run(input.state ?? null, input.nextPollAt, input.error ?? null, input.now, input.batchId);
  });
  run.immediate();
}

/** Kind of the `events` row of the give-up alarm (migration 005). */
export const RESULT_OVERDUE = "result-overdue";

/**
 * Raises the give-up alarm for a batch whose result is overdue: one `events` row (kind {@link RESULT_OVERDUE}) per
 * batch, ever (a unique index, migration 005). Returns true when this call wrote it.
 */
export function raiseResultOverdue(
  db: Db,
  alarm: {
    readonly batchId: number;
    readonly mtdiep: string;
    readonly at: number;
    readonly submittedAt: number;
    readonly deadlineMs: number;
    /** The 999 (TTTNhan 0) came: the authority has the message, only its result is missing. */
    readonly received: boolean;
  },
): boolean {
  const detail = JSON.stringify({
    batchId: alarm.batchId,
    mtdiep: alarm.mtdiep,
    submittedAt: alarm.submittedAt,
    deadlineMs: alarm.deadlineMs,
    received: alarm.received,
  });
  return (
    db
      .prepare<[number, string, string, number]>(
        `INSERT INTO events (at, kind, register_id, detail) SELECT ?, ?, NULL, ?
          WHERE NOT EXISTS (SELECT 1 FROM events WHERE kind = 'result-overdue' AND json_extract(detail, '$.batchId') = ?)`,
      )
      .run(alarm.at, RESULT_OVERDUE, detail, alarm.batchId).changes === 1
  );
}

/** Every give-up alarm raised between `from` and `to` (epoch ms, inclusive), oldest batch first. */
export function overdueResults(db: Db, range: { readonly from?: number; readonly to?: number } = {}): OverdueResult[] {
  return db
    .prepare<
      [number, number],
      {
        batchId: number;
        mtdiep: string;
        submittedAt: number;
        raisedAt: number;
        deadlineMs: number;
        invoices: number;
        state: BatchState;
        updatedAt: number;
      }
    >(
      `SELECT b.id AS batchId, b.mtdiep, json_extract(e.detail, '$.submittedAt') AS submittedAt, e.at AS raisedAt,
              json_extract(e.detail, '$.deadlineMs') AS deadlineMs, b.invoice_count AS invoices, b.state,
              b.updated_at AS updatedAt
         FROM events e JOIN batches b ON b.id = json_extract(e.detail, '$.batchId')
        WHERE e.kind = 'result-overdue' AND e.at >= ? AND e.at <= ?
        ORDER BY submittedAt, b.id`,
    )
    .all(range.from ?? Number.MIN_SAFE_INTEGER, range.to ?? Number.MAX_SAFE_INTEGER)
    .map((r) => ({
      batchId: r.batchId,
      mtdiep: r.mtdiep,
      submittedAt: r.submittedAt,
      raisedAt: r.raisedAt,
      deadlineMs: r.deadlineMs,
      invoices: r.invoices,
      state: r.state,
      resultAt: r.state === "done" || r.state === "failed" ? r.updatedAt : undefined,
    }));
}

/** The give-up alarms whose result is still missing (for `hoadon status`). */
export function resultsOverdue(db: Db): ResultsOverdue {
  const open = overdueResults(db).filter((r) => r.resultAt === undefined);
  return {
    batches: open.length,
    invoices: open.reduce((n, r) => n + r.invoices, 0),
    oldest: open[0],
  };
}

/** Keeps a reply (raw bytes and parsed JSON). Returns false when a reply with that MTDiep was stored before. */
export function storeReply(db: Db, batchId: number, reply: ReplyRecord, receivedAt: number): boolean {
  const info = db
    .prepare<[number, string, string, Buffer, string, number]>(
      `INSERT INTO replies (batch_id, mltdiep, reply_mtdiep, raw, parsed, received_at) VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (reply_mtdiep) DO NOTHING`,
    )
    .run(batchId, reply.mltdiep, reply.replyMtdiep, reply.raw, JSON.stringify(reply.parsed), receivedAt);
  return info.changes === 1;
}

/** The invoices of a batch in `DLieu` order (the order {@link createBatches} gave the builder). */
export function batchInvoices(db: Db, batchId: number): BatchInvoice[] {
  const rows = db
    .prepare<[number], { id: number; khmshdon: string; khhdon: string; shdon: number; mccqt: string }>(
      `SELECT i.id, i.khmshdon, i.khhdon, i.shdon, i.mccqt FROM deliveries d JOIN invoices i ON i.id = d.invoice_id
        WHERE d.batch_id = ? ORDER BY i.id`,
    )
    .all(batchId);
  return rows.map((r, k) => ({
    invoiceId: r.id,
    khmshdon: r.khmshdon,
    khhdon: r.khhdon,
    shdon: r.shdon,
    mccqt: r.mccqt,
    position: k + 1,
  }));
}

/**
 * Gives every still-`batched` invoice of a batch its final state, in one transaction: those in `rejected` are
 * rejected with their error text, all others accepted; the batch becomes `state`. A rejected invoice never holds
 * the others back (design.md invariant 8). Returns what changed, so the caller can report it.
 */
export function settleInvoices(
  db: Db,
  input: {
    readonly batchId: number;
    readonly now: number;
    readonly state: "done" | "failed";
    readonly rejected: ReadonlyMap<number, string>;
    readonly attempts?: readonly AttemptRecord[];
  },
): SettledInvoice[] {
  const run = db.transaction((): SettledInvoice[] => {
    for (const a of input.attempts ?? []) recordAttempt(db, input.batchId, a);
    const open = db
      .prepare<[number], { id: number; khmshdon: string; khhdon: string; shdon: number; mccqt: string }>(
        `SELECT i.id, i.khmshdon, i.khhdon, i.shdon, i.mccqt FROM deliveries d JOIN invoices i ON i.id = d.invoice_id
          WHERE d.batch_id = ? AND d.state = 'batched' ORDER BY i.id`,
      )
      .all(input.batchId);
    const update = db.prepare<[string, number, string | null, number]>(
      "UPDATE deliveries SET state = ?, updated_at = ?, error = ? WHERE invoice_id = ?",
    );
    const out: SettledInvoice[] = [];
    for (const r of open) {
      const error = input.rejected.get(r.id);
      update.run(error === undefined ? "accepted" : "rejected", input.now, error ?? null, r.id);
      out.push({
        invoiceId: r.id,
        mccqt: r.mccqt,
        khmshdon: r.khmshdon,
        khhdon: r.khhdon,
        shdon: r.shdon,
        accepted: error === undefined,
        error,
      });
    }
    db.prepare<[string, string | null, number, number]>(
      "UPDATE batches SET state = ?, lease_until = NULL, in_doubt = 0, last_error = ?, updated_at = ? WHERE id = ?",
    ).run(
      input.state,
      input.state === "failed" ? (input.rejected.values().next().value ?? null) : null,
      input.now,
      input.batchId,
    );
    return out;
  });
  return run.immediate();
}

/**
 * The exact bytes of a batch, as built and sent: stored whole, or (migration 003) put back together from the
 * envelope and its invoices' own stored bytes, and checked against the sha256 taken when it was built.
 */
export function batchXml(db: Db, batchId: number): Buffer {
  const row = db
    .prepare<[number], { xml: Buffer; invoices_at: number | null; xml_sha256: string | null }>(
      "SELECT xml, invoices_at, xml_sha256 FROM batches WHERE id = ?",
    )
    .get(batchId);
  if (!row) throw new Error(`no batch ${batchId}`);
  if (row.invoices_at === null) return row.xml;
  // No per-invoice sha256 here: the whole message is checked against the batch's own below.
  const invoices = db
    .prepare<[number], StoredSignedXml>(
      `SELECT ${signedXmlColumns(db, "i")} FROM deliveries d JOIN invoices i ON i.id = d.invoice_id
        WHERE d.batch_id = ? ORDER BY i.id`,
    )
    .all(batchId)
    .map((r) => hdonBytes(readSignedXml(r)));
  const xml = Buffer.concat([row.xml.subarray(0, row.invoices_at), ...invoices, row.xml.subarray(row.invoices_at)]);
  if (row.xml_sha256 !== null && sha256(xml) !== row.xml_sha256)
    throw new Error(`batch ${batchId}: reassembled bytes do not match the sha256 taken when it was built`);
  return xml;
}

const XML_DECL_RE = /^\uFEFF?<\?xml[^>]*\?>\s*/;

/** A stored invoice as it sits inside `DLieu`: its document bytes without the XML declaration. */
export function hdonBytes(stored: Buffer): Buffer {
  const m = XML_DECL_RE.exec(stored.toString("utf8", 0, Math.min(stored.length, 256)));
  return m ? stored.subarray(Buffer.byteLength(m[0], "utf8")) : stored;
}

function sha256(bytes: Buffer): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The parsed form of every reply stored for a batch, oldest first (JSON as given to {@link storeReply}). */
export function storedReplies(db: Db, batchId: number): unknown[] {
  return db
    .prepare<[number], { parsed: string }>("SELECT parsed FROM replies WHERE batch_id = ? ORDER BY id")
    .all(batchId)
    .map((r) => JSON.parse(r.parsed) as unknown);
}

/**
 * Epoch ms at which the next batch becomes claimable (its retry time or its lease end, whichever is later), or
 * undefined when no batch is waiting for anything.
 */
/**
 * When the first invoice still waiting for a batch (the lowest id, by the state index: cheap with any backlog) was
 * created (epoch ms), if any.
 */
export function oldestPendingAt(db: Db): number | undefined {
  const row = prepared<[], { at: number }>(
    db,
    `SELECT i.created_at AS at FROM deliveries d JOIN invoices i ON i.id = d.invoice_id
      WHERE d.state = 'pending' ORDER BY d.invoice_id LIMIT 1`,
  ).get();
  return row?.at;
}

/** How many invoices wait for a batch, counting at most `n` (reads at most `n` index entries, whatever the backlog). */
export function pendingUpTo(db: Db, n: number): number {
  const row = prepared<[number], { n: number }>(
    db,
    "SELECT count(*) AS n FROM (SELECT 1 FROM deliveries WHERE state = 'pending' LIMIT ?)",
  ).get(Math.max(0, n));
  return row?.n ?? 0;
}

export function nextBatchDueAt(db: Db): number | undefined {
  const row = prepared<[], { due: number | null }>(
    db,
    `SELECT min(max(next_attempt_at, coalesce(lease_until, 0))) AS due FROM batches
      WHERE state IN ('ready', 'submitted', 'received')`,
  ).get();
  return row?.due ?? undefined;
}

/**
 * Backlog, oldest unsent and last accepted invoice, batch counts per state, and the deadline clock at `now`
 * (default: the system clock; the status command is a shell).
 */
export function outboxStatus(db: Db, now: number = Date.now()): OutboxStatus {
  const counts = db
    .prepare<[], { state: string; n: number }>("SELECT state, count(*) AS n FROM deliveries GROUP BY state")
    .all();
  const by = (s: string): number => counts.find((c) => c.state === s)?.n ?? 0;
  const batchCounts = db
    .prepare<[], { state: BatchState; n: number }>("SELECT state, count(*) AS n FROM batches GROUP BY state")
    .all();
  const batchesByState: Record<BatchState, number> = { ready: 0, submitted: 0, received: 0, done: 0, failed: 0 };
  for (const b of batchCounts) batchesByState[b.state] = b.n;
  const oldest = db
    .prepare<[], { id: number; mccqt: string; created_at: number; deadline_at: number }>(
      `SELECT i.id, i.mccqt, i.created_at, i.deadline_at FROM deliveries d JOIN invoices i ON i.id = d.invoice_id
         LEFT JOIN batches b ON b.id = d.batch_id
        WHERE d.state = 'pending' OR (d.state = 'batched' AND b.state = 'ready')
        ORDER BY i.id LIMIT 1`,
    )
    .get();
  const last = db
    .prepare<[], { id: number; mccqt: string; updated_at: number }>(
      `SELECT i.id, i.mccqt, d.updated_at FROM deliveries d JOIN invoices i ON i.id = d.invoice_id
        WHERE d.state = 'accepted' ORDER BY d.updated_at DESC, i.id DESC LIMIT 1`,
    )
    .get();
  return {
    backlog: by("pending") + by("batched"),
    pending: by("pending"),
    batched: by("batched"),
    accepted: by("accepted"),
    rejected: by("rejected"),
    batchesByState,
    oldestUnsent: oldest
      ? { invoiceId: oldest.id, mccqt: oldest.mccqt, createdAt: oldest.created_at, deadlineAt: oldest.deadline_at }
      : undefined,
    lastAccepted: last ? { invoiceId: last.id, mccqt: last.mccqt, at: last.updated_at } : undefined,
    deadline: deadlineStatus(db, now),
    resultsOverdue: resultsOverdue(db),
  };
}

/** Invoices not yet handed to the T-VAN: pending, or in a batch it has not taken. */
const UNSENT = `FROM deliveries d JOIN invoices i ON i.id = d.invoice_id LEFT JOIN batches b ON b.id = d.batch_id
  WHERE (d.state = 'pending' OR (d.state = 'batched' AND b.state = 'ready'))`;

/** The deadline clock: overdue unsent invoices, the next deadline, and invoices the T-VAN took late. */
export function deadlineStatus(db: Db, now: number): DeadlineStatus {
  const counts = db
    .prepare<[{ now: number; soon: number }], { overdue: number | null; soon: number | null }>(
      `SELECT sum(i.deadline_at <= @now) AS overdue, sum(i.deadline_at > @now AND i.deadline_at <= @soon) AS soon
       ${UNSENT}`,
    )
    .get({ now, soon: now + 3_600_000 });
  const next = db
    .prepare<[number], { id: number; mccqt: string; deadline_at: number }>(
      `SELECT i.id, i.mccqt, i.deadline_at ${UNSENT} AND i.deadline_at > ? ORDER BY i.deadline_at, i.id LIMIT 1`,
    )
    .get(now);
  const late = db
    .prepare<[], { n: number }>(
      `SELECT count(*) AS n FROM deliveries d JOIN invoices i ON i.id = d.invoice_id JOIN batches b ON b.id = d.batch_id
        WHERE b.submitted_at > i.deadline_at`,
    )
    .get();
  return {
    now,
    overdue: counts?.overdue ?? 0,
    dueWithinHour: counts?.soon ?? 0,
    next: next
      ? { invoiceId: next.id, mccqt: next.mccqt, deadlineAt: next.deadline_at, msLeft: next.deadline_at - now }
      : undefined,
    sentLate: late?.n ?? 0,
  };
}
