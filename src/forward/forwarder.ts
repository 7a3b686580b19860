/**
 * The forwarder: due invoices → TDiep 206 batches → the authority gateway → replies → every invoice accepted or
 * rejected (design.md "The data path"; style.md §2.7 outbox: claim with a lease, call outside any transaction,
 * settle).
 *
 * One loop, one batch at a time:
 * 1. batch the due `pending` deliveries: each batch read and built outside any transaction, then stored by a short
 *    write (store/outbox.ts `planBatches`, `insertBatches`);
 * 2. claim a batch that has work due (lease, so a crash mid-send recovers by itself);
 * 3. `ready` → if a previous POST may have arrived unanswered (`in_doubt`: timeout, crash), ASK the gateway for
 *    replies to that MTDiep first and only POST when it has never seen it (design.md invariant 6); the MTDiep
 *    never changes, so a resend the T-VAN already has is answered "duplicate" and counts as submitted;
 * 4. `submitted`/`received` → poll replies: 999 TTTNhan=0 → `received`; 999 TTTNhan=1, -1, -2 → batch failed,
 *    invoices rejected; 204 LTBao 2 → all accepted; other LTBao → the invoices it names rejected, the rest
 *    accepted (spec §7.3; replies.ts). A rejected invoice never blocks the others (design.md invariant 8).
 *
 * Failures back off exponentially with jitter up to `retry.maxDelayMs`; an unreachable authority only grows the
 * backlog. The backoff belongs to the gateway, not to each batch: after a failed round nothing is sent until the
 * wait is over, then the OLDEST due batch goes first, so a week queued during an outage reaches the authority in
 * the order it was sold (issue 5). While it rests, new sales are not batched one message each: they wait and go
 * together, except in the last hour of their day, because a batch is signed on its invoices' own day. A batch the T-VAN keeps answering with an error while others get through is
 * set apart after {@link ISOLATE_AFTER} such failures and backs off on its own, so it never holds up the queue
 * (design.md invariant 8).
 *
 * A batch the T-VAN took but for which no result (204) came within `replyDeadlineMs` is polled on, and each such
 * poll is an attempt on the authority's side (`overdue`, failure `no-result`): the "timeout after acceptance" of
 * issue 5, the evidence `hoadon audit outages` reports. The first such poll also raises the give-up alarm: one
 * `result-overdue` event row per batch (kept across restarts), an error in the log, `hoadon status` counts it. The
 * forwarder never gives the invoices up: it keeps asking until the result comes.
 *
 * Every store write goes through `deps.write`: in the daemon it joins the receipts' group commit, so it shares their
 * fsync (store/group-commit.ts). Every HTTP call is an `attempts` row; every reply is kept raw. At start, leases of a
 * previous process are ended (one daemon per store), so a crash mid-send is recovered at once instead of after the
 * lease.
 */
import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import type BetterSqlite3 from "better-sqlite3";
import type { Logger } from "pino";
import type { Clock } from "../shared/clock.js";
import type { XmlSigner } from "../sign/index.js";
import {
  type AttemptRecord,
  batchInvoices,
  batchXml,
  type ClaimedBatch,
  type CreateBatchesResult,
  claimBatch,
  insertBatches,
  nextBatchDueAt,
  oldestPendingAt,
  type PlannedBatches,
  pendingUpTo,
  planBatches,
  raiseResultOverdue,
  readyBatchCount,
  releaseLeases,
  retryHoldUntil,
  type SettledInvoice,
  StaleBatchPlan,
  settleInvoices,
  settlePoll,
  settleSubmit,
  storedReplies,
  storeReply,
} from "../store/outbox.js";
import { createBatchBuilder, type EnvelopeConfig } from "./batch.js";
import type { AuthorityGateway, FetchedReply, GatewayCall, Side } from "./gateway.js";
import { concludeBatch, type ParsedReply } from "./replies.js";

