/**
 * TCP transports: a tcp-listen session fed by the simulator over TCP, a tcp:// session reconnecting to a serial
 * device server, and the one-connection-at-a-time rule.
 */
import { createServer, type Server, type Socket } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { encodeReceipt } from "../../drivers/ndjson/encode.js";
import { ndjson } from "../../drivers/ndjson/index.js";
import { utf8Text } from "../../src/driver-api/index.js";
import { type SessionEvent, startRegisterSession } from "../../src/ingest/register-session.js";
import { tcpConnectSource, tcpListenSource } from "../../src/ingest/tcp.js";
import { systemClock } from "../../src/shared/clock.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { startSimulatedRegister } from "../../src/simulator/register.js";
import { fakeWritePath, silent } from "./helpers.js";

const RECEIPTS = generateReceipts({ seed: 9, count: 8, registerId: "QUAY3", startMs: Date.UTC(2026, 10, 20, 2) });

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

function startSession(
  port: string,
  wp: ReturnType<typeof fakeWritePath>,
  backoff = { minMs: 10, maxMs: 100 },
): {
  events: SessionEvent[];
  state: () => ReturnType<ReturnType<typeof startRegisterSession>["state"]>;
} {
  const abort = new AbortController();
  const events: SessionEvent[] = [];
  const s = startRegisterSession({
    register: { id: "quay3", port },
    driver: ndjson,
    options: ndjson.options.parse({}),
    record: wp.record,
    quarantine: wp.quarantine,
    clock: systemClock,
    log: silent,
    signal: abort.signal,
    onEvent: (e) => events.push(e),
    backoff,
  });
  cleanups.push(async () => {
    abort.abort();
    await s.stopped;
  });
  return { events, state: s.state };
}

/** The address the session reported it listens on. */
function listeningOn(events: readonly SessionEvent[]): Promise<Extract<SessionEvent, { type: "listening" }>> {
  return vi.waitFor(() => {
    const e = events.find((x) => x.type === "listening");
    if (e?.type !== "listening") throw new Error("not yet");
    return e;
  });
}

describe("tcp-listen session", () => {
  it("takes receipts from the simulator over TCP, across a dropped connection", async () => {
    const wp = fakeWritePath();
    const { events, state } = startSession("tcp-listen://127.0.0.1:0", wp);
    const listening = await listeningOn(events);
    const sim = await startSimulatedRegister({ endpoint: "tcp", address: `tcp-listen://${listening.address}` });
    cleanups.push(() => sim.close());
    const results: string[] = [];
    const first = await sim.send(RECEIPTS.slice(0, 4), { onResult: (r) => results.push(r.reply?.type ?? "") });
    expect(first).toMatchObject({ sent: 4, acked: 4, pending: [], stoppedBy: "done" });
    expect(results).toEqual(["ack", "ack", "ack", "ack"]);

    await sim.unplug();
    await vi.waitFor(() => expect(state().connected).toBe(false));
    const second = await sim.send(RECEIPTS.slice(4));
    expect(second).toMatchObject({ sent: 4, acked: 4 });
    expect(state()).toMatchObject({ connected: true, receipts: 8 });
    expect(events.filter((e) => e.type === "port-up")).toHaveLength(2);
  });
});

describe("tcp-listen session: no backoff between connections", () => {
  it("serves the register's next connection at once after a drop, however often it drops", async () => {
    const wp = fakeWritePath();
    // A minute of backoff, were there any: the register (a device server reconnecting) must not wait for it.
    const { events, state } = startSession("tcp-listen://127.0.0.1:0", wp, { minMs: 60_000, maxMs: 60_000 });
    const listening = await listeningOn(events);
    const sim = await startSimulatedRegister({ endpoint: "tcp", address: `tcp-listen://${listening.address}` });
    cleanups.push(() => sim.close());
    for (const receipt of RECEIPTS.slice(0, 4)) {
      // The sender gives up after 3 × 1 s without an answer; the session's backoff would be 60 s.
      const report = await sim.send([receipt], { ackTimeoutMs: 1_000, maxAttempts: 3 });
      expect(report).toMatchObject({ acked: 1, stoppedBy: "done" });
      await sim.unplug();
      await vi.waitFor(() => expect(state().connected).toBe(false));
    }
    expect(events.filter((e) => e.type === "port-up")).toHaveLength(4);
  }, 20_000);
});

describe("tcp-listen source", () => {
  it("keeps one connection: a newer one replaces the older", async () => {
    const source = tcpListenSource({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => source.close());
    const signal = new AbortController().signal;
    const firstOpen = source.open(signal);
    await vi.waitFor(() => expect(source.address()).toBeDefined());
    const { port } = source.address()!;
    const c1 = tcpConnectSource({ host: "127.0.0.1", port });
    const reg1 = await c1.open(signal);
    const daemon1 = await firstOpen;
    const reg2 = await c1.open(signal);
    await vi.waitFor(() => expect(daemon1.closed).toBe(true));
    const daemon2 = await source.open(signal);
    const got: string[] = [];
    daemon2.onData((b) => got.push(utf8Text(b)!));
    await reg2.write(encodeReceipt(RECEIPTS[0]!));
    await vi.waitFor(() => expect(got.join("")).toContain(RECEIPTS[0]!.receiptId));
    await vi.waitFor(() => expect(reg1.closed).toBe(true));
    await daemon2.close();
    await reg2.close();
  });

  it("gives up waiting for a connection on abort, and reports a busy port", async () => {
    const source = tcpListenSource({ host: "127.0.0.1", port: 0 });
    cleanups.push(() => source.close());
    const abort = new AbortController();
    const waiting = source.open(abort.signal);
    await vi.waitFor(() => expect(source.address()).toBeDefined());
    abort.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow("stop");
    const busy = tcpListenSource({ host: "127.0.0.1", port: source.address()!.port });
    await expect(busy.open(new AbortController().signal)).rejects.toThrow(/EADDRINUSE/);
    await busy.close();
  });
});

describe("tcp:// session (serial device server)", () => {
  it("connects, reconnects after the server drops it, and keeps receiving", async () => {
    const sockets: Socket[] = [];
    const server: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    );
    const address = server.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const wp = fakeWritePath();
    const { state, events } = startSession(`tcp://127.0.0.1:${port}`, wp);
    await vi.waitFor(() => expect(sockets).toHaveLength(1));
    sockets[0]!.write(encodeReceipt(RECEIPTS[0]!));
    await vi.waitFor(() => expect(state().receipts).toBe(1));
    sockets[0]!.destroy();
    await vi.waitFor(() => expect(sockets).toHaveLength(2));
    const acks: string[] = [];
    sockets[1]!.on("data", (b: Buffer) => acks.push(b.toString("utf8")));
    sockets[1]!.write(encodeReceipt(RECEIPTS[1]!));
    await vi.waitFor(() => expect(acks.join("")).toContain(`"ack":"${RECEIPTS[1]!.receiptId}"`));
    expect(events.map((e) => e.type).filter((t) => t.startsWith("port"))).toEqual(["port-up", "port-down", "port-up"]);
  });

  it("retries while nothing listens", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const address = probe.address();
    const port = typeof address === "object" && address ? address.port : 0;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const wp = fakeWritePath();
    const { events } = startSession(`tcp://127.0.0.1:${port}`, wp);
    await vi.waitFor(() => expect(events.filter((e) => e.type === "open-failed").length).toBeGreaterThanOrEqual(2));
    expect(events[0]).toMatchObject({ type: "open-failed", error: expect.stringMatching(/ECONNREFUSED/) });
  });
});
