/**
 * Group commit: the receipts handed over in one event-loop turn (16 registers selling at once) are written in ONE
 * IMMEDIATE transaction, with the journal chunks they came from, and so cost one fsync instead of one each. Each
 * receipt runs in its own savepoint, so one bad receipt never affects another; every outcome is released only after
 * the commit (design.md invariant 1). If the transaction is lost (disk full at the commit, or SQLite rolled the whole
 * transaction back after an I/O error, or one receipt met a store error) every receipt of the group is answered
 * `failed` — the register resends — and the journal chunks become pending again, so nothing is half-written and no
 * byte is lost.
 *
 * The write path itself stays synchronous from validation to the commit; only the hand-over waits for the turn to end.
 *
 * The daemon's own writes (the forwarder moving batches on) {@link GroupCommit.join} the next group too: a commit of
 * theirs would otherwise cost an fsync of its own on the receipts' thread, and a receipt arriving then waits for it.
 */
import type { RecordOutcome } from "../driver-api/types.js";
import { DaemonError, type ErrorCode } from "../shared/errors.js";
import type { Logger } from "../shared/log.js";
import { classifyStoreError, type Db } from "./db.js";
import type { JournalWriter, StagedChunks } from "./journal.js";

/** One receipt's share of a group: runs inside the group's transaction and returns the outcome it will have. */
export type GroupWork = () => RecordOutcome;

export interface GroupCommitDeps {
  readonly db: Db;
  /** Its pending chunks are written in each group's transaction. */
  readonly journal?: JournalWriter;
  readonly log: Logger;
  /** The store file, for error messages. */
  readonly storePath: string;
  /** After each successful commit (the checkpointer's safety net, the forwarder's kick). */
  readonly afterCommit?: (outcomes: readonly RecordOutcome[]) => void;
  /**
   * A group stops taking receipts once its work took this long (at least one is taken), so the first receipts of a
   * burst are not held back by the signing of all the others. Default 4 ms (about three receipts on the dev box).
   */
  readonly budgetMs?: number;
  /** Each committed group: its receipts, the time spent writing them and the time of the COMMIT (the benchmark). */
  readonly onTiming?: (receipts: number, workMs: number, commitMs: number) => void;
}

export interface GroupCommit {
  /**
   * Queue `work` for the group of this event-loop turn. Resolves with its outcome once the group has committed (or
   * with `failed` when it could not). Rejects only when `work` itself threw (a bug): its savepoint was rolled back.
   */
  submit(work: GroupWork): Promise<RecordOutcome>;
  /**
   * Queue the daemon's own store work (not a receipt) for the group of this event-loop turn, in a savepoint of its
   * own. Resolves with what `work` returned once the group has committed; rejects with what `work` threw (its
   * savepoint undone, the group unharmed) or with the store's DaemonError when the group was lost.
   */
  join<T>(work: () => T): Promise<T>;
  /**
   * Run `work` in a transaction of its own, now (quarantine of undecodable bytes, with the journal chunks). Throws
   * what the store threw; the journal chunks are pending again then.
   */
  now<T>(work: () => T): T;
  /** Resolves when no group is queued or running (before the store is closed). */
  idle(): Promise<void>;
  /** Groups committed and receipts in them, for the benchmark. */
  stats(): { readonly groups: number; readonly receipts: number; readonly largest: number };
}

