/**
 * The port log (session events → event-log rows, changes only) and what `hoadon status` reads back from it: each
 * port's state in the current run and since when, and the day's receipts per register.
 */
import { describe, expect, it } from "vitest";
import { type PortLogEntry, portLog, type SessionEvent } from "../../src/ingest/index.js";
import { openStore } from "../../src/store/db.js";
import { ingestStore } from "../../src/store/ingest.js";
import { identityPins } from "../../src/store/journal.js";
import {
  identityChanges,
  lastDaemonRun,
  portStates,
  registerActivity,
  registerIdentity,
} from "../../src/store/register-status.js";

const R = "quay-1";

/** A store with a daemon start, and the port log of `events` written into it as the daemon does. */
function storeWith(events: readonly SessionEvent[]) {
  const db = openStore(":memory:");
  const store = ingestStore(db);
  store.event(1, "daemon-start", null, { pid: 42, registers: [R] });
  const kept: PortLogEntry[] = [];
  const log = portLog((e) => {
    kept.push(e);
    store.event(e.at, e.kind, e.registerId, e.detail);
  });
  for (const e of events) log(e);
  return { db, store, kept };
}

const up = (at: number, side?: "register" | "device"): SessionEvent => ({
  type: "port-up",
  registerId: R,
  port: "/dev/ttyUSB0",
  ...(side ? { side } : {}),
  at,
});
const down = (at: number, error?: string, side?: "register" | "device"): SessionEvent => ({
  type: "port-down",
  registerId: R,
  ...(error ? { error } : {}),
  ...(side ? { side } : {}),
  at,
});
const failed = (at: number, error: string, side?: "register" | "device"): SessionEvent => ({
  type: "open-failed",
  registerId: R,
  error,
  retryInMs: 100,
  ...(side ? { side } : {}),
  at,
});

describe("port log", () => {
  it("keeps a port that keeps failing with the same error as one row, a new error as another", () => {
    const { kept } = storeWith([
      failed(10, "ENOENT"),
      failed(20, "ENOENT"),
      failed(30, "ENOENT"),
      failed(40, "EACCES"),
      up(50),
      failed(70, "ENOENT"), // after a connection: a new outage, kept again
    ]);
    expect(kept.map((e) => [e.kind, e.at])).toEqual([
      ["port-open-failed", 10],
      ["port-open-failed", 40],
      ["port-up", 50],
      ["port-open-failed", 70],
    ]);
  });

  it("ignores what is not about ports", () => {
    const { kept } = storeWith([{ type: "stopped", registerId: R, at: 5 }]);
    expect(kept).toEqual([]);
  });
});

describe("port states", () => {
  it("a listening port: waiting for the register until it connects, and after a drop the drop counts", () => {
    const listening: SessionEvent = { type: "listening", registerId: R, address: "0.0.0.0:9100", at: 5 };
    const waiting = storeWith([listening]);
    expect(portStates(waiting.db, R, lastDaemonRun(waiting.db)!.eventId)).toEqual([
      { side: "register", state: "listening", since: 5, port: "0.0.0.0:9100" },
    ]);
    const dropped = storeWith([listening, up(10), down(20)]);
    expect(portStates(dropped.db, R, lastDaemonRun(dropped.db)!.eventId)).toEqual([
      { side: "register", state: "down", since: 20 },
    ]);
  });

  it("up: since the connection came", () => {
    const { db } = storeWith([failed(10, "ENOENT"), up(20), down(30, "EIO"), up(40)]);
    expect(portStates(db, R, lastDaemonRun(db)!.eventId)).toEqual([
      { side: "register", state: "up", since: 40, port: "/dev/ttyUSB0" },
    ]);
  });

  it("down then failing to reopen: one outage, since the line was lost, with the latest error", () => {
    const { db } = storeWith([up(20), down(30, "EIO"), failed(31, "ENOENT"), failed(90, "EACCES")]);
    expect(portStates(db, R, lastDaemonRun(db)!.eventId)).toEqual([
      { side: "register", state: "failing", since: 30, error: "EACCES" },
    ]);
  });

  it("never opened: failing since the first try", () => {
    const { db } = storeWith([failed(10, "ENOENT"), failed(20, "EACCES")]);
    expect(portStates(db, R, lastDaemonRun(db)!.eventId)).toEqual([
      { side: "register", state: "failing", since: 10, error: "EACCES" },
    ]);
  });

  it("a bridge: each side on its own", () => {
    const { db } = storeWith([up(10, "register"), failed(11, "ECONNREFUSED", "device"), up(12, "device")]);
    const more = storeWith([]);
    expect(portStates(db, R, lastDaemonRun(db)!.eventId)).toEqual([
      { side: "register", state: "up", since: 10, port: "/dev/ttyUSB0" },
      { side: "device", state: "up", since: 12, port: "/dev/ttyUSB0" },
    ]);
    expect(portStates(more.db, R, lastDaemonRun(more.db)!.eventId)).toEqual([]);
  });

  it("only the current run counts: a new start forgets the last run's ports; a clean stop is seen", () => {
    const { db, store } = storeWith([up(10)]);
    store.event(20, "daemon-stop", null, { pid: 42 });
    expect(lastDaemonRun(db)).toEqual({ eventId: 1, pid: 42, startedAt: 1, registers: [R], stoppedAt: 20 });
    store.event(30, "daemon-start", null, { pid: 43, registers: [R] });
    const run = lastDaemonRun(db)!;
    expect(run).toMatchObject({ pid: 43, startedAt: 30 });
    expect(run.stoppedAt).toBeUndefined();
    expect(portStates(db, R, run.eventId)).toEqual([]);
  });
});

