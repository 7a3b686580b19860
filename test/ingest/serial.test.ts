/**
 * Sessions on real ptys (socat pairs, register-protocols.md §3): unplug/replug, dangling links, the bindings-cpp#162
 * hot loop, two registers at once, hardware flow control, a bridge asked to mirror control lines a pty does not have. Skipped when socat is missing (CI: apt-get install socat).
 */
import { execFileSync } from "node:child_process";
import { pbkdf2 } from "node:crypto";
import { existsSync, lstatSync, realpathSync } from "node:fs";
import { autoDetect, type BindingInterface, type OpenOptions } from "@serialport/bindings-cpp";
import { SerialPortStream } from "@serialport/stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { escposTap } from "../../drivers/escpos-tap/index.js";
import { ndjson } from "../../drivers/ndjson/index.js";
import { LINES_EVERY_MS } from "../../src/ingest/bridge-session.js";
import type { PortConnection, PortSource } from "../../src/ingest/connection.js";
import {
  type RegisterSession,
  type RegisterSessionDeps,
  type SessionEvent,
  startRegisterSession,
} from "../../src/ingest/register-session.js";
import { openSerialPort, safeBinding } from "../../src/ingest/serial-port.js";
import { startSession } from "../../src/ingest/start-session.js";
import { systemClock } from "../../src/shared/clock.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { ndjsonSender } from "../../src/simulator/sender.js";
import { hasSocat, type SocatPair, startSocatPair } from "../../src/simulator/socat.js";
import { fakeWritePath, linkPaths, memoryLogger, SERIAL, silent } from "./helpers.js";

const receipts = (registerId: string, count: number, firstNumber = 1): ReturnType<typeof generateReceipts> =>
  generateReceipts({ seed: firstNumber, count, registerId, firstNumber, startMs: Date.UTC(2026, 10, 20, 2) });

let cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  cleanups = [];
});

async function socat(links: { a: string; b: string }): Promise<SocatPair> {
  const pair = await startSocatPair(links);
  cleanups.push(() => pair.stop("SIGKILL"));
  return pair;
}

function session(
  id: string,
  port: string,
  wp: ReturnType<typeof fakeWritePath>,
  extra: Partial<RegisterSessionDeps> = {},
): { s: RegisterSession; events: SessionEvent[] } {
  const abort = new AbortController();
  const events: SessionEvent[] = [];
  const s = startRegisterSession({
    register: { id, port },
    driver: ndjson,
    options: ndjson.options.parse({}),
    record: wp.record,
    quarantine: wp.quarantine,
    clock: systemClock,
    log: silent,
    signal: abort.signal,
    onEvent: (e) => events.push(e),
    backoff: { minMs: 20, maxMs: 200 },
    ...extra,
  });
  cleanups.push(async () => {
    abort.abort();
    await s.stopped;
  });
  return { s, events };
}

async function registerSide(path: string): Promise<PortConnection> {
  const conn = await vi.waitFor(() => openSerialPort(path, SERIAL), { timeout: 5_000, interval: 50 });
  cleanups.push(() => conn.close());
  return conn;
}

