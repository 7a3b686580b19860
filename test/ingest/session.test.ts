/**
 * The session's rules over in-memory links (no ports): reply after commit, problems quarantined, a throwing record()
 * or driver never stops the session, idle timer, reconnect with backoff, log only when the error changes, abort.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { datecsIsl } from "../../drivers/datecs-isl/index.js";
import { encodeReceipt, parseReply } from "../../drivers/ndjson/encode.js";
import { ndjson } from "../../drivers/ndjson/index.js";
import {
  concatBytes,
  type Decoder,
  type DecoderEvent,
  type Driver,
  defineDriver,
  lineFramer,
  utf8,
  utf8Text,
} from "../../src/driver-api/index.js";
import { eventToJson, replayCapture } from "../../src/ingest/capture.js";
import { createMemoryLink, type PortConnection, type PortSource } from "../../src/ingest/connection.js";
import {
  type RegisterSession,
  type RegisterSessionDeps,
  type SessionEvent,
  startRegisterSession,
} from "../../src/ingest/register-session.js";
import type { ReceiptInput } from "../../src/receipt/model.js";
import { systemClock } from "../../src/shared/clock.js";
import { datecsSender } from "../../src/simulator/datecs.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { ndjsonSender } from "../../src/simulator/sender.js";
import { fakeWritePath, memoryLogger, silent } from "./helpers.js";

/** A source whose every open makes a new in-memory link; tests get the register side. */
function memorySource(): PortSource & {
  failures: Error[];
  opens: number;
  nextRegisterSide(): Promise<PortConnection>;
} {
  const waiting: ((c: PortConnection) => void)[] = [];
  const ready: PortConnection[] = [];
  const source = {
    description: "memory",
    failures: [] as Error[],
    opens: 0,
    open(signal: AbortSignal): Promise<PortConnection> {
      source.opens++;
      if (signal.aborted) return Promise.reject(signal.reason);
      const failure = source.failures.shift();
      if (failure) return Promise.reject(failure);
      const { a, b } = createMemoryLink({ a: "memory:daemon", b: "memory:register" });
      const w = waiting.shift();
      if (w) w(b);
      else ready.push(b);
      return Promise.resolve(a);
    },
    close: (): Promise<void> => Promise.resolve(),
    nextRegisterSide(): Promise<PortConnection> {
      const r = ready.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
  };
  return source;
}

const RECEIPTS = generateReceipts({ seed: 42, count: 6, registerId: "QUAY1", startMs: Date.UTC(2026, 10, 20, 2) });

let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops) await stop();
  stops = [];
  vi.useRealTimers();
});

function start(overrides: Partial<RegisterSessionDeps> & Pick<RegisterSessionDeps, "record" | "quarantine">): {
  session: RegisterSession;
  events: SessionEvent[];
  abort: AbortController;
} {
  const abort = new AbortController();
  const events: SessionEvent[] = [];
  const session = startRegisterSession({
    register: { id: "quay1", port: "/dev/null-not-used" },
    driver: ndjson,
    options: ndjson.options.parse({}),
    clock: systemClock,
    log: silent,
    signal: abort.signal,
    onEvent: (e) => events.push(e),
    backoff: { minMs: 5, maxMs: 40 },
    ...overrides,
  });
  stops.push(async () => {
    abort.abort();
    await session.stopped;
  });
  return { session, events, abort };
}

/** Collect reply lines arriving at the register side. */
function replies(conn: PortConnection, order?: string[]): ReturnType<typeof parseReply>[] {
  const framer = lineFramer({ maxLength: 1 << 16 });
  const got: ReturnType<typeof parseReply>[] = [];
  conn.onData((bytes) => {
    for (const f of framer.push(bytes)) {
      if (f.type !== "line") continue;
      const r = parseReply(f.line);
      got.push(r);
      if (r?.type === "ack") order?.push(`ack:${r.id}`);
      if (r?.type === "nak") order?.push(`nak:${r.id}`);
    }
  });
  return got;
}

