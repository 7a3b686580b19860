/**
 * When hoadon was not reading the registers, from the event log: gaps between runs (a clean stop; a run that never
 * said it stopped, ended at its last sign of life), port outages within a run with their errors, short drops only
 * counted, and the range filter.
 */
import { describe, expect, it } from "vitest";
import { lineOutages } from "../../src/audit/line-outages.js";
import { openStore } from "../../src/store/db.js";
import { ingestStore } from "../../src/store/ingest.js";

const MIN = 60_000;

function store() {
  const db = openStore(":memory:");
  const s = ingestStore(db);
  return {
    db,
    start: (at: number) => s.event(at, "daemon-start", null, { pid: 1, registers: ["q1"] }),
    stop: (at: number) => s.event(at, "daemon-stop", null, { pid: 1 }),
    up: (at: number, side = "register") => s.event(at, "port-up", "q1", { side, port: "/dev/ttyUSB0" }),
    down: (at: number, error?: string, side = "register") =>
      s.event(at, "port-down", "q1", { side, ...(error ? { error } : {}) }),
    failed: (at: number, error: string, side = "register") => s.event(at, "port-open-failed", "q1", { side, error }),
    receipt: (at: number) =>
      db
        .prepare(
          "INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json) VALUES ('q1', ?, 'x', ?, '', x'00', '{}')",
        )
        .run(`r${at}`, at),
  };
}

describe("line outages", () => {
  it("a cable out for 10 minutes, with the errors seen; a 2 s reconnect only counted", () => {
    const s = store();
    s.start(0);
    s.up(10);
    s.down(5 * MIN, "EIO");
    s.failed(5 * MIN + 100, "ENOENT");
    s.up(15 * MIN);
    s.down(20 * MIN);
    s.up(20 * MIN + 2_000);
    const r = lineOutages(s.db, { now: 30 * MIN });
    expect(r.outages).toEqual([
      {
        kind: "port",
        registerId: "q1",
        side: "register",
        start: 5 * MIN,
        end: 15 * MIN,
        durationMs: 10 * MIN,
        errors: ["EIO", "ENOENT"],
      },
    ]);
    expect(r.short).toBe(1);
  });

  it("a clean stop and a start: hoadon stopped in between; the ports going down at the stop are not outages", () => {
    const s = store();
    s.start(0);
    s.up(10);
    s.down(60 * MIN - 5);
    s.stop(60 * MIN);
    s.start(90 * MIN);
    s.up(90 * MIN + 50);
    const r = lineOutages(s.db, { now: 100 * MIN });
    expect(r.outages).toEqual([
      { kind: "hoadon-stopped", start: 60 * MIN, end: 90 * MIN, durationMs: 30 * MIN, errors: [] },
    ]);
    expect(r.short).toBe(0);
  });

  it("a run that never said it stopped ended at its last sign of life (a receipt after its last event)", () => {
    const s = store();
    s.start(0);
    s.up(10);
    s.receipt(40 * MIN);
    s.start(100 * MIN); // power back
    const r = lineOutages(s.db, { now: 110 * MIN });
    expect(r.outages).toEqual([
      { kind: "hoadon-not-closed", start: 40 * MIN, end: 100 * MIN, durationMs: 60 * MIN, errors: [] },
    ]);
  });

  it("a printer behind a tap that is still away, and a stop still going", () => {
    const s = store();
    s.start(0);
    s.up(10);
    s.failed(20, "ECONNREFUSED", "device");
    const going = lineOutages(s.db, { now: 10 * MIN });
    expect(going.outages).toEqual([
      {
        kind: "port",
        registerId: "q1",
        side: "device",
        start: 20,
        durationMs: 10 * MIN - 20,
        errors: ["ECONNREFUSED"],
      },
    ]);
    s.stop(11 * MIN);
    const stopped = lineOutages(s.db, { now: 20 * MIN });
    expect(stopped.outages.map((o) => [o.kind, o.side, o.start, o.end])).toEqual([
      ["port", "device", 20, 11 * MIN],
      ["hoadon-stopped", undefined, 11 * MIN, undefined],
    ]);
  });

  it("--from/--to keep the outages that overlap the range", () => {
    const s = store();
    s.start(0);
    s.stop(10 * MIN);
    s.start(20 * MIN);
    s.stop(30 * MIN);
    s.start(40 * MIN);
    const r = lineOutages(s.db, { now: 50 * MIN, from: 25 * MIN, to: 45 * MIN });
    expect(r.outages.map((o) => [o.start, o.end])).toEqual([[30 * MIN, 40 * MIN]]);
  });
});
