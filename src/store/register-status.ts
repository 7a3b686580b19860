/**
 * What `hoadon status` says per register, read from the store: whether hoadon is running (the store's daemon lock,
 * its `daemon-start` / `daemon-stop` events), each port's state in the current run (the port log,
 * src/ingest/port-log.ts), the register's sales today and the device it reported itself as. Reads only recent rows:
 * the port log back to the run's start, receipts back to midnight.
 */
import { readFileSync } from "node:fs";
import type { DeviceIdentity } from "../ingest/journal-sink.js";
import { daemonHoldsLock } from "./daemon-lock.js";
import type { Db } from "./db.js";
import { changedIdentityFields } from "./journal.js";

/** The last time hoadon started on this store, and whether it stopped cleanly since. */
export interface DaemonRun {
  /** The `events.id` of its start: port-log rows after it belong to this run. */
  readonly eventId: number;
  readonly pid: number;
  readonly startedAt: number;
  /** The registers it was configured with. */
  readonly registers: readonly string[];
  /** Set when it stopped cleanly; unset while it runs, or after it stopped without closing (power cut, crash). */
  readonly stoppedAt?: number;
}

export function lastDaemonRun(db: Db): DaemonRun | undefined {
  const start = db
    .prepare<[], { id: number; at: number; detail: string }>(
      "SELECT id, at, detail FROM events WHERE kind = 'daemon-start' ORDER BY id DESC LIMIT 1",
    )
    .get();
  if (!start) return undefined;
  const { pid, registers = [] } = JSON.parse(start.detail) as { pid: number; registers?: string[] };
  const stop = db
    .prepare<[number], { at: number }>(
      "SELECT at FROM events WHERE kind = 'daemon-stop' AND id > ? ORDER BY id LIMIT 1",
    )
    .get(start.id);
  return { eventId: start.id, pid, startedAt: start.at, registers, ...(stop ? { stoppedAt: stop.at } : {}) };
}

/** Whether hoadon runs on this store now. */
export type DaemonState =
  | { readonly state: "never" }
  /** `run` is missing while the daemon starts (the lock is taken before its start is recorded), or when it could not
   * record it (a full disk). */
  | { readonly state: "running"; readonly run?: DaemonRun }
  | { readonly state: "stopped"; readonly run: DaemonRun }
  /** Started and never said it stopped, and it is gone: a power cut, a crash or `kill -9`. */
  | { readonly state: "stopped-unclean"; readonly run: DaemonRun };

/**
 * Whether hoadon runs on the store `db` was opened on: a daemon holds the store's lock (src/store/daemon-lock.ts),
 * and its last recorded start. A store a hoadon without the lock last ran on: whether that run's process is alive,
 * unless `askPid` is false (a copied store, read on another machine: its pid means nothing there).
 */
export function daemonState(
  db: Db,
  run: DaemonRun | undefined = lastDaemonRun(db),
  { askPid = true }: { readonly askPid?: boolean } = {},
): DaemonState {
  const held = db.name === ":memory:" ? undefined : daemonHoldsLock(db.name);
  if (held === true) return run && run.stoppedAt === undefined ? { state: "running", run } : { state: "running" };
  if (!run) return { state: "never" };
  if (run.stoppedAt !== undefined) return { state: "stopped", run };
  if (held === false || !askPid) return { state: "stopped-unclean", run };
  return { state: processAlive(run.pid) ? "running" : "stopped-unclean", run };
}

/** The process is alive and (where /proc says) is a hoadon, not another that got its pid after a reboot. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").includes("hoadon");
  } catch {
    return true;
  }
}

/** One port of a register as the port log last saw it. */
export interface PortState {
  readonly side: "register" | "device";
  /**
   * `up`: connected; `down`: the connection went and has not come back; `failing`: it cannot be opened;
   * `listening`: a `tcp-listen://` port waiting for its first connection.
   */
  readonly state: "up" | "down" | "failing" | "listening";
  /** Since when it is in this state (up: the connection's start; down or failing: when the line was lost). */
  readonly since: number;
  readonly port?: string;
  /** The latest error (down or failing). */
  readonly error?: string;
}

interface PortRow {
  readonly kind: "port-listening" | "port-up" | "port-down" | "port-open-failed";
  readonly at: number;
  readonly detail: string;
}

/** The state of each port of `registerId` in the run that began at event `sinceEventId` (none seen: no entry). */
export function portStates(db: Db, registerId: string, sinceEventId: number): PortState[] {
  const rows = db
    .prepare<[string, number], PortRow>(
      `SELECT kind, at, detail FROM events
        WHERE register_id = ? AND id > ? AND kind IN ('port-listening', 'port-up', 'port-down', 'port-open-failed')
        ORDER BY id DESC`,
    )
    .iterate(registerId, sinceEventId);
  const found = new Map<"register" | "device", PortState>();
  const settled = new Set<string>();
  for (const row of rows) {
    const detail = JSON.parse(row.detail) as { side?: "register" | "device"; port?: string; error?: string };
    const side = detail.side ?? "register";
    if (settled.has(side)) continue;
    const newest = found.get(side);
    if (row.kind === "port-listening") {
      // Bound and waiting: the state itself when nothing came after it; else it ends an outage's look-back.
      if (!newest)
        found.set(side, { side, state: "listening", since: row.at, ...(detail.port ? { port: detail.port } : {}) });
      settled.add(side);
    } else if (!newest) {
      found.set(side, {
        side,
        state: row.kind === "port-up" ? "up" : row.kind === "port-down" ? "down" : "failing",
        since: row.at,
        ...(detail.port === undefined ? {} : { port: detail.port }),
        ...(detail.error === undefined ? {} : { error: detail.error }),
      });
      if (row.kind === "port-up") settled.add(side);
    } else if (row.kind === "port-up") {
      // The line was lost when this connection ended: the rows after it (newer) said so.
      settled.add(side);
    } else {
      // An older failure or drop of the same outage: the outage began then.
      found.set(side, { ...newest, since: row.at });
      if (row.kind === "port-down") settled.add(side);
    }
    if (settled.size === 2) break;
  }
  return [...found.values()].sort((a, b) => (a.side === b.side ? 0 : a.side === "register" ? -1 : 1));
}