/** What the forwarder reports as it goes (the demo prints these). */
export type ForwarderEvent =
  | {
      readonly type: "batch-created";
      readonly batchId: number;
      readonly mtdiep: string;
      readonly invoices: number;
      readonly bytes: number;
    }
  | {
      readonly type: "batch-submitted";
      readonly batchId: number;
      readonly mtdiep: string;
      /** `lookup`: a lost answer; the T-VAN already had it, nothing was sent again. */
      readonly via: "accepted" | "duplicate" | "lookup";
    }
  | {
      readonly type: "attempt-failed";
      readonly batchId: number;
      readonly mtdiep: string;
      readonly kind: "submit" | "poll" | "lookup";
      readonly side: Side;
      readonly cause: string;
      readonly nextAttemptAt: number;
    }
  | {
      /** The give-up alarm: the T-VAN took the batch, its result is past the reply deadline (once per batch). */
      readonly type: "result-overdue";
      readonly batchId: number;
      readonly mtdiep: string;
      readonly submittedAt: number;
      readonly waitedMs: number;
    }
  | {
      readonly type: "invoice-accepted";
      readonly batchId: number | undefined;
      readonly invoiceId: number;
      readonly mccqt: string;
    }
  | {
      readonly type: "invoice-rejected";
      readonly batchId: number | undefined;
      readonly invoiceId: number;
      readonly mccqt: string;
      readonly reason: string;
    };

/** Dependencies and settings of {@link startForwarder}. */
export interface ForwarderDeps {
  /** The store, opened with WAL + synchronous=FULL and migrated (src/store/db.ts). */
  readonly db: BetterSqlite3.Database;
  readonly gateway: AuthorityGateway;
  /** Signs each batch's `DLieu` into `CKSNNT` (addendum §3). */
  readonly signer: XmlSigner;
  readonly envelope: EnvelopeConfig;
  /** Batch limits (addendum §1d). Defaults: 1000 invoices, 2 000 000 bytes (the smaller reading of "2 MB"). */
  readonly limits?: { readonly maxInvoices?: number; readonly maxBytes?: number };
  readonly clock: Clock;
  /** The module's logger, already a child (`log.child({ mod: "forward" })`, style.md §2.6). */
  readonly log: Logger;
  /** Aborting it stops the loop after the current step; `stopped` resolves then. */
  readonly signal: AbortSignal;
  /** Time between polls of a submitted batch, and the longest idle sleep. */
  readonly pollIntervalMs: number;
  /** Backoff after a failed call: `min · 2^(n−1)` capped at `max`, then jittered down by up to half. */
  readonly retry: { readonly minDelayMs: number; readonly maxDelayMs: number };
  /**
   * A new invoice waits this long for others to share its batch (config `authority.batch.lingerMs`). Default 0: each
   * commit's invoices are batched at once.
   */
  readonly lingerMs?: number;
  /** This many waiting invoices end the linger at once (config `authority.batch.lingerInvoices`). Default 32. */
  readonly lingerInvoices?: number;
  /**
   * How long a claim holds a batch; a crashed process's batch is picked up again after it. Must outlast the
   * slowest round (up to five HTTP calls, each bounded by the gateway's timeout). Default 300 s.
   */
  readonly leaseMs?: number;
  /**
   * How long after the T-VAN took a batch its result (204) may take before each further poll counts as the
   * authority's fault (`overdue`). Default 10 min [U: no published service level].
   */
  readonly replyDeadlineMs?: number;
  readonly onEvent?: (event: ForwarderEvent) => void;
  /** [0, 1) source for jitter; tests may fix it. */
  readonly random?: () => number;
  /** UUID source for new MTDiep values; tests may fix it. */
  readonly uuid?: () => string;
  /**
   * Runs a store write (a synchronous function of `db`) in a transaction and resolves once it is committed. The
   * daemon passes its group commit's `join`, so the forwarder's writes share the receipts' fsync instead of each
   * costing one on their thread. Default: an IMMEDIATE transaction of its own, at once.
   */
  readonly write?: <T>(work: () => T) => Promise<T>;
  /**
   * Registers may be selling from the start (the daemon serves some): the first batches are the small ones of a busy
   * shop, so a restart with an outage's backlog does not begin with a 1000-invoice build while receipts arrive.
   */
  readonly sellingAtStart?: boolean;
}

/** A running forwarder. */
export interface Forwarder {
  /** Resolves once the loop has stopped (after `signal` aborts). Never rejects. */
  readonly stopped: Promise<void>;
  /**
   * New invoices are due: wake up now instead of at the next poll. With their number, while they linger, only the
   * sleep is shortened to the linger's end: no store read per commit.
   */
  kick(invoices?: number): void;
}

/** Default batch limits (addendum §1d). */
export const DEFAULT_BATCH_LIMITS = { maxInvoices: 1000, maxBytes: 2_000_000 } as const;
const DEFAULT_LEASE_MS = 300_000;
const DEFAULT_REPLY_DEADLINE_MS = 600_000;
/**
 * After this many failures in a row that the T-VAN answered (an HTTP status, not a dead line), the next probe goes
 * to another batch; if that one gets through, the failing batch is set apart (its own backoff, no gateway hold).
 */