interface Queued {
  /** A receipt's work returns its RecordOutcome; joined work anything. */
  readonly work: () => unknown;
  readonly receipt: boolean;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Result = { readonly value: unknown } | { readonly error: unknown };

/** A receipt's `failed` outcome, as an error (what its group is lost with, when it comes to that). */
function failedReceipt(item: Queued, result: Result): DaemonError | undefined {
  if (!item.receipt || !("value" in result)) return undefined;
  const outcome = result.value as RecordOutcome;
  return outcome.status === "failed" ? new DaemonError(outcome.code as ErrorCode, outcome.message) : undefined;
}

/** A lost group's result for each item: receipts are answered `failed` (the register resends), joined work rejects. */
function lostFor(batch: readonly Queued[], error: DaemonError): Result[] {
  return batch.map((item) =>
    item.receipt
      ? { value: { status: "failed", code: error.code, message: error.message } satisfies RecordOutcome }
      : { error },
  );
}

export function createGroupCommit(deps: GroupCommitDeps): GroupCommit {
  const { db, journal, log } = deps;
  const budgetMs = deps.budgetMs ?? 4;
  let queue: Queued[] = [];
  let scheduled = false;
  let idleWaiters: (() => void)[] = [];
  let groups = 0;
  let receipts = 0;
  let largest = 0;

  const storeError = (cause: unknown): DaemonError => classifyStoreError(deps.storePath, cause);

  /** Roll back whatever is left of the transaction; the staged chunks are owed again. */
  const abandon = (staged: StagedChunks | undefined): void => {
    try {
      if (db.open && db.inTransaction) db.exec("ROLLBACK");
    } catch (error) {
      log.error({ err: error }, "rollback failed");
    }
    staged?.rolledBack();
  };

  /** Run `work` in a savepoint; a throw rolls back to it. Tolerates SQLite having rolled back everything. */
  const inSavepoint = (work: () => unknown): Result => {
    db.exec("SAVEPOINT receipt");
    try {
      const value = work();
      if (db.inTransaction) db.exec("RELEASE receipt");
      return { value };
    } catch (error) {
      if (db.inTransaction) db.exec("ROLLBACK TO receipt; RELEASE receipt");
      return { error };
    }
  };

  /**
   * One transaction over the first items of `batch` (as many as the time budget allows): a result for each one
   * taken. When the transaction is lost, {@link lostFor} all of `batch`.
   */
  const runGroup = (batch: readonly Queued[]): readonly Result[] => {
    if (!db.open)
      return lostFor(batch, storeError(Object.assign(new Error("store closed"), { code: "SQLITE_MISUSE" })));
    let staged: StagedChunks | undefined;
    try {
      db.exec("BEGIN IMMEDIATE");
      staged = journal?.stage();
    } catch (cause) {
      abandon(staged);
      log.error({ err: cause, receipts: batch.length }, "group not started");
      return lostFor(batch, storeError(cause));
    }
    const results: Result[] = [];
    /** The first failure seen once SQLite had rolled the whole transaction back (an I/O error, disk full). */
    let lost: DaemonError | undefined;
    const began = performance.now();
    for (const item of batch) {
      // The first receipts must not wait for the signing of all the others: past the budget, commit what is done.
      if (results.length > 0 && performance.now() - began >= budgetMs) break;
      // Its own savepoint: a throw undoes this receipt only (the write path's own transactions nest inside it).
      const result = inSavepoint(item.work);
      results.push(result);
      // A store error (disk full, I/O) is the store's, not the receipt's: the whole group is answered "failed" and
      // rolled back, so the group commits whole or not at all. A receipt's own failure (a used-up number range) only
      // undoes its savepoint.
      const failed = failedReceipt(item, result);
      if (failed?.code.startsWith("STORE_")) {
        lost = failed;
        break;
      }
      if (!db.inTransaction) {
        // SQLite rolled the whole transaction back (disk full, I/O error): the group is lost, the rest not run.
        lost =
          "error" in result
            ? storeError(result.error)
            : (failed ?? storeError(Object.assign(new Error("transaction lost"), { code: "SQLITE_IOERR" })));
        break;
      }
    }
    if (lost) {
      abandon(staged);
      log.error({ code: lost.code, items: batch.length }, "group lost");
      return lostFor(batch, lost);
    }
    const committing = performance.now();
    try {
      db.exec("COMMIT");
      deps.onTiming?.(results.length, committing - began, performance.now() - committing);
    } catch (cause) {
      abandon(staged);
      log.error({ err: cause, items: batch.length }, "group commit failed");
      return lostFor(batch, storeError(cause));
    }
    return results;
  };

  const flush = (): void => {
    scheduled = false;
    const waiting = queue;
    queue = [];
    if (waiting.length > 0) {
      const results = runGroup(waiting);
      const batch = waiting.slice(0, results.length);
      if (results.length < waiting.length) {
        // Over the time budget: the rest goes first in the next group, after these replies are out.
        queue = [...waiting.slice(results.length), ...queue];
        scheduled = true;
        setImmediate(flush);
      }
      const outcomes: RecordOutcome[] = [];
      batch.forEach((item, i) => {
        const r = results[i]!;
        if ("value" in r) {
          if (item.receipt) outcomes.push(r.value as RecordOutcome);
          item.resolve(r.value);
        } else item.reject(r.error);
      });
      if (outcomes.some((o) => o.status !== "failed")) {
        groups++;
        receipts += outcomes.length;
        largest = Math.max(largest, outcomes.length);
        try {
          deps.afterCommit?.(outcomes);
        } catch (error) {
          log.error({ err: error }, "afterCommit threw");
        }
      }
    }
    if (queue.length === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  const enqueue = (item: Queued): void => {
    queue.push(item);
    if (!scheduled) {
      scheduled = true;
      // After the I/O callbacks of this turn: every register whose bytes arrived now joins the group.
      setImmediate(flush);
    }
  };

  return {
    submit(work: GroupWork): Promise<RecordOutcome> {
      return new Promise<RecordOutcome>((resolve, reject) => {
        enqueue({ work, receipt: true, resolve: resolve as (value: unknown) => void, reject });
      });
    },
    join<T>(work: () => T): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        enqueue({ work, receipt: false, resolve: resolve as (value: unknown) => void, reject });
      });
    },
    now<T>(work: () => T): T {
      let staged: StagedChunks | undefined;
      db.exec("BEGIN IMMEDIATE");
      try {
        staged = journal?.stage();
        const value = work();
        db.exec("COMMIT");
        return value;
      } catch (error) {
        abandon(staged);
        throw error;
      }
    },
    idle(): Promise<void> {
      if (!scheduled && queue.length === 0) return Promise.resolve();
      return new Promise((resolve) => idleWaiters.push(resolve));
    },
    stats: () => ({ groups, receipts, largest }),
  };
}
