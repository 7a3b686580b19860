/**
 * WAL checkpoints off the hot path. SQLite's default runs a checkpoint inside the commit that pushes the WAL past
 * 1000 pages — on the event loop, in a register's receipt (several ms on a shared disk). Here the writer connection
 * never checkpoints by itself (`wal_autocheckpoint = 0`); a worker thread with its own connection runs PASSIVE
 * checkpoints when the writer has been quiet for `idleMs` (between sales: a checkpoint's fsync of the database file
 * slows a commit's fsync of the WAL on the same disk, and only a checkpoint that finishes between two commits lets the
 * WAL start over), and `journal_size_limit` truncates the WAL back to `keepWalBytes` after each restart, so a tiny
 * disk is not filled by an old WAL (issue 5). The writer marks its commits in a shared word; no messages per commit.
 *
 * Safety net, so the WAL can never grow without bound: if the worker dies, the writer gets its autocheckpoint back;
 * if the WAL still passes its limit (sustained writes leave no quiet moment, or the worker stalled), the writer
 * checkpoints itself, after its replies are out. The limit is `walLimitBytes` or a quarter of the disk's free space,
 * whichever is smaller, so a small disk is never filled by the WAL. After a writer checkpoint that could not finish
 * (disk full, a long reader) the next try waits `netEveryMs`.
 */
import { statfsSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "../shared/log.js";
import type { Db } from "./db.js";

export interface CheckpointOptions {
  /** How often the worker looks whether the writer is quiet. Default 20 ms. */
  readonly everyMs?: number;
  /** The writer is quiet when it has not committed for this long. Default 30 ms. */
  readonly idleMs?: number;
  /** Under sustained writes, the worker still checkpoints this often. Default 250 ms. */
  readonly maxWaitMs?: number;
  /** `journal_size_limit`: the WAL is truncated to this after a checkpoint lets it restart. Default 1 MiB. */
  readonly keepWalBytes?: number;
  /**
   * Past this WAL size the writer checkpoints itself (the safety net; under sustained writes a PASSIVE checkpoint in
   * another connection rarely finds the moment when every frame is copied, which the WAL needs to restart). Default
   * 4 MiB, where SQLite's own autocheckpoint would have run.
   */
  readonly walLimitBytes?: number;
  /** After a writer checkpoint that could not finish, the next try waits this long. Default 1000 ms. */
  readonly netEveryMs?: number;
}

export interface CheckpointStats {
  /** Checkpoints of the worker that copied pages. */
  readonly checkpoints: number;
  /** Checkpoints the writer ran itself (safety net). */
  readonly writerCheckpoints: number;
  readonly workerAlive: boolean;
  readonly lastError?: string;
}

export interface Checkpointer {
  /** Call after a commit on the writer: marks it busy, and runs the safety net when the WAL is over its limit. */
  afterCommit(): void;
  /** Stop the worker (its connection closes); call before closing the writer. */
  stop(): Promise<void>;
  stats(): CheckpointStats;
}

/** The autocheckpoint the writer gets back if the worker is gone (SQLite's default). */
const FALLBACK_AUTOCHECKPOINT = 1000;

// The worker is plain CommonJS given as text, so it runs the same from dist/ and from the TypeScript sources (tests).
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const Database = require(workerData.driver);
const db = new Database(workerData.path, { fileMustExist: true });
db.pragma("busy_timeout = 5000");
db.pragma("synchronous = FULL");
db.pragma("wal_autocheckpoint = 0");
db.pragma("journal_size_limit = " + Number(workerData.keepWalBytes));
const lastCommit = new BigInt64Array(workerData.shared);
let lastRun = 0;
const tick = () => {
  // While the writer is quiet (a PASSIVE checkpoint with nothing to copy only reads the WAL index); under sustained
  // writes still every maxWaitMs, so the writer's own checkpoint finds little left to copy.
  const now = Date.now();
  if (now - Number(Atomics.load(lastCommit, 0)) < workerData.idleMs && now - lastRun < workerData.maxWaitMs) return;
  lastRun = now;
  try {
    // The writer can restart the WAL only once every frame is copied: try again while it appended meanwhile.
    let row;
    for (let i = 0; i < 3; i++) {
      row = db.pragma("wal_checkpoint(PASSIVE)")[0];
      if (!row || row.log === row.checkpointed) break;
    }
    if (row && row.checkpointed > 0) parentPort.postMessage({ type: "checkpoint", log: row.log, checkpointed: row.checkpointed });
  } catch (e) {
    parentPort.postMessage({ type: "error", code: e && e.code, message: String(e && e.message) });
  }
};
const timer = setInterval(tick, workerData.everyMs);
parentPort.on("message", (m) => {
  if (m !== "stop") return;
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/** Start checkpointing the store at `path`, whose writer connection is `db`. */
export function startCheckpointer(db: Db, path: string, log: Logger, options: CheckpointOptions = {}): Checkpointer {
  const everyMs = options.everyMs ?? 20;
  const idleMs = options.idleMs ?? 30;
  const maxWaitMs = options.maxWaitMs ?? 250;
  const shared = new SharedArrayBuffer(8);
  const lastCommit = new BigInt64Array(shared);
  const keepWalBytes = options.keepWalBytes ?? 1 << 20;
  const walLimitBytes = options.walLimitBytes ?? 4 << 20;
  const netEveryMs = options.netEveryMs ?? 1_000;
  const walPath = `${path}-wal`;
  db.pragma(`journal_size_limit = ${keepWalBytes}`);
  db.pragma("wal_autocheckpoint = 0");

  let checkpoints = 0;
  let writerCheckpoints = 0;
  let workerAlive = true;
  let stopping = false;
  let lastError: string | undefined;
  let loggedError: string | undefined;
  let netScheduled = false;
  let retryAfter = 0;

  const fallBack = (why: string): void => {
    if (!workerAlive) return;
    workerAlive = false;
    if (stopping || !db.open) return;
    log.error({ err: why }, "checkpoint worker gone: the writer checkpoints by itself again");
    db.pragma(`wal_autocheckpoint = ${FALLBACK_AUTOCHECKPOINT}`);
  };

  const worker = new Worker(WORKER, {
    eval: true,
    workerData: {
      driver: createRequire(import.meta.url).resolve("better-sqlite3"),
      path,
      everyMs,
      idleMs,
      maxWaitMs,
      keepWalBytes,
      shared,
    },
  });
  worker.unref();
  worker.on("message", (m: { type: string; code?: string; message?: string }) => {
    if (m.type === "checkpoint") {
      checkpoints++;
      if (loggedError) log.info("checkpoints work again");
      loggedError = undefined;
    } else if (m.type === "error") {
      lastError = `${m.code ?? ""} ${m.message ?? ""}`.trim();
      // Disk full or a long reader: the safety net covers it; log once per kind of error.
      if (lastError !== loggedError) log.warn({ err: lastError }, "checkpoint failed");
      loggedError = lastError;
    }
  });
  worker.on("error", (error) => fallBack(error.message));
  const exited = new Promise<void>((resolve) => {
    worker.on("exit", (code) => {
      fallBack(`exit ${code}`);
      resolve();
    });
  });

  const walSize = (): number => {
    try {
      return statSync(walPath, { throwIfNoEntry: false })?.size ?? 0;
    } catch {
      return 0;
    }
  };

  const safetyNet = (): void => {
    netScheduled = false;
    if (!db.open || db.inTransaction) return;
    try {
      const row = (db.pragma("wal_checkpoint(PASSIVE)") as { busy: number; log: number; checkpointed: number }[])[0];
      writerCheckpoints++;
      // Finished: the next commit restarts the WAL (and trims it), so the size check alone paces the next one.
      if (row && row.busy === 0 && row.log === row.checkpointed) return;
    } catch (error) {
      log.warn({ err: error }, "writer checkpoint failed");
    }
    retryAfter = Date.now() + netEveryMs;
  };

  /** The WAL size past which the writer checkpoints: the limit, or a quarter of the free space (looked up each 1 s). */
  let limit = walLimitBytes;
  let limitAt = 0;
  const limitNow = (): number => {
    const now = Date.now();
    if (now - limitAt < 1_000) return limit;
    limitAt = now;
    try {
      const fs = statfsSync(dirname(path));
      limit = Math.max(64 << 10, Math.min(walLimitBytes, Math.floor((fs.bavail * fs.bsize) / 4)));
    } catch {
      limit = walLimitBytes;
    }
    return limit;
  };

  /** The safety net's size check: cheap (one stat), so after every commit. */
  const check = (): void => {
    if (netScheduled || Date.now() < retryAfter) return;
    if (walSize() <= limitNow()) return;
    netScheduled = true;
    // After the replies of this turn are out.
    setImmediate(safetyNet);
  };
  // The other writers of the connection (forwarder, journal flushes) do not call afterCommit: look once a second too.
  const sweep = setInterval(check, 1_000);
  sweep.unref();

  return {
    afterCommit(): void {
      Atomics.store(lastCommit, 0, BigInt(Date.now()));
      check();
    },
    async stop(): Promise<void> {
      stopping = true;
      clearInterval(sweep);
      // Unref'd while it runs (it must not keep a finished process alive); held now until its connection is closed.
      worker.ref();
      worker.postMessage("stop");
      await exited;
    },
    stats: () => ({ checkpoints, writerCheckpoints, workerAlive, ...(lastError ? { lastError } : {}) }),
  };
}
