/**
 * Simulated registers end to end against a real session: over a socat pty (with unplug/replug in the middle of a
 * run) and over TCP.
 */
import { existsSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ndjson } from "../../drivers/ndjson/index.js";
import { type SessionEvent, startRegisterSession } from "../../src/ingest/register-session.js";
import { systemClock } from "../../src/shared/clock.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { hasSocat, startSimulatedRegister } from "../../src/simulator/index.js";
import { fakeWritePath, silent } from "../ingest/helpers.js";

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

function daemon(port: string, wp: ReturnType<typeof fakeWritePath>): { events: SessionEvent[] } {
  const abort = new AbortController();
  const events: SessionEvent[] = [];
  const s = startRegisterSession({
    register: { id: "quay1", port },
    driver: ndjson,
    options: ndjson.options.parse({}),
    record: wp.record,
    quarantine: wp.quarantine,
    clock: systemClock,
    log: silent,
    signal: abort.signal,
    onEvent: (e) => events.push(e),
    backoff: { minMs: 20, maxMs: 200 },
  });
  cleanups.push(async () => {
    abort.abort();
    await s.stopped;
  });
  return { events };
}

const RECEIPTS = generateReceipts({ seed: 77, count: 20, registerId: "QUAY1", startMs: Date.UTC(2026, 10, 20, 2) });

describe.skipIf(!hasSocat())("simulated register on a pty", () => {
  it("delivers every receipt exactly once across an unplug and replug", async () => {
    const sim = await startSimulatedRegister({ endpoint: "pty" });
    cleanups.push(() => sim.close());
    expect(existsSync(sim.daemonPort)).toBe(true);
    const wp = fakeWritePath();
    const { events } = daemon(sim.daemonPort, wp);
    const codes: string[] = [];
    let unplugged = false;
    const report = await sim.send(RECEIPTS, {
      ackTimeoutMs: 300,
      onResult: (r) => {
        codes.push(`${r.id} → ${r.reply?.type === "ack" ? r.reply.mccqt : r.status}`);
        if (codes.length === 8 && !unplugged) {
          unplugged = true;
          void sim.unplug().then(() => setTimeout(() => void sim.replug(), 150));
        }
      },
    });
    expect(report).toMatchObject({ sent: 20, nak: 0, unacked: 0, pending: [], stoppedBy: "done" });
    expect(report.acked + report.dup).toBe(20);
    expect(new Set(wp.recorded.map((r) => (r.receipt as { receiptId: string }).receiptId)).size).toBe(20);
    expect(codes[0]).toMatch(/^QUAY1-20261120-00001 → M1-26-TEST0-00000000001$/);
    expect(events.filter((e) => e.type === "port-up").length).toBeGreaterThanOrEqual(2);
  });
});

describe("simulated register over TCP", () => {
  it("connects to a tcp-listen daemon, waiting until it listens", async () => {
    const wp = fakeWritePath();
    const { events } = daemon("tcp-listen://127.0.0.1:0", wp);
    const address = await vi.waitFor(() => {
      const e = events.find((x) => x.type === "listening");
      if (e?.type !== "listening") throw new Error("not listening yet");
      return e.address;
    });
    const sim = await startSimulatedRegister({ endpoint: "tcp", address: `tcp-listen://${address}` });
    cleanups.push(() => sim.close());
    expect(sim.registerPort).toBe(address);
    const report = await sim.send(RECEIPTS.slice(0, 5), { crc: true });
    expect(report).toMatchObject({ sent: 5, acked: 5 });
  });

  it("refuses a serial path as a TCP address", async () => {
    await expect(startSimulatedRegister({ endpoint: "tcp", address: "/dev/ttyS0" })).rejects.toThrow(RangeError);
  });
});
