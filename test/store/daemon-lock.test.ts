/**
 * The store's daemon lock: one daemon per store, and `hoadon status` telling a running daemon from a stopped one by
 * the lock rather than by a pid (which another pid namespace cannot see, and a reboot can give to another program).
 * The holder is another process here, as it is in a shop: a kill -9 of it must free the lock.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { daemonHoldsLock, daemonLockPath, takeDaemonLock } from "../../src/store/daemon-lock.js";
import { openStore, openStoreReadOnly } from "../../src/store/db.js";
import { ingestStore } from "../../src/store/ingest.js";
import { daemonState } from "../../src/store/register-status.js";
import { holder, killed } from "../support/lock-holder.js";
import { tempDir } from "../support/tmp.js";

describe("daemon lock", () => {
  it("is held while its process lives, refused to a second taker, and freed by kill -9", async () => {
    const store = join(tempDir(), "data", "hoadon.sqlite");
    expect(daemonHoldsLock(store)).toBeUndefined();
    const first = await holder(store);
    expect(first.said).toBe("held");
    expect(existsSync(daemonLockPath(store))).toBe(true);
    expect(daemonHoldsLock(store)).toBe(true);
    // A second daemon, in this process or another, does not get it.
    expect(takeDaemonLock(store)).toBeUndefined();
    expect((await holder(store)).said).toBe("busy");
    await killed(first.child);
    expect(daemonHoldsLock(store)).toBe(false);
    const mine = takeDaemonLock(store);
    expect(mine).toBeDefined();
    expect(daemonHoldsLock(store)).toBe(true);
    mine!.release();
    mine!.release();
    expect(daemonHoldsLock(store)).toBe(false);
  });

  it("cannot tell from a lock file it cannot read (damaged, or another user's): undefined, so status asks the pid", () => {
    const store = join(tempDir(), "hoadon.sqlite");
    takeDaemonLock(store)!.release();
    writeFileSync(daemonLockPath(store), "not a database"); // root reads any file: a damaged one stands in
    expect(daemonHoldsLock(store)).toBeUndefined();
  });
});

describe("daemonState", () => {
  /** A store whose last run started with `pid` and never said it stopped. */
  function storeStartedBy(pid: number): string {
    const path = join(tempDir(), "hoadon.sqlite");
    const db = openStore(path);
    ingestStore(db).event(1_000, "daemon-start", null, { pid, registers: ["quay-1"] });
    db.close();
    return path;
  }
  // No process has this pid (Linux pids stop at 2^22): what a status in another pid namespace, or after a reboot, sees.
  const ABSENT_PID = 2 ** 22 + 7;

  it("running while the lock is held, whatever the recorded pid", async () => {
    const path = storeStartedBy(ABSENT_PID);
    const { child } = await holder(path);
    const db = openStoreReadOnly(path);
    try {
      expect(daemonState(db)).toMatchObject({ state: "running", run: { pid: ABSENT_PID, startedAt: 1_000 } });
      await killed(child);
      // The lock went with the process, and no stop was recorded: a crash, a kill -9 or a power cut.
      expect(daemonState(db)).toMatchObject({ state: "stopped-unclean", run: { pid: ABSENT_PID } });
    } finally {
      db.close();
    }
  });

  it("running when a daemon holds the lock but could not record its start", async () => {
    const path = join(tempDir(), "hoadon.sqlite");
    openStore(path).close();
    await holder(path);
    const db = openStoreReadOnly(path);
    try {
      expect(daemonState(db)).toEqual({ state: "running" });
    } finally {
      db.close();
    }
  });

  it("a store an older hoadon ran on (no lock file): the recorded pid decides", () => {
    const gone = openStoreReadOnly(storeStartedBy(ABSENT_PID));
    try {
      expect(daemonState(gone).state).toBe("stopped-unclean");
    } finally {
      gone.close();
    }
  });
});