/** A register's sales as the store has them. */
export interface RegisterActivity {
  /** Receipts received since local midnight (`dayStart`). */
  readonly today: number;
  /** The latest receipt: its register id and when we received it. */
  readonly last?: { readonly receiptId: string; readonly at: number };
}

/**
 * Receipts per register since `dayStart` (reading back from the newest until midnight), and each listed register's
 * latest receipt (for one that sold nothing today: a search back from the newest row for it).
 */
export function registerActivity(
  db: Db,
  registerIds: readonly string[],
  dayStart: number,
): Map<string, RegisterActivity> {
  const counts = new Map<string, { today: number; last?: { receiptId: string; at: number } }>();
  const rows = db
    .prepare<[], { register_id: string; receipt_id: string; received_at: number }>(
      "SELECT register_id, receipt_id, received_at FROM receipts ORDER BY id DESC",
    )
    .iterate();
  for (const row of rows) {
    if (row.received_at < dayStart) break;
    const c = counts.get(row.register_id) ?? { today: 0 };
    c.today++;
    c.last ??= { receiptId: row.receipt_id, at: row.received_at };
    counts.set(row.register_id, c);
  }
  const lastOf = db.prepare<[string], { receipt_id: string; received_at: number }>(
    "SELECT receipt_id, received_at FROM receipts NOT INDEXED WHERE register_id = ? ORDER BY id DESC LIMIT 1",
  );
  const out = new Map<string, RegisterActivity>();
  for (const id of registerIds) {
    const c = counts.get(id);
    if (c) {
      out.set(id, c);
      continue;
    }
    const row = lastOf.get(id);
    out.set(id, { today: 0, ...(row ? { last: { receiptId: row.receipt_id, at: row.received_at } } : {}) });
  }
  return out;
}

/** What a register (or the printer it prints on) last reported about itself, as pinned (issue 4 item 6). */
export interface RegisterIdentity extends DeviceIdentity {
  /** Since when it is this device: its first report, or the change to it. */
  readonly since: number;
  /** The latest change of device or firmware: when, the fields that changed, and what they were before. */
  readonly changed?: {
    readonly at: number;
    readonly fields: readonly (keyof DeviceIdentity)[];
    readonly previous: DeviceIdentity;
  };
}

interface IdentityRow {
  readonly id: number;
  readonly at: number;
  readonly serial: string | null;
  readonly model: string | null;
  readonly firmware: string | null;
  readonly changed: number;
}

const IDENTITY_FIELDS = ["model", "serial", "firmware"] as const;

const identityOf = (row: IdentityRow): DeviceIdentity => {
  const out: { -readonly [K in keyof DeviceIdentity]: string } = {};
  for (const f of IDENTITY_FIELDS) if (row[f] !== null) out[f] = row[f];
  return out;
};

/** The pinned identity of `registerId` (none reported yet: `undefined`), from its `register_identity` rows. */
export function registerIdentity(db: Db, registerId: string): RegisterIdentity | undefined {
  const rows = db.prepare<[string], IdentityRow>(
    "SELECT id, at, serial, model, firmware, changed FROM register_identity WHERE register_id = ? ORDER BY id DESC",
  );
  let current: IdentityRow | undefined;
  let change: IdentityRow | undefined;
  let first: IdentityRow | undefined;
  // Newest first: the pin now, back to the latest change and the pin before it (or to the first report).
  for (const row of rows.iterate(registerId)) {
    current ??= row;
    first = row;
    if (change) {
      const previous = identityOf(row);
      const fields = changedIdentityFields(previous, identityOf(change));
      return { ...identityOf(current), since: change.at, changed: { at: change.at, fields, previous } };
    }
    if (row.changed === 1) change = row;
  }
  if (!current || !first) return undefined;
  return { ...identityOf(current), since: first.at };
}

/** A change of a register's device or firmware, as the pins recorded it. */
export interface IdentityChange {
  readonly registerId: string;
  readonly at: number;
  readonly fields: readonly (keyof DeviceIdentity)[];
  readonly previous: DeviceIdentity;
  readonly current: DeviceIdentity;
}

/** Every change of any register's device or firmware, oldest first (the pins are a short table: one row a change). */
export function identityChanges(db: Db): IdentityChange[] {
  const last = new Map<string, DeviceIdentity>();
  const out: IdentityChange[] = [];
  for (const row of db
    .prepare<[], IdentityRow & { register_id: string }>(
      "SELECT id, register_id, at, serial, model, firmware, changed FROM register_identity ORDER BY id",
    )
    .iterate()) {
    const current = identityOf(row);
    const previous = last.get(row.register_id);
    last.set(row.register_id, current);
    if (row.changed !== 1 || !previous) continue;
    out.push({
      registerId: row.register_id,
      at: row.at,
      fields: changedIdentityFields(previous, current),
      previous,
      current,
    });
  }
  return out;
}