describe("register activity", () => {
  it("counts the receipts since midnight per register and finds the last one of a register idle today", () => {
    const db = openStore(":memory:");
    const ins = db.prepare(
      "INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json) VALUES (?, ?, 'x', ?, '', x'00', '{}')",
    );
    ins.run("quay-2", "B-1", 50);
    ins.run("quay-1", "A-1", 90);
    ins.run("quay-1", "A-2", 110);
    ins.run("quay-1", "A-3", 120);
    const got = registerActivity(db, ["quay-1", "quay-2", "quay-3"], 100);
    expect(got.get("quay-1")).toEqual({ today: 2, last: { receiptId: "A-3", at: 120 } });
    expect(got.get("quay-2")).toEqual({ today: 0, last: { receiptId: "B-1", at: 50 } });
    expect(got.get("quay-3")).toEqual({ today: 0 });
  });
});

describe("register identity", () => {
  it("the pin now, since when it is this device, and its latest change with what it was before", () => {
    const db = openStore(":memory:");
    const pin = identityPins(db);
    expect(registerIdentity(db, R)).toBeUndefined();
    pin(R, { model: "FP-700", serial: "DT000001" }, 1_000);
    pin(R, { model: "FP-700", serial: "DT000001" }, 2_000); // the same report: no new row
    pin(R, { model: "FP-700", serial: "DT000001", firmware: "1.0" }, 3_000); // a field added, not a change
    expect(registerIdentity(db, R)).toEqual({ model: "FP-700", serial: "DT000001", firmware: "1.0", since: 1_000 });
    pin(R, { model: "FP-700", serial: "DT000001", firmware: "1.1" }, 4_000); // firmware updated
    pin("quay-2", { model: "TM-T82II", serial: "X5E0001" }, 4_500);
    pin(R, { model: "FP-700", serial: "DT000099", firmware: "1.1" }, 5_000); // the register swapped
    expect(registerIdentity(db, R)).toEqual({
      model: "FP-700",
      serial: "DT000099",
      firmware: "1.1",
      since: 5_000,
      changed: { at: 5_000, fields: ["serial"], previous: { model: "FP-700", serial: "DT000001", firmware: "1.1" } },
    });
    expect(registerIdentity(db, "quay-2")).toEqual({ model: "TM-T82II", serial: "X5E0001", since: 4_500 });
    expect(identityChanges(db)).toEqual([
      {
        registerId: R,
        at: 4_000,
        fields: ["firmware"],
        previous: { model: "FP-700", serial: "DT000001", firmware: "1.0" },
        current: { model: "FP-700", serial: "DT000001", firmware: "1.1" },
      },
      {
        registerId: R,
        at: 5_000,
        fields: ["serial"],
        previous: { model: "FP-700", serial: "DT000001", firmware: "1.1" },
        current: { model: "FP-700", serial: "DT000099", firmware: "1.1" },
      },
    ]);
  });
});
