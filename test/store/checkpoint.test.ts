/**
 * WAL checkpoints off the hot path (src/store/checkpoint.ts), on real SQLite files: the worker keeps the WAL bounded
 * while the writer never checkpoints itself; when the worker does nothing the writer's safety net does; when the
 * worker is gone the writer gets SQLite's autocheckpoint back.
 */
import { statSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as delay, setImmediate as turn } from "node:timers/promises";
import { afterEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../src/shared/log.js";
import { type Checkpointer, startCheckpointer } from "../../src/store/checkpoint.js";
import { type Db, openStore } from "../../src/store/db.js";
import { tempDir } from "../support/tmp.js";

let open: { db: Db; ck: Checkpointer }[] = [];
afterEach(async () => {
  for (const { db, ck } of open) {
    await ck.stop();
    db.close();
  }
  open = [];
});

/**
 * `commits` commits of one 8 KiB row each in bursts of 20 (registers selling at once), with `pauseMs` between
 * bursts; the largest WAL seen.
 */
async function write(db: Db, path: string, commits: number, ck: Checkpointer, pauseMs: number): Promise<number> {
  db.exec("CREATE TABLE IF NOT EXISTS filler (v BLOB)");
  const insert = db.prepare("INSERT INTO filler VALUES (randomblob(8192))");
  let largest = 0;
  for (let i = 1; i <= commits; i++) {
    insert.run();
    ck.afterCommit();
    largest = Math.max(largest, statSync(`${path}-wal`).size);
    await turn();
    if (i % 20 === 0) await delay(pauseMs);
  }
  return largest;
}

describe("checkpointer", () => {
  it("keeps the WAL bounded with checkpoints in a worker between bursts; the writer never checkpoints", async () => {
    const path = join(tempDir(), "store.sqlite");
    const db = openStore(path);
    const ck = startCheckpointer(db, path, silentLogger, { everyMs: 5, idleMs: 15, keepWalBytes: 256 << 10 });
    open.push({ db, ck });
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(0);
    // 2000 × 8 KiB ≈ 16 MiB through the WAL; without checkpoints it would hold all of it.
    const largest = await write(db, path, 2000, ck, 40);
    expect(largest).toBeLessThan(2 << 20);
    await vi.waitFor(() => expect(ck.stats().checkpoints).toBeGreaterThan(0));
    expect(ck.stats()).toMatchObject({ writerCheckpoints: 0, workerAlive: true });
  });

  it("checkpoints on the writer when the WAL passes its limit and the worker did not", async () => {
    const path = join(tempDir(), "store.sqlite");
    const db = openStore(path);
    // A worker that never gets round to it.
    const ck = startCheckpointer(db, path, silentLogger, {
      everyMs: 3_600_000,
      keepWalBytes: 256 << 10,
      walLimitBytes: 1 << 20,
      netEveryMs: 0,
    });
    open.push({ db, ck });
    const largest = await write(db, path, 1000, ck, 0);
    expect(ck.stats().writerCheckpoints).toBeGreaterThan(0);
    expect(largest).toBeLessThan(3 << 20);
  });

  it("gives the writer its autocheckpoint back when the worker is gone", async () => {
    const dir = tempDir();
    const path = join(dir, "store.sqlite");
    const db = openStore(path);
    // The worker cannot open its connection: it dies at once.
    const ck = startCheckpointer(db, join(dir, "missing", "store.sqlite"), silentLogger);
    open.push({ db, ck });
    await vi.waitFor(() => expect(ck.stats().workerAlive).toBe(false));
    expect(db.pragma("wal_autocheckpoint", { simple: true })).toBe(1000);
  });
});