describe("register session", () => {
  it("records each receipt and writes its ack only after record() returned, in order", async () => {
    const wp = fakeWritePath();
    const source = memorySource();
    const { session, events } = start({ ...wp, source });
    const register = await source.nextRegisterSide();
    const got = replies(register, wp.order);
    // All six at once: the session must still answer them one by one, each after its own commit.
    await register.write(concatBytes(RECEIPTS.map((r) => encodeReceipt(r))));
    await vi.waitFor(() => expect(got).toHaveLength(6));
    expect(wp.order).toEqual(
      RECEIPTS.flatMap((r) => [`record:quay1/${r.receiptId}`]).concat(RECEIPTS.map((r) => `ack:${r.receiptId}`)),
    );
    expect(got.map((r) => r?.type === "ack" && r.status)).toEqual(Array(6).fill("ok"));
    expect(session.state()).toMatchObject({ registerId: "quay1", connected: true, receipts: 6, problems: 0 });
    expect(events.filter((e) => e.type === "receipt").map((e) => e.type === "receipt" && e.receiptId)).toEqual(
      RECEIPTS.map((r) => r.receiptId),
    );
    expect(wp.recorded[0]).toMatchObject({ registerId: "quay1", driverId: "ndjson-v1" });
    expect(utf8Text(wp.recorded[0]!.raw)).toBe(utf8Text(encodeReceipt(RECEIPTS[0]!)));
  });

  it("answers a throwing record() with a nak to resend, keeps the bytes, and keeps running", async () => {
    const wp = fakeWritePath();
    wp.throwOnce.add(RECEIPTS[1]!.receiptId);
    const source = memorySource();
    const { session } = start({ ...wp, source });
    const register = await source.nextRegisterSide();
    const results: string[] = [];
    const report = await ndjsonSender(register, RECEIPTS.slice(0, 3), {
      retryDelayMs: 5,
      onResult: (r) => results.push(`${r.id}:${r.status}:${r.attempts}`),
    });
    expect(report).toMatchObject({ sent: 3, acked: 3, nak: 0, retransmits: 1, stoppedBy: "done" });
    expect(results[1]).toBe(`${RECEIPTS[1]!.receiptId}:ok:2`);
    expect(wp.quarantined).toEqual([
      expect.objectContaining({
        code: "RECORD_FAILED",
        registerId: "quay1",
        detail: expect.stringContaining("disk on fire"),
      }),
    ]);
    expect(session.state()).toMatchObject({ connected: true, receipts: 3, problems: 1 });
  });

  it("quarantines problems with their raw bytes, sends their naks, and answers dup to a resend", async () => {
    const wp = fakeWritePath();
    const source = memorySource();
    const { session, events } = start({ ...wp, source });
    const register = await source.nextRegisterSide();
    const got = replies(register);
    const line = encodeReceipt(RECEIPTS[0]!);
    await register.write(concatBytes([utf8("{not json\n"), line, line, utf8('{"type":"ping"}\n')]));
    await vi.waitFor(() => expect(got).toHaveLength(4));
    expect(got).toEqual([
      expect.objectContaining({ type: "nak", id: null, code: "BAD_JSON", retry: true }),
      expect.objectContaining({ type: "ack", status: "ok", shdon: 1 }),
      expect.objectContaining({ type: "ack", status: "dup", shdon: 1 }),
      { type: "pong" },
    ]);
    expect(wp.quarantined).toEqual([expect.objectContaining({ code: "BAD_JSON", raw: utf8("{not json\n") })]);
    expect(events.some((e) => e.type === "problem" && e.code === "BAD_JSON")).toBe(true);
    expect(session.state()).toMatchObject({ receipts: 2, problems: 1 });
  });

  it("counts a receipt the write path rejects as a problem and passes its nak on", async () => {
    const wp = fakeWritePath();
    const source = memorySource();
    const { session } = start({ ...wp, source });
    const register = await source.nextRegisterSide();
    const got = replies(register);
    await register.write(utf8('{"type":"receipt","id":"X-1","ts":"yesterday","items":[],"total":-1}\n'));
    await vi.waitFor(() => expect(got).toHaveLength(1));
    expect(got[0]).toMatchObject({ type: "nak", id: "X-1", code: "RECEIPT_INVALID", retry: false });
    expect(session.state()).toMatchObject({ receipts: 0, problems: 1 });
  });

  it("survives a decoder that throws: the chunk is quarantined and a fresh decoder takes over", async () => {
    const wp = fakeWritePath();
    let made = 0;
    const fragile = defineDriver({
      ...ndjson,
      id: "fragile-v1",
      createDecoder: (options): Decoder => {
        const inner = ndjson.createDecoder(options);
        made++;
        return {
          push: (bytes: Uint8Array, now: number): DecoderEvent[] => {
            if (bytes[0] === 0x21) throw new Error("driver bug");
            return inner.push(bytes, now);
          },
          idle: (now: number): DecoderEvent[] => inner.idle(now),
        };
      },
    });
    const source = memorySource();
    const { session } = start({ ...wp, source, driver: fragile, options: ndjson.options.parse({}) });
    const register = await source.nextRegisterSide();
    const got = replies(register);
    await register.write(utf8("!boom"));
    await register.write(encodeReceipt(RECEIPTS[0]!));
    await vi.waitFor(() => expect(got).toHaveLength(1));
    expect(got[0]).toMatchObject({ type: "ack", status: "ok" });
    expect(wp.quarantined).toEqual([expect.objectContaining({ code: "DECODE_FAILED", raw: utf8("!boom") })]);
    expect(made).toBe(2);
    expect(session.state().problems).toBe(1);
  });

  it("runs the idle timer for drivers with idleMs and flushes at close", async () => {
    const wp = fakeWritePath();
    const idleCalls: number[] = [];
    const gap = defineDriver({
      ...ndjson,
      id: "gap-v1",
      idleMs: 30,
      createDecoder: (): Decoder => {
        let pending: Uint8Array[] = [];
        return {
          push: (bytes: Uint8Array): DecoderEvent[] => {
            pending.push(bytes);
            return [];
          },
          idle: (now: number): DecoderEvent[] => {
            idleCalls.push(now);
            if (pending.length === 0) return [];
            const raw = concatBytes(pending);
            pending = [];
            return [{ type: "problem", code: "UNKNOWN_RECORD", detail: "a burst", raw, reply: utf8("NAK\n") }];
          },
        };
      },
    });
    const source = memorySource();
    start({ ...wp, source, driver: gap, options: {} });
    const register = await source.nextRegisterSide();
    const seen: string[] = [];
    register.onData((b) => seen.push(utf8Text(b)!));
    await register.write(utf8("ab"));
    await register.write(utf8("cd"));
    await vi.waitFor(() => expect(seen).toEqual(["NAK\n"]));
    expect(wp.quarantined.map((q) => utf8Text(q.raw))).toEqual(["abcd"]);
    await register.close();
    await vi.waitFor(() => expect(idleCalls.length).toBeGreaterThanOrEqual(2));
  });

  it("reconnects with backoff after open failures and drops, with a fresh decoder each time", async () => {
    const wp = fakeWritePath();
    const source = memorySource();
    source.failures.push(new Error("ENOENT: no such file"), new Error("ENOENT: no such file"));
    const { session, events } = start({ ...wp, source });
    const first = await source.nextRegisterSide();
    expect(events.filter((e) => e.type === "open-failed")).toHaveLength(2);
    await vi.waitFor(() => expect(session.state().connected).toBe(true));
    // Half a line, then the cable goes: the half line is quarantined as TRUNCATED, not glued to the next line.
    await first.write(encodeReceipt(RECEIPTS[0]!).subarray(0, 50));
    await vi.waitFor(() => expect(session.state().connected).toBe(true));
    await first.close();
    const second = await source.nextRegisterSide();
    await vi.waitFor(() => expect(session.state().connected).toBe(true));
    const report = await ndjsonSender(second, RECEIPTS.slice(0, 2));
    expect(report).toMatchObject({ acked: 2 });
    expect(wp.quarantined.map((q) => q.code)).toEqual(["TRUNCATED"]);
    expect(events.map((e) => e.type)).toEqual([
      "open-failed",
      "open-failed",
      "port-up",
      "problem",
      "port-down",
      "port-up",
      "receipt",
      "receipt",
    ]);
    expect(session.state().lastError).toBe("ENOENT: no such file");
  });

  it("logs an open failure only when the error changes", async () => {
    const wp = fakeWritePath();
    const source = memorySource();
    const same = (): Error => new Error("Cannot lock port");
    source.failures.push(same(), same(), same(), new Error("EACCES"), new Error("EACCES"));
    const { log, lines } = memoryLogger();
    start({ ...wp, source, log });
    await source.nextRegisterSide();
    const warns = lines().filter((l) => l["msg"] === "port open failed");
    expect(warns.map((l) => l["err"])).toEqual(["Cannot lock port", "EACCES"]);
    expect(warns.every((l) => l["level"] === 40 && l["register"] === "quay1")).toBe(true);
    expect(lines().filter((l) => l["msg"] === "port open failed again")).toHaveLength(3);
  });

  it("stops cleanly on abort, while connected or while waiting to reconnect", async () => {
    const wp = fakeWritePath();
    const source = memorySource();
    const { session, abort, events } = start({ ...wp, source });
    const register = await source.nextRegisterSide();
    abort.abort();
    await session.stopped;
    expect(register.closed).toBe(true);
    expect(session.state().connected).toBe(false);
    expect(events.at(-1)?.type).toBe("stopped");

    const failing = memorySource();
    failing.failures.push(...Array.from({ length: 100 }, () => new Error("ENOENT")));
    const second = start({ ...wp, source: failing, backoff: { minMs: 10_000, maxMs: 10_000 } });
    await vi.waitFor(() => expect(failing.opens).toBe(1));
    second.abort.abort();
    await second.session.stopped;
    expect(failing.opens).toBe(1);
  });

  it("keeps a Datecs device decoder across an unplug: the POS goes on with its receipt; the stop ends one left open", async () => {
    const wp = fakeWritePath();
    const source = memorySource();
    const driverOptions = datecsIsl.options.parse({});
    const { abort, session, events } = start({
      ...wp,
      source,
      driver: datecsIsl as Driver<unknown>,
      options: driverOptions,
    });
    const sales = generateReceipts({ seed: 3, count: 3, registerId: "QUAY1", startMs: Date.UTC(2026, 10, 20, 2) });
    /** Unplug after the POS heard `n` answers: set-time, open, then the first line — mid-receipt. */
    const unplugAfter = (conn: PortConnection, n: number): void => {
      let answers = 0;
      conn.onData(() => {
        if (++answers === n) void conn.close();
      });
    };
    const first = await source.nextRegisterSide();
    unplugAfter(first, 3);
    const cut = await datecsSender(first, sales.slice(0, 2), { timeoutMs: 200 });
    expect(cut.stoppedBy).toBe("closed");
    const second = await source.nextRegisterSide();
    const rest = await datecsSender(second, [], { host: cut.host, timeoutMs: 200 });
    expect(rest.stoppedBy).toBe("done");
    expect(rest.results.map((r) => r.status)).toEqual(["ok", "ok"]);
    expect(wp.recorded.map((r) => (r.receipt as ReceiptInput).receiptId)).toEqual(rest.truth.map((r) => r.receiptId));
    expect(wp.quarantined).toEqual([]);

    // A receipt open when the session stops with the POS away: its bytes are kept, nothing is invoiced.
    await second.close();
    const third = await source.nextRegisterSide();
    // The cable stays out: the session is retrying the port when it is stopped.
    source.failures.push(...Array.from({ length: 100 }, () => new Error("ENOENT")));
    unplugAfter(third, 3);
    expect((await datecsSender(third, sales.slice(2), { timeoutMs: 200 })).stoppedBy).toBe("closed");
    await vi.waitFor(() => expect(events.at(-1)?.type).toBe("open-failed"));
    expect(wp.quarantined).toEqual([]);
    abort.abort();
    await session.stopped;
    expect(wp.recorded).toHaveLength(2);
    expect(wp.quarantined).toMatchObject([{ code: "TRUNCATED", detail: expect.stringContaining("left open") }]);
  });

  it("keeps going when an onEvent listener throws", async () => {
    const wp = fakeWritePath();
    const source = memorySource();
    const { session } = start({
      ...wp,
      source,
      onEvent: () => {
        throw new Error("listener bug");
      },
    });
    const register = await source.nextRegisterSide();
    expect(await ndjsonSender(register, RECEIPTS.slice(0, 1))).toMatchObject({ acked: 1 });
    expect(session.state().receipts).toBe(1);
  });

  it("writes a capture that replays to the same events", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hoadon-cap-"));
    try {
      const wp = fakeWritePath();
      const source = memorySource();
      const { abort, session } = start({ ...wp, source, capture: { dir } });
      const register = await source.nextRegisterSide();
      const input = concatBytes([encodeReceipt(RECEIPTS[0]!), utf8("garbage\n"), encodeReceipt(RECEIPTS[1]!)]);
      await register.write(input.subarray(0, 100));
      await register.write(input.subarray(100));
      await vi.waitFor(() => expect(session.state().receipts).toBe(2));
      abort.abort();
      await session.stopped;
      const files = readdirSync(dir);
      expect(files).toEqual([expect.stringMatching(/^quay1-\d{4}-\d{2}-\d{2}\.cap$/)]);
      const text = readFileSync(join(dir, files[0]!), "utf8");
      expect(text).toMatch(/^# register: quay1\n# driver: ndjson-v1\n/);
      expect(text).toMatch(/^\+\d+\s+> 7b 22 61 63 6b/m);
      const direct = ndjson.createDecoder(ndjson.options.parse({}));
      const expected = [...direct.push(input, 0), ...direct.idle(0)];
      expect(replayCapture(ndjson, ndjson.options.parse({}), text).map(eventToJson)).toEqual(expected.map(eventToJson));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("writes a capture that replays across an unplug as the session read it (a cut line is not glued to the next)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "hoadon-cap-"));
    try {
      const wp = fakeWritePath();
      const source = memorySource();
      const { abort, session } = start({ ...wp, source, capture: { dir } });
      const first = await source.nextRegisterSide();
      await first.write(encodeReceipt(RECEIPTS[0]!).subarray(0, 60));
      await vi.waitFor(() => expect(session.state().connected).toBe(true));
      await first.close();
      const second = await source.nextRegisterSide();
      expect(await ndjsonSender(second, RECEIPTS.slice(1, 2))).toMatchObject({ acked: 1 });
      abort.abort();
      await session.stopped;
      expect(wp.quarantined.map((q) => q.code)).toEqual(["TRUNCATED"]);
      const text = readFileSync(join(dir, readdirSync(dir)[0]!), "utf8");
      expect(text).toMatch(/^# disconnected: /m);
      const replayed = replayCapture(ndjson, ndjson.options.parse({}), text);
      expect(replayed.filter((e) => e.type === "problem").map((e) => e.type === "problem" && e.code)).toEqual([
        "TRUNCATED",
      ]);
      expect(
        replayed
          .filter((e) => e.type === "receipt")
          .map((e) => e.type === "receipt" && (e.receipt as ReceiptInput).receiptId),
      ).toEqual([RECEIPTS[1]!.receiptId]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a malformed port address at start (a config error)", () => {
    const wp = fakeWritePath();
    expect(() =>
      startRegisterSession({
        ...wp,
        register: { id: "x", port: "udp://1.2.3.4:5" },
        driver: ndjson,
        options: {},
        clock: systemClock,
        log: silent,
        signal: new AbortController().signal,
      }),
    ).toThrow(/unsupported port scheme/);
  });
});
