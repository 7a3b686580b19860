/**
 * Issue 4 item 7: 16 registers on one box at once, each on its own socat pty pair with its own session; every sale
 * answered after its commit, one register's unplug and replug seen by that register only. Skipped when socat is
 * missing (CI installs it).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { ndjson } from "../../drivers/ndjson/index.js";
import type { PortConnection } from "../../src/ingest/connection.js";
import { type RegisterSession, type SessionEvent, startRegisterSession } from "../../src/ingest/register-session.js";
import { openSerialPort } from "../../src/ingest/serial-port.js";
import { systemClock } from "../../src/shared/clock.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { ndjsonSender } from "../../src/simulator/sender.js";
import { hasSocat, type SocatPair, startSocatPair } from "../../src/simulator/socat.js";
import { fakeWritePath, linkPaths, SERIAL, silent } from "./helpers.js";

const COUNT = 16;

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

describe.skipIf(!hasSocat())("16 registers at once on socat ptys", () => {
  it("answers every sale of every register, and an unplugged register troubles no other", async () => {
    const wp = fakeWritePath();
    const abort = new AbortController();
    const regs: {
      id: string;
      links: { a: string; b: string };
      pair: SocatPair;
      session: RegisterSession;
      events: SessionEvent[];
    }[] = [];
    for (let i = 0; i < COUNT; i++) {
      const links = linkPaths(`many-${i}`);
      const pair = await startSocatPair(links);
      cleanups.push(() => pair.stop("SIGKILL"));
      const events: SessionEvent[] = [];
      const session = startRegisterSession({
        register: { id: `quay${i + 1}`, port: links.a },
        driver: ndjson,
        options: ndjson.options.parse({}),
        ...wp,
        clock: systemClock,
        log: silent,
        signal: abort.signal,
        onEvent: (e) => events.push(e),
        backoff: { minMs: 20, maxMs: 200 },
      });
      cleanups.push(async () => {
        abort.abort();
        await session.stopped;
      });
      regs.push({ id: `QUAY${i + 1}`, links, pair, session, events });
    }
    await vi.waitFor(() => expect(regs.every((r) => r.session.state().connected)).toBe(true), { timeout: 10_000 });

    const open = async (path: string): Promise<PortConnection> => {
      const conn = await vi.waitFor(() => openSerialPort(path, SERIAL), { timeout: 5_000, interval: 50 });
      cleanups.push(() => conn.close());
      return conn;
    };
    const sides = await Promise.all(regs.map((r) => open(r.links.b)));
    const batch = (r: (typeof regs)[number], first: number, n: number) =>
      generateReceipts({
        seed: first,
        count: n,
        registerId: r.id,
        firstNumber: first,
        startMs: Date.UTC(2026, 10, 20, 2),
      });
    const reports = await Promise.all(regs.map((r, i) => ndjsonSender(sides[i]!, batch(r, 1, 10))));
    expect(reports.map((r) => r.acked)).toEqual(Array(COUNT).fill(10));
    expect(wp.recorded).toHaveLength(COUNT * 10);

    // Unplug four registers; the other twelve keep selling meanwhile.
    const unplugged = regs.slice(0, 4);
    await Promise.all(unplugged.map((r) => r.pair.stop("SIGTERM")));
    await vi.waitFor(() => expect(unplugged.every((r) => !r.session.state().connected)).toBe(true));
    const during = await Promise.all(regs.slice(4).map((r, i) => ndjsonSender(sides[i + 4]!, batch(r, 11, 5))));
    expect(during.map((r) => r.acked)).toEqual(Array(COUNT - 4).fill(5));
    for (const r of regs.slice(4)) expect(r.events.some((e) => e.type === "port-down")).toBe(false);

    // Replug: same link names; they reconnect on their own and go on.
    for (const r of unplugged) {
      const pair = await startSocatPair(r.links);
      cleanups.push(() => pair.stop("SIGKILL"));
    }
    await vi.waitFor(() => expect(unplugged.every((r) => r.session.state().connected)).toBe(true), { timeout: 10_000 });
    const again = await Promise.all(unplugged.map(async (r) => ndjsonSender(await open(r.links.b), batch(r, 11, 5))));
    expect(again.map((r) => r.acked)).toEqual(Array(4).fill(5));
    expect(wp.recorded).toHaveLength(COUNT * 15);
    expect(regs.map((r) => r.session.state().receipts)).toEqual(Array(COUNT).fill(15));
  }, 60_000);
});