export const ISOLATE_AFTER = 5;
/** While the gateway is held, invoices whose day ends within this are still batched (signed on their day). */
const SIGN_ON_THE_DAY_MS = 3_600_000;
/** While a call is on the wire, more batches are built only while fewer than this many wait to be sent. */
const READY_AHEAD = 4;
/** Batches built per store call; more are built on the next turn, so sending starts early on a big backlog. */
const BATCHES_PER_TURN = 8;
/**
 * While registers are selling (a receipt committed within {@link BUSY_MS}), a batch holds at most this many invoices:
 * reading and building one takes about 10 ms on the receipts' thread (128 twenty-line invoices: bench/batch.ts),
 * where 1000 after an outage took about 100 ms and held up the receipts arriving meanwhile (bench/ingest.ts).
 */
export const BUSY_BATCH_INVOICES = 128;
const BUSY_MS = 2_000;
/**
 * While registers sell, a pause between two batches built in a row. A receipt's round trip takes several turns of
 * the event loop (read, commit, reply, the register's next write); building a batch in every one of them added up to
 * over 100 ms for one receipt while a backlog was sent (bench/ingest.ts).
 */
const BUSY_PAUSE_MS = 25;

/** Starts the forwarding loop. */
export function startForwarder(deps: ForwarderDeps): Forwarder {
  const { db, gateway, clock, signal, log } = deps;
  const random = deps.random ?? Math.random;
  const leaseMs = deps.leaseMs ?? DEFAULT_LEASE_MS;
  const maxInvoices = deps.limits?.maxInvoices ?? DEFAULT_BATCH_LIMITS.maxInvoices;
  const maxBytes = deps.limits?.maxBytes ?? DEFAULT_BATCH_LIMITS.maxBytes;
  const replyDeadlineMs = deps.replyDeadlineMs ?? DEFAULT_REPLY_DEADLINE_MS;
  const lingerMs = deps.lingerMs ?? 0;
  const lingerInvoices = deps.lingerInvoices ?? 32;
  // Async only to turn a throw into a rejection: the transaction runs at once.
  const write = deps.write ?? (async <T>(work: () => T): Promise<T> => db.transaction(work).immediate());
  const buildBatch = createBatchBuilder({
    envelope: deps.envelope,
    signer: deps.signer,
    clock,
    ...(deps.uuid ? { uuid: deps.uuid } : {}),
  });
  /** The bytes of batches built here and not sent yet (by MTDiep while building, by id once stored). */
  const builtByMtdiep = new Map<string, Buffer>();
  const builtById = new Map<number, Buffer>();
  const build: typeof buildBatch = (group) => {
    const b = buildBatch(group);
    builtByMtdiep.set(b.mtdiep, b.xml);
    return b;
  };
  const builtXml = (batchId: number): Buffer | undefined => {
    const xml = builtById.get(batchId);
    builtById.delete(batchId);
    return xml;
  };
  /** Consecutive failed polls per batch (backoff only; losing it in a crash is harmless). */
  const pollFailures = new Map<number, number>();
  let kicked = false;
  let wake: (() => void) | undefined;
  /** Bring the current sleep's end forward to `at` (epoch ms by `clock`) if it ends later. */
  let wakeBy: ((at: number) => void) | undefined;
  /** Invoices waiting for a batch, as last read from the store plus those kicked in since (up to lingerInvoices). */
  let pendingHint = 0;
  /** When receipts were last committed (a counted kick), by `clock`. */
  let soldAt = deps.sellingAtStart ? clock.now() : Number.NEGATIVE_INFINITY;

  // The gateway's backoff (see the file comment). In memory; at start, a hold a previous process set is read back
  // from the batches' retry times, so a restart during an outage keeps the oldest-first order.
  releaseLeases(db, clock.now());
  /** Failed rounds in a row, across batches. */
  let streak = 0;
  /** No call before this (epoch ms). */
  let holdUntil = retryHoldUntil(db, clock.now()) ?? 0;
  /** Per batch: failures in a row the T-VAN answered with an HTTP status. */
  const answeredFailures = new Map<number, number>();
  /** Batches set apart: their failures do not hold the gateway. */
  const isolated = new Set<number>();
  /** Leave this batch out of the next claim (it keeps failing; try another first). */
  let probePast: number | undefined;
  /** The batch left out of the claim now running. */
  let probing: number | undefined;
  /** Invoices whose damaged stored bytes were already reported. */
  const unreadableLogged = new Set<number>();
  /** Batches whose give-up alarm is known to be raised (saves a store lookup per poll). */
  const overdueRaised = new Set<number>();

  /** A round got a usable answer from the gateway: the endpoint works. */
  function roundWorked(batchId: number): void {
    streak = 0;
    holdUntil = 0;
    answeredFailures.delete(batchId);
    isolated.delete(batchId);
    if (probing !== undefined && probing !== batchId) {
      // Another batch got through while `probing` keeps failing: its failures are its own.
      log.warn({ batch: probing }, "batch set apart: it keeps failing while others get through");
      isolated.add(probing);
    }
    probing = undefined;
  }

  /** A round failed with `retry`: when may this batch be tried again (and, unless set apart, anything at all). */
  function roundFailed(batchId: number, answered: boolean, ownFailures: number, now: number): number {
    if (isolated.has(batchId)) return now + backoff(ownFailures);
    if (probing !== undefined && probing !== batchId) {
      // The probe past `probing` failed too: the endpoint is down, not one batch.
      answeredFailures.set(probing, 0);
    }
    probing = undefined;
    streak += 1;
    holdUntil = now + backoff(streak);
    const n = answered ? (answeredFailures.get(batchId) ?? 0) + 1 : 0;
    answeredFailures.set(batchId, n);
    if (n >= ISOLATE_AFTER) probePast = batchId;
    return holdUntil;
  }

  /** The next batch to work on: oldest due first, past `probePast` once when asked. */
  async function claimNext(now: number): Promise<ClaimedBatch | undefined> {
    // Nothing due: no write at all (the common case after a kick).
    if ((nextBatchDueAt(db) ?? Number.POSITIVE_INFINITY) > now) return undefined;
    if (probePast !== undefined) {
      const past = probePast;
      probePast = undefined;
      const other = await write(() => claimBatch(db, now, leaseMs, { skip: [past], builtXml, readXml: false }));
      if (other) {
        probing = past;
        return other;
      }
    }
    // A batch not built by this process is read back after the claim's commit, in send(), not inside it.
    return write(() => claimBatch(db, now, leaseMs, { builtXml, readXml: false }));
  }

  function emit(event: ForwarderEvent): void {
    try {
      deps.onEvent?.(event);
    } catch (err) {
      log.warn({ err }, "event listener failed");
    }
  }

  function emitSettled(batchId: number | undefined, settled: readonly SettledInvoice[]): void {
    for (const s of settled) {
      if (s.accepted) emit({ type: "invoice-accepted", batchId, invoiceId: s.invoiceId, mccqt: s.mccqt });
      else {
        log.warn({ invoice: s.invoiceId, mccqt: s.mccqt, reason: s.error }, "invoice rejected");
        emit({ type: "invoice-rejected", batchId, invoiceId: s.invoiceId, mccqt: s.mccqt, reason: s.error ?? "" });
      }
    }
  }

  /** Exponential backoff with jitter: never two retries in lockstep, never longer than the cap. */
  function backoff(n: number): number {
    const full = Math.min(deps.retry.maxDelayMs, deps.retry.minDelayMs * 2 ** Math.max(0, n - 1));
    return Math.round(full * (0.5 + random() * 0.5));
  }

  /** Sleep `ms` (real time), or less if the loop is stopped; kicks do not end it. */
  function pause(ms: number): Promise<void> {
    return delay(ms, undefined, { signal }).catch(() => undefined);
  }

  function wait(ms: number): Promise<void> {
    if (kicked || signal.aborted) {
      kicked = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        wake = undefined;
        wakeBy = undefined;
        kicked = false;
        resolve();
      };
      let until = clock.now() + ms;
      let timer = setTimeout(done, Math.max(0, ms));
      signal.addEventListener("abort", done, { once: true });
      wake = done;
      wakeBy = (at) => {
        if (at >= until) return;
        until = at;
        clearTimeout(timer);
        timer = setTimeout(done, Math.max(0, at - clock.now()));
      };
    });
  }

  /**
   * Batch what is due, one batch at a time: each is read and built outside any transaction (a few ms for a shop's
   * batch, on the receipts' thread), then stored by a short write that shares the next receipts' commit.
   */
  async function makeBatches(): Promise<void> {
    const now = clock.now();
    if (lingerMs > 0) {
      // Nothing old enough to batch, and not enough to fill a batch worth making now: no write transaction at all
      // (a kick after every commit stays cheap). Enough waiting ends the linger, so a busy shop's batches stay small
      // enough to build between its receipts.
      const oldest = oldestPendingAt(db);
      if (oldest === undefined) return;
      if (oldest > now - lingerMs && pendingUpTo(db, lingerInvoices) < lingerInvoices) return;
    }
    for (let made = 0; made < BATCHES_PER_TURN; made++) {
      let created: CreateBatchesResult | undefined;
      let plan: PlannedBatches;
      try {
        plan = planBatches(db, {
          now,
          maxInvoices: clock.now() - soldAt < BUSY_MS ? Math.min(maxInvoices, BUSY_BATCH_INVOICES) : maxInvoices,
          maxBytes,
          maxBatches: 1,
          build,
          // While the gateway rests after a failure, sales wait to be batched together instead of one message
          // each, except in the last hour of their day: a batch is signed the day its invoices were made (issue 5).
          deadlineBefore: now < holdUntil ? now + SIGN_ON_THE_DAY_MS : undefined,
        });
        if (plan.batches.length === 0 && plan.oversized.length === 0) {
          reportUnreadable(plan.unreadable);
          return;
        }
        created = await write(() => insertBatches(db, plan, now));
      } catch (err) {
        // Something moved the deliveries meanwhile: nothing was stored; the next turn plans again.
        if (err instanceof StaleBatchPlan) {
          log.warn({ invoice: err.invoiceId }, "batch plan went stale; planning again");
          kicked = true;
          return;
        }
        throw err;
      } finally {
        for (const [mtdiep, xml] of builtByMtdiep) {
          const b = created?.batches.find((x) => x.mtdiep === mtdiep);
          if (b && builtById.size < READY_AHEAD * 2) builtById.set(b.id, xml);
        }
        builtByMtdiep.clear();
      }
      if (!created) return;
      reportUnreadable(created.unreadable);
      for (const b of created.batches) {
        log.info({ batch: b.id, mtdiep: b.mtdiep, invoices: b.invoiceIds.length, bytes: b.bytes }, "batch created");
        emit({ type: "batch-created", batchId: b.id, mtdiep: b.mtdiep, invoices: b.invoiceIds.length, bytes: b.bytes });
      }
      emitSettled(undefined, created.oversized);
      if (!plan.more || signal.aborted) return;
      if (clock.now() - soldAt < BUSY_MS) await pause(BUSY_PAUSE_MS);
    }
    // A full turn means more may be due: come round again without sleeping.
    kicked = true;
  }

  function reportUnreadable(unreadable: CreateBatchesResult["unreadable"]): void {
    for (const u of unreadable) {
      if (unreadableLogged.has(u.invoiceId)) continue;
      unreadableLogged.add(u.invoiceId);
      log.error(
        { invoice: u.invoiceId, problem: u.problem },
        "stored invoice bytes damaged: not sent, left pending; run hoadon audit verify and restore from a backup",
      );
    }
  }

  function attemptsOf(calls: readonly GatewayCall[], repliesKind: "poll" | "lookup"): AttemptRecord[] {
    return calls.map((c) => ({
      kind: c.kind === "replies" ? repliesKind : c.kind,
      at: c.at,
      outcome: c.outcome,
      httpStatus: c.httpStatus,
      side: c.side,
      detail: c.detail,
      durationMs: c.durationMs,
      endpoint: c.endpoint,
      failure: c.failure,
    }));
  }

  /** Whether the T-VAN answered the failed call with an HTTP status (as opposed to a dead line). */
  function answeredBy(calls: readonly GatewayCall[]): boolean {
    const last = calls[calls.length - 1];
    return last?.httpStatus !== undefined && last.failure === undefined;
  }

  /**
   * Keeps the fetched replies and settles the batch as far as all its replies so far allow, in one transaction
   * (one commit, one fsync).
   */
  async function applyReplies(
    job: ClaimedBatch,
    fetched: readonly FetchedReply[],
    attempts: AttemptRecord[],
  ): Promise<void> {
    /** Events to tell once the store has committed what they say. */
    const told: (() => void)[] = [];
    try {
      await write(() => applyRepliesNow(job, fetched, attempts, told));
    } catch (err) {
      // Rolled back, the alarm row with it: raise it again next round.
      overdueRaised.delete(job.id);
      throw err;
    }
    for (const tell of told) tell();
  }

  function applyRepliesNow(
    job: ClaimedBatch,
    fetched: readonly FetchedReply[],
    attempts: AttemptRecord[],
    told: (() => void)[],
  ): void {
    const now = clock.now();
    for (const f of fetched) {
      if (f.parsed.ok) {
        const r = f.parsed.reply;
        if (r.mtdtchieu !== "" && r.mtdtchieu !== job.mtdiep) {
          log.warn({ batch: job.id, reply: r.mtdiep, answers: r.mtdtchieu }, "reply for another message ignored");
          continue;
        }
        const mltdiep = r.mltdiep === "other" ? r.code : r.mltdiep;
        storeReply(db, job.id, { mltdiep, replyMtdiep: r.mtdiep || digest(f.raw), raw: f.raw, parsed: r }, now);
      } else {
        // Kept raw for audit; it cannot move the batch on.
        log.warn({ batch: job.id, problem: f.parsed.problem }, "unreadable reply");
        storeReply(db, job.id, { mltdiep: "", replyMtdiep: digest(f.raw), raw: f.raw, parsed: f.parsed }, now);
      }
    }
    const replies = storedReplies(db, job.id).filter(isParsedReply);
    const invoices = batchInvoices(db, job.id);
    const verdict = concludeBatch(replies, invoices);
    switch (verdict.kind) {
      case "waiting":
      case "received": {
        pollFailures.delete(job.id);
        const waited = job.submittedAt === undefined ? 0 : now - job.submittedAt;
        const overdue = waited > replyDeadlineMs;
        if (overdue && job.submittedAt !== undefined && !overdueRaised.has(job.id)) {
          overdueRaised.add(job.id);
          const raised = raiseResultOverdue(db, {
            batchId: job.id,
            mtdiep: job.mtdiep,
            at: now,
            submittedAt: job.submittedAt,
            deadlineMs: replyDeadlineMs,
            received: verdict.kind === "received",
          });
          if (raised) {
            log.error(
              { batch: job.id, mtdiep: job.mtdiep, waitedMs: waited, deadlineMs: replyDeadlineMs },
              "authority result overdue: still asking; see hoadon status and hoadon audit outages",
            );
            const submittedAt = job.submittedAt;
            told.push(() =>
              emit({ type: "result-overdue", batchId: job.id, mtdiep: job.mtdiep, submittedAt, waitedMs: waited }),
            );
          }
        }
        settlePoll(db, {
          batchId: job.id,
          now,
          attempts: overdue ? attempts.map((a) => overdueAttempt(a, waited, verdict.kind === "received")) : attempts,
          state: verdict.kind === "received" ? "received" : undefined,
          nextPollAt: now + deps.pollIntervalMs,
        });
        return;
      }
      case "failed": {
        log.warn({ batch: job.id, mtdiep: job.mtdiep, reason: verdict.reason }, "batch failed");
        const all = new Map(invoices.map((i) => [i.invoiceId, verdict.reason] as const));
        const settled = settleInvoices(db, { batchId: job.id, now, state: "failed", rejected: all, attempts });
        told.push(() => emitSettled(job.id, settled));
        pollFailures.delete(job.id);
        return;
      }
      case "settled": {
        const settled = settleInvoices(db, {
          batchId: job.id,
          now,
          state: "done",
          rejected: verdict.rejected,
          attempts,
        });
        log.info(
          { batch: job.id, mtdiep: job.mtdiep, ltbao: verdict.ltbao, rejected: verdict.rejected.size },
          "batch settled",
        );
        told.push(() => emitSettled(job.id, settled));
        pollFailures.delete(job.id);
        return;
      }
      default: {
        const never: never = verdict;
        throw new Error(`unknown conclusion ${JSON.stringify(never)}`);
      }
    }
  }

  async function send(job: ClaimedBatch): Promise<void> {
    const attempts: AttemptRecord[] = [];
    if (job.inDoubt) {
      // A previous POST may have arrived (timeout, crash mid-send): ask before sending again.
      const found = await gateway.replies(job.mtdiep, { transportRef: job.transportRef });
      attempts.push(...attemptsOf(found.calls, "lookup"));
      const now = clock.now();
      if (found.kind === "retry") {
        const nextAttemptAt = roundFailed(job.id, answeredBy(found.calls), job.attempts, now);
        await write(() =>
          settleSubmit(db, {
            batchId: job.id,
            now,
            attempts,
            result: { kind: "retry", nextAttemptAt, inDoubt: true, error: found.cause },
          }),
        );
        failed(job, "lookup", found.side, found.cause, nextAttemptAt);
        return;
      }
      if (found.kind === "replies") {
        roundWorked(job.id);
        await write(() =>
          settleSubmit(db, { batchId: job.id, now, attempts, result: { kind: "submitted", nextPollAt: now } }),
        );
        log.info({ batch: job.id, mtdiep: job.mtdiep }, "batch found by lookup; not sent again");
        emit({ type: "batch-submitted", batchId: job.id, mtdiep: job.mtdiep, via: "lookup" });
        await applyReplies({ ...job, submittedAt: now }, found.replies, []);
        return;
      }
    }
    const out = await gateway.submit({ mtdiep: job.mtdiep, xml: job.xml ?? batchXml(db, job.id) });
    attempts.push(...attemptsOf(out.calls, "lookup"));
    const now = clock.now();
    switch (out.kind) {
      case "accepted":
      case "duplicate":
        roundWorked(job.id);
        await write(() =>
          settleSubmit(db, {
            batchId: job.id,
            now,
            attempts,
            result: { kind: "submitted", nextPollAt: now + deps.pollIntervalMs, transportRef: out.transportRef },
          }),
        );
        log.info({ batch: job.id, mtdiep: job.mtdiep, via: out.kind }, "batch submitted");
        emit({ type: "batch-submitted", batchId: job.id, mtdiep: job.mtdiep, via: out.kind });
        return;
      case "rejected": {
        roundWorked(job.id);
        log.warn({ batch: job.id, mtdiep: job.mtdiep, reason: out.reason }, "batch refused by the gateway");
        const reason = `T-VAN từ chối thông điệp (${out.reason})`;
        emitSettled(
          job.id,
          await write(() => settleSubmit(db, { batchId: job.id, now, attempts, result: { kind: "failed", reason } })),
        );
        return;
      }
      case "retry": {
        const nextAttemptAt = roundFailed(job.id, answeredBy(out.calls), job.attempts, now);
        await write(() =>
          settleSubmit(db, {
            batchId: job.id,
            now,
            attempts,
            result: { kind: "retry", nextAttemptAt, inDoubt: out.maybeReceived, error: out.cause },
          }),
        );
        failed(job, "submit", out.side, out.cause, nextAttemptAt);
        return;
      }
      default: {
        const never: never = out;
        throw new Error(`unknown outcome ${JSON.stringify(never)}`);
      }
    }
  }

  async function poll(job: ClaimedBatch): Promise<void> {
    const found = await gateway.replies(job.mtdiep, { transportRef: job.transportRef });
    const attempts = attemptsOf(found.calls, "poll");
    if (found.kind === "replies") {
      roundWorked(job.id);
      await applyReplies(job, found.replies, attempts);
      return;
    }
    const n = (pollFailures.get(job.id) ?? 0) + 1;
    pollFailures.set(job.id, n);
    const now = clock.now();
    if (found.kind === "unknown") {
      // The T-VAN took it but no longer knows it (lost or purged). Same MTDiep, same bytes: resending is
      // idempotent at the T-VAN, and the batch stays `submitted` (state never goes back). One batch's trouble,
      // not the endpoint's: no gateway hold.
      log.warn({ batch: job.id, mtdiep: job.mtdiep }, "gateway forgot a submitted batch; sending it again");
      const out = await gateway.submit({ mtdiep: job.mtdiep, xml: batchXml(db, job.id) });
      attempts.push(...attemptsOf(out.calls, "poll"));
      const cause = "T-VAN không biết MTDiep này (404)";
      const nextPollAt = now + Math.max(deps.pollIntervalMs, backoff(n));
      await write(() => settlePoll(db, { batchId: job.id, now, attempts, nextPollAt, error: cause }));
      failed(job, "poll", "theirs", cause, nextPollAt);
      return;
    }
    const nextPollAt = Math.max(now + deps.pollIntervalMs, roundFailed(job.id, answeredBy(found.calls), n, now));
    await write(() => settlePoll(db, { batchId: job.id, now, attempts, nextPollAt, error: found.cause }));
    failed(job, "poll", found.side, found.cause, nextPollAt);
  }

  function failed(
    job: ClaimedBatch,
    kind: "submit" | "poll" | "lookup",
    side: Side,
    cause: string,
    next: number,
  ): void {
    log.warn({ batch: job.id, mtdiep: job.mtdiep, kind, side, cause, attempt: job.attempts }, "attempt failed");
    emit({ type: "attempt-failed", batchId: job.id, mtdiep: job.mtdiep, kind, side, cause, nextAttemptAt: next });
  }

  /** The batch claimed in the round now running. */
  let working: number | undefined;
  /** Batches claimed by a round that failed: their leases are ended at the next round. */
  const orphaned = new Set<number>();

  /**
   * The disk was full: checkpoint the WAL (PASSIVE, never waits for readers) so the next writes can reuse its space
   * instead of growing it; on a nearly full disk the WAL itself may be what holds the space.
   */
  function reclaimWal(): void {
    try {
      db.pragma("wal_checkpoint(PASSIVE)");
    } catch (err) {
      log.debug({ err }, "checkpoint failed");
    }
  }

  async function run(): Promise<void> {
    let errors = 0;
    while (!signal.aborted) {
      try {
        if (orphaned.size > 0) {
          const ended = [...orphaned];
          await write(() => releaseLeases(db, clock.now(), ended));
          orphaned.clear();
        }
        await makeBatches();
        for (;;) {
          if (signal.aborted) break;
          const now = clock.now();
          // After a failed round the gateway rests; then the oldest due batch goes first.
          if (now < holdUntil) break;
          const job = await claimNext(now);
          if (!job) break;
          working = job.id;
          const call = job.state === "ready" ? send(job) : poll(job);
          // While the call is on the wire, batch what has come in: our CPU work overlaps the T-VAN's.
          const making = readyBatchCount(db) < READY_AHEAD ? makeBatches() : undefined;
          const [called, made] = await Promise.allSettled([call, making]);
          if (called.status === "rejected") throw called.reason;
          working = undefined;
          if (made.status === "rejected") throw made.reason;
        }
        errors = 0;
      } catch (err) {
        // A bug or an unusable store (disk full …): keep the process alive and try again later. The batch being
        // worked on is nobody's now: its lease is ended as soon as the store takes writes again, not after leaseMs.
        errors += 1;
        if (working !== undefined) orphaned.add(working);
        working = undefined;
        log.error({ err }, "forward loop failed");
        const code = (err as { code?: unknown } | null)?.code;
        if (code === "SQLITE_FULL" || code === "STORE_FULL") reclaimWal();
        await wait(backoff(errors));
        continue;
      }
      const due = nextBatchDueAt(db);
      const now = clock.now();
      let next = Math.max(due ?? now + deps.pollIntervalMs, holdUntil);
      if (lingerMs > 0 && now >= holdUntil) {
        // Wake when the first waiting invoice has lingered long enough (one held for another reason, such as
        // damaged bytes, is older than that and does not shorten the sleep).
        const oldest = oldestPendingAt(db);
        if (oldest !== undefined && oldest + lingerMs > now) next = Math.min(next, oldest + lingerMs);
      }
      if (lingerMs > 0) pendingHint = pendingUpTo(db, lingerInvoices);
      await wait(Math.min(Math.max(next - now, 0), deps.pollIntervalMs));
    }
    log.info("forwarder stopped");
  }

  const stopped = run().catch((err: unknown) => {
    log.error({ err }, "forwarder crashed");
  });
  return {
    stopped,
    kick(invoices?: number): void {
      if (invoices !== undefined) soldAt = clock.now();
      if (invoices !== undefined && lingerMs > 0) {
        pendingHint += invoices;
        if (pendingHint < lingerInvoices) {
          // Too few to end the linger: wake when the first of them has lingered, or sooner if the sleep ends sooner.
          // While the loop is busy there is no sleep: it reads the store before its next one.
          wakeBy?.(clock.now() + lingerMs);
          return;
        }
      }
      kicked = true;
      wake?.();
    },
  };
}

/**
 * A poll that found no result long after the T-VAN took the batch: the authority's delay, recorded as its side
 * (`no-result`), so the outage report can show it.
 */
function overdueAttempt(a: AttemptRecord, waitedMs: number, received: boolean): AttemptRecord {
  if (a.kind !== "poll" || a.outcome !== "replies") return a;
  const minutes = Math.round(waitedMs / 60_000);
  return {
    ...a,
    outcome: "overdue",
    side: "theirs",
    failure: "no-result",
    detail: received
      ? `Cơ quan thuế đã tiếp nhận (999) nhưng chưa có kết quả kiểm tra (204) sau ${minutes} phút / no 204 yet`
      : `Chưa có phản hồi của cơ quan thuế sau ${minutes} phút kể từ khi T-VAN nhận / no reply yet`,
  };
}

function isParsedReply(x: unknown): x is ParsedReply {
  return typeof x === "object" && x !== null && "mltdiep" in x && "errors" in x;
}

function digest(raw: Buffer): string {
  return `sha256:${createHash("sha256").update(raw).digest("hex")}`;
}