describe.skipIf(!hasSocat())("register session on socat ptys", () => {
  it("receives receipts and acks each one after record() returned", async () => {
    const links = linkPaths("basic");
    await socat(links);
    const wp = fakeWritePath();
    const { s } = session("quay1", links.a, wp);
    await vi.waitFor(() => expect(s.state().connected).toBe(true));
    const register = await registerSide(links.b);
    const sent = receipts("QUAY1", 5);
    const report = await ndjsonSender(register, sent, {
      onResult: (r) => wp.order.push(`ack:quay1/${r.id}`),
    });
    expect(report).toMatchObject({ sent: 5, acked: 5, retransmits: 0 });
    expect(wp.order).toEqual(sent.flatMap((r) => [`record:quay1/${r.receiptId}`, `ack:quay1/${r.receiptId}`]));
  });

  it("answers a throwing record() with a nak and keeps receiving", async () => {
    const links = linkPaths("throw");
    await socat(links);
    const wp = fakeWritePath();
    const sent = receipts("QUAY1", 3);
    wp.throwOnce.add(sent[0]!.receiptId);
    const { s } = session("quay1", links.a, wp);
    await vi.waitFor(() => expect(s.state().connected).toBe(true));
    const register = await registerSide(links.b);
    const naks: string[] = [];
    const report = await ndjsonSender(register, sent, {
      retryDelayMs: 10,
      onTransmit: (id, attempt) => attempt > 1 && naks.push(id),
    });
    expect(report).toMatchObject({ acked: 3, retransmits: 1 });
    expect(naks).toEqual([sent[0]!.receiptId]);
    expect(wp.quarantined.map((q) => q.code)).toEqual(["RECORD_FAILED"]);
    expect(s.state()).toMatchObject({ connected: true, receipts: 3, problems: 1 });
  });

  it.each(["SIGTERM", "SIGKILL"] as const)("reconnects after an unplug by %s and a replug", async (signal) => {
    const links = linkPaths(`unplug-${signal}`);
    const pair = await socat(links);
    const wp = fakeWritePath();
    const { s, events } = session("quay1", links.a, wp);
    await vi.waitFor(() => expect(s.state().connected).toBe(true));
    const before = await registerSide(links.b);
    expect(await ndjsonSender(before, receipts("QUAY1", 2))).toMatchObject({ acked: 2 });

    await pair.stop(signal);
    await vi.waitFor(() => expect(s.state().connected).toBe(false));
    if (signal === "SIGKILL") {
      // The links dangle: lstat sees them, open gets ENOENT.
      expect(lstatSync(links.a).isSymbolicLink()).toBe(true);
      expect(existsSync(links.a)).toBe(false);
    } else {
      expect(existsSync(links.a)).toBe(false);
    }
    await vi.waitFor(() => expect(events.some((e) => e.type === "open-failed")).toBe(true));

    await socat(links); // replug: same link names
    await vi.waitFor(() => expect(s.state().connected).toBe(true), { timeout: 5_000 });
    const after = await registerSide(links.b);
    expect(await ndjsonSender(after, receipts("QUAY1", 2, 3))).toMatchObject({ acked: 2 });
    expect(s.state()).toMatchObject({ connected: true, receipts: 4 });
    expect(events.filter((e) => e.type === "port-up")).toHaveLength(2);
    expect(events.find((e) => e.type === "port-down")).toMatchObject({ error: expect.any(String) });
  });

  it("keeps one register going while the other is unplugged", async () => {
    const l1 = linkPaths("two-1");
    const l2 = linkPaths("two-2");
    const p1 = await socat(l1);
    await socat(l2);
    const wp = fakeWritePath();
    const a = session("quay1", l1.a, wp);
    const b = session("quay2", l2.a, wp);
    await vi.waitFor(() => expect(a.s.state().connected && b.s.state().connected).toBe(true));
    const ra = await registerSide(l1.b);
    const rb = await registerSide(l2.b);
    const [first, second] = await Promise.all([
      ndjsonSender(ra, receipts("QUAY1", 3)),
      ndjsonSender(rb, receipts("QUAY2", 3)),
    ]);
    expect([first.acked, second.acked]).toEqual([3, 3]);

    await p1.stop("SIGTERM");
    await vi.waitFor(() => expect(a.s.state().connected).toBe(false));
    expect(await ndjsonSender(rb, receipts("QUAY2", 5, 4))).toMatchObject({ acked: 5 });
    expect(b.s.state()).toMatchObject({ connected: true, receipts: 8, problems: 0 });
    expect(a.s.state()).toMatchObject({ connected: false, receipts: 3 });
    expect(b.events.some((e) => e.type === "port-down")).toBe(false);
  });

  it("sees a disconnect instead of spinning when the pty hangs up before the first read (bindings-cpp#162)", async () => {
    const links = linkPaths("hotloop");
    const pair = await socat(links);
    const wp = fakeWritePath();
    // Kill socat inside open, after the fd exists and before the stream issues its first read.
    const base = safeBinding();
    const hangingUp: BindingInterface = {
      list: () => base.list(),
      open: async (options: OpenOptions) => {
        const port = await base.open(options);
        await pair.stop("SIGTERM");
        return port;
      },
    };
    let opened = false;
    const source: PortSource = {
      description: links.a,
      open: async () => {
        if (opened) throw new Error("ENOENT (test: no replug)");
        opened = true;
        return openSerialPort(links.a, SERIAL, { binding: hangingUp });
      },
      close: async () => {},
    };
    const { events } = session("quay1", links.a, wp, { source, backoff: { minMs: 1_000, maxMs: 1_000 } });
    await vi.waitFor(() => expect(events.some((e) => e.type === "port-up")).toBe(true));
    const cpu0 = process.cpuUsage();
    await vi.waitFor(() => expect(events.some((e) => e.type === "port-down")).toBe(true), { timeout: 1_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cpu = process.cpuUsage(cpu0);
    expect(events.find((e) => e.type === "port-down")).toMatchObject({ error: expect.stringMatching(/hung up/) });
    // A spinning read burns ~300 ms of CPU in 300 ms; the fixed binding idles.
    expect((cpu.user + cpu.system) / 1000).toBeLessThan(100);
  });

  it("documents the bug: the stock binding spins on a pty hung up before the first read", async () => {
    const links = linkPaths("hotloop-stock");
    const pair = await socat(links);
    const stock = autoDetect() as BindingInterface;
    const hangingUp: BindingInterface = {
      list: () => stock.list(),
      open: async (options: OpenOptions) => {
        const port = await stock.open(options);
        await pair.stop("SIGTERM");
        return port;
      },
    };
    const port = new SerialPortStream({ binding: hangingUp, path: links.a, baudRate: 115_200, autoOpen: false });
    const seen: string[] = [];
    port.on("error", () => seen.push("error"));
    port.on("close", () => seen.push("close"));
    await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
    const cpu0 = process.cpuUsage();
    port.on("data", () => seen.push("data"));
    await new Promise((resolve) => setTimeout(resolve, 300));
    const cpu = process.cpuUsage(cpu0);
    const seenWhileSpinning = [...seen];
    // Closing the port ends the loop (the read sees fd === null).
    await new Promise<void>((resolve) => port.close(() => resolve()));
    // If this fails, bindings-cpp fixed #162 and the workaround in serial-port.ts can go.
    expect(seenWhileSpinning).toEqual([]);
    expect((cpu.user + cpu.system) / 1000).toBeGreaterThan(100);
  });
});

describe.skipIf(!hasSocat())("flow control and control lines on socat ptys", () => {
  const sttyOf = (path: string): string => execFileSync("stty", ["-F", realpathSync(path), "-a"], { encoding: "utf8" });

  it("puts the tty in hardware flow control (CRTSCTS) with flowControl: rtscts, and not by default", async () => {
    const links = linkPaths("rtscts");
    await socat(links);
    const plain = await registerSide(links.a);
    expect(sttyOf(links.a)).toMatch(/(^|\s)-crtscts(\s|$)/);
    await plain.close();
    const flow = await vi.waitFor(() => openSerialPort(links.a, { ...SERIAL, flowControl: "rtscts" }), {
      timeout: 5_000,
    });
    cleanups.push(() => flow.close());
    expect(sttyOf(links.a)).toMatch(/(^|\s)crtscts(\s|$)/);
  });

  it("bridges a pty pair with mirrorLines on: ptys have no control lines, so it says so once and passes bytes", async () => {
    const posLink = linkPaths("mirror-pos");
    const printerLink = linkPaths("mirror-printer");
    await socat(posLink);
    await socat(printerLink);
    const memory = memoryLogger("warn");
    const abort = new AbortController();
    const bridge = startSession({
      register: { id: "quay1", port: posLink.a, devicePort: printerLink.a, mirrorLines: true },
      driver: escposTap,
      options: escposTap.options.parse({ role: "bridge" }),
      ...fakeWritePath(),
      clock: systemClock,
      log: memory.log,
      signal: abort.signal,
    });
    cleanups.push(async () => {
      abort.abort();
      await bridge.stopped;
    });
    const pos = await registerSide(posLink.b);
    const printer = await registerSide(printerLink.b);
    const got: Uint8Array[] = [];
    printer.onData((b) => got.push(b));
    const bytes = new TextEncoder().encode("\x1b@Cà phê sữa đá 29.000\n");
    await pos.write(bytes);
    await vi.waitFor(() => expect(Buffer.concat(got)).toEqual(Buffer.from(bytes)));
    // Many polls later, still one line per port in the log.
    await new Promise((r) => setTimeout(r, 10 * LINES_EVERY_MS));
    const warned = memory.lines().filter((l) => String(l["msg"]).startsWith("control lines unavailable"));
    expect(warned.map((l) => l["side"]).sort()).toEqual(["device", "register"]);
  });
});

describe.skipIf(!hasSocat())("reads and writes off libuv's thread pool", () => {
  it("moves bytes both ways while every pool thread is busy (16 registers must not queue behind 4 threads)", async () => {
    const links = linkPaths("pool");
    await socat(links);
    const a = await registerSide(links.a);
    const b = await registerSide(links.b);
    const order: string[] = [];
    a.onData(() => void a.write(new TextEncoder().encode("pong\n")).then(() => order.push("a wrote")));
    const got = new Promise<void>((resolve) =>
      b.onData(() => {
        order.push("b read");
        resolve();
      }),
    );
    // Every thread of the pool busy for a second or more (pbkdf2 runs there).
    const threads = Number(process.env.UV_THREADPOOL_SIZE ?? 4);
    const busy = Array.from(
      { length: threads },
      () =>
        new Promise<void>((resolve) =>
          pbkdf2("pw", "salt", 3_000_000, 64, "sha512", () => {
            order.push("pool free");
            resolve();
          }),
        ),
    );
    await b.write(new TextEncoder().encode("ping\n"));
    await got;
    await Promise.all(busy);
    expect(order.slice(0, 2).sort()).toEqual(["a wrote", "b read"]);
  });
});
