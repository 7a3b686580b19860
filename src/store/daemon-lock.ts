/**
 * One daemon per store, and a sure way for `hoadon status` to tell that it runs: the running daemon holds an
 * exclusive SQLite lock on `<store>-daemon.lock` for as long as it lives. The lock is a POSIX file lock, which the
 * kernel drops when the process ends however it ends (clean stop, crash, `kill -9`, power cut), and which every
 * process sees the same: a `hoadon status` in another pid namespace (the daemon in a container, status on the host),
 * or after a reboot gave the daemon's old pid to another program, still gets the truth. The lock file holds nothing;
 * it is never deleted (a process that opened the old file would lock a different one than the next daemon).
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";

/** The lock file beside the store. */
export const daemonLockPath = (storePath: string): string => `${storePath}-daemon.lock`;

/** The lock while this daemon holds it. */
export interface DaemonLock {
  /** Let go of the lock (the daemon stopped). */
  release(): void;
}

const isBusy = (error: unknown): boolean => {
  const code = (error as { code?: string } | null)?.code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
};

/**
 * Take the lock of the store at `storePath`, or `undefined` when another daemon holds it. Throws what the file system
 * says otherwise (a folder that cannot be written).
 */
export function takeDaemonLock(storePath: string): DaemonLock | undefined {
  mkdirSync(dirname(storePath), { recursive: true });
  // No waiting: a lock held now is held by a running daemon.
  const db = new Database(daemonLockPath(storePath), { timeout: 0 });
  try {
    // No rollback journal file: the lock file's content does not matter, and a stray journal would make readers try
    // to recover it.
    db.pragma("journal_mode = MEMORY");
    // Nor an fsync: the lock is what counts, not the bytes (it took ~20 ms of the daemon's start).
    db.pragma("synchronous = OFF");
    // Keep every lock taken until the connection closes: after the first write, the exclusive lock stays.
    db.pragma("locking_mode = EXCLUSIVE");
    // A write (the header's user_version) takes the exclusive lock, which that mode then keeps.
    db.exec("BEGIN EXCLUSIVE");
    db.pragma("user_version = 1");
    db.exec("COMMIT");
  } catch (error) {
    db.close();
    if (isBusy(error)) return undefined;
    throw error;
  }
  let held = true;
  return {
    release(): void {
      if (!held) return;
      held = false;
      db.close();
    },
  };
}

/**
 * Whether a daemon holds the lock of the store at `storePath` now; `undefined` when that cannot be told: no lock file
 * (no daemon of this version ever ran on it), or one this user may not read. Never creates or changes anything.
 */
export function daemonHoldsLock(storePath: string): boolean | undefined {
  const path = daemonLockPath(storePath);
  if (!existsSync(path)) return undefined;
  let db: Database.Database;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 0 });
  } catch (error) {
    if (isBusy(error)) return true;
    return undefined;
  }
  try {
    // Reading needs a shared lock, which the daemon's exclusive one refuses.
    db.prepare("SELECT count(*) FROM sqlite_master").get();
    return false;
  } catch (error) {
    if (isBusy(error)) return true;
    return undefined;
  } finally {
    db.close();
  }
}
