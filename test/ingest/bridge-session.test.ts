/**
 * The two-port session over in-memory links: pass-through first, the held cut released with the footer after the
 * commit, independent reconnects (printer absent ≠ register absent), fail-open on a decoder bug, identity pins, the
 * raw capture journal with the receipt's byte range, and the dispatcher that picks the session for a role.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { datecsIsl } from "../../drivers/datecs-isl/index.js";
import { escposTap } from "../../drivers/escpos-tap/index.js";
import {
  concatBytes,
  type DecoderEvent,
  type Driver,
  defineDriver,
  type RecordOutcome,
  type TapDecoder,
  toHex,
} from "../../src/driver-api/index.js";
import { type BridgeSession, LINES_EVERY_MS } from "../../src/ingest/bridge-session.js";
import type { DeviceIdentity, IdentityObservation } from "../../src/ingest/journal-sink.js";
import type { RecordInput, SessionEvent } from "../../src/ingest/register-session.js";
import { type SessionDeps, startSession } from "../../src/ingest/start-session.js";
import type { ReceiptInput } from "../../src/receipt/model.js";
import { systemClock } from "../../src/shared/clock.js";
import { datecsSender } from "../../src/simulator/datecs.js";
import { escposJobs, startPrinterEmulator } from "../../src/simulator/escpos.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { openStore } from "../../src/store/db.js";
import { journalWriter, readJournalRange, verifyJournal } from "../../src/store/journal.js";
import { fakeWritePath, memoryPortSource, silent } from "./helpers.js";

const RECEIPTS = generateReceipts({ seed: 5, count: 6, registerId: "QUAY1", startMs: Date.UTC(2026, 10, 20, 2) });
const JOBS = escposJobs(RECEIPTS, { codePage: "cp1258", cut: "GS V 66" });

let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops.reverse()) await stop();
  stops = [];
});

function bridge(
  extra: Partial<SessionDeps> = {},
  options: object = {},
  printerDown = false,
  driver: Driver<unknown> = escposTap as Driver<unknown>,
) {
  const pos = memoryPortSource("pos");
  const printer = memoryPortSource("printer");
  printer.down = printerDown;
  const wp = fakeWritePath();
  const events: SessionEvent[] = [];
  const abort = new AbortController();
  const session = startSession({
    register: { id: "quay1", port: "unused", devicePort: "unused" },
    driver,
    options:
      driver === (escposTap as Driver<unknown>)
        ? escposTap.options.parse({ role: "bridge", ...options })
        : driver.options.parse({ role: "tap", ...options }),
    record: wp.record,
    quarantine: wp.quarantine,
    clock: systemClock,
    log: silent,
    signal: abort.signal,
    onEvent: (e) => events.push(e),
    backoff: { minMs: 5, maxMs: 20 },
    sources: { register: pos, device: printer },
    ...extra,
  }) as BridgeSession;
  stops.push(async () => {
    abort.abort();
    await session.stopped;
  });
  return { session, pos, printer, wp, events, abort };
}

describe("bridge session", () => {
  it("writes the bytes before the cut to the printer before recording, then the footer and the cut after it", async () => {
    const order: string[] = [];
    const wpBase = fakeWritePath();
    const { session, pos, printer } = bridge({
      record: (input: RecordInput): RecordOutcome => {
        order.push(...printer.log.splice(0), "record");
        return wpBase.record(input);
      },
      quarantine: wpBase.quarantine,
    });
    const posSide = await pos.nextPeer();
    const printerSide = await printer.nextPeer();
    const emulator = startPrinterEmulator(printerSide);
    await vi.waitFor(() => expect(session.state()).toMatchObject({ connected: true, deviceConnected: true }));
    const job = JOBS[0]!.bytes;
    await posSide.write(job);
    await emulator.waitForCuts(1);
    order.push(...printer.log.splice(0));
    // One write with everything before the cut, then record(), then one write with footer + cut.
    expect(order).toEqual([`write:${job.length - 4}`, "record", expect.stringMatching(/^write:\d+$/)]);
    const [page] = emulator.pages();
    expect(toHex(page!.bytes.subarray(0, job.length - 4))).toBe(toHex(job.subarray(0, job.length - 4)));
    expect(toHex(page!.bytes.subarray(page!.bytes.length - 4))).toBe("1d564203");
    expect(emulator.text(page!)).toContain("Mã CQT: M1-26-TEST0-00000000001");
    expect(page!.qr).toEqual(["qr-1"]);
    expect(session.state()).toMatchObject({ receipts: 1, problems: 0, droppedToDevice: 0 });
  });

  it("passes the printer's status answers back to the POS unchanged", async () => {
    const { session, pos, printer } = bridge();
    const posSide = await pos.nextPeer();
    startPrinterEmulator(await printer.nextPeer(), { state: { paper: "near-end" } });
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    const got: number[] = [];
    posSide.onData((b) => got.push(...b));
    await posSide.write(Uint8Array.of(0x10, 0x04, 0x04, 0x1d, 0x72, 0x01));
    await vi.waitFor(() => expect(got).toEqual([0x1e, 0x03]));
  });

  it("keeps reading the POS and invoicing while the printer is absent; prints again once it is back", async () => {
    const { session, pos, printer, wp, events } = bridge({}, {}, true);
    const posSide = await pos.nextPeer();
    await posSide.write(concatBytes([JOBS[0]!.bytes, JOBS[1]!.bytes]));
    await vi.waitFor(() => expect(wp.recorded).toHaveLength(2));
    expect(session.state()).toMatchObject({ connected: true, deviceConnected: false, receipts: 2 });
    expect(session.state().droppedToDevice).toBeGreaterThan(JOBS[0]!.bytes.length);
    expect(events.some((e) => e.type === "open-failed" && e.error.includes("device"))).toBe(true);

    printer.down = false;
    const emulator = startPrinterEmulator(await printer.nextPeer());
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    await posSide.write(JOBS[2]!.bytes);
    await emulator.waitForCuts(1);
    expect(emulator.text(emulator.pages()[0]!)).toContain("M1-26-TEST0-00000000003");
  });

  it("reconnects the POS side on its own while the printer stays connected", async () => {
    const { session, pos, printer, wp } = bridge();
    const first = await pos.nextPeer();
    const emulator = startPrinterEmulator(await printer.nextPeer());
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    await first.write(JOBS[0]!.bytes);
    await emulator.waitForCuts(1);
    await first.close();
    const second = await pos.nextPeer();
    await second.write(JOBS[1]!.bytes);
    await emulator.waitForCuts(2);
    expect(wp.recorded).toHaveLength(2);
    expect(printer.opens).toBe(1);
    expect(pos.opens).toBe(2);
    expect(session.state()).toMatchObject({ connected: true, deviceConnected: true });
  });

  it("releases only the cut when the write path rejects or fails", async () => {
    const { session, pos, printer } = bridge({
      record: (): RecordOutcome => ({ status: "failed", code: "STORE_FULL", message: "full" }),
    });
    const posSide = await pos.nextPeer();
    const emulator = startPrinterEmulator(await printer.nextPeer());
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    await posSide.write(JOBS[0]!.bytes);
    await emulator.waitForCuts(1);
    expect(toHex(emulator.pages()[0]!.bytes)).toBe(toHex(JOBS[0]!.bytes));
  });

  it("passes a chunk through raw when the decoder throws, and keeps going with a fresh decoder", async () => {
    let made = 0;
    const fragile = defineDriver({
      ...escposTap,
      id: "fragile-tap-v1",
      createTapDecoder: (options): TapDecoder => {
        const inner = escposTap.createTapDecoder!(options);
        made++;
        return {
          push: (bytes, now, from): DecoderEvent[] => {
            if (from === "register" && bytes[0] === 0x99) throw new Error("driver bug");
            return inner.push(bytes, now, from);
          },
          idle: (now) => inner.idle(now),
          link: (side, up, now) => inner.link!(side, up, now),
        };
      },
    });
    const { session, pos, printer, wp } = bridge({ driver: fragile });
    const posSide = await pos.nextPeer();
    const emulator = startPrinterEmulator(await printer.nextPeer());
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    await posSide.write(Uint8Array.of(0x99, 0x41, 0x42));
    await vi.waitFor(() => expect(toHex(emulator.received())).toBe("994142"));
    expect(wp.quarantined).toEqual([expect.objectContaining({ code: "DECODE_FAILED" })]);
    await posSide.write(JOBS[0]!.bytes);
    await emulator.waitForCuts(1);
    expect(wp.recorded).toHaveLength(1);
    expect(made).toBe(2);
  });

  it("pins the printer's identity from its GS I answers and reports a swap", async () => {
    const seen: IdentityObservation[] = [];
    let pin: DeviceIdentity | undefined;
    const identity = (_id: string, i: DeviceIdentity): IdentityObservation => {
      const o: IdentityObservation =
        pin === undefined
          ? { status: "pinned", identity: i }
          : pin.model === i.model
            ? { status: "same", identity: i }
            : { status: "changed", identity: i, previous: pin };
      pin = i;
      seen.push(o);
      return o;
    };
    const { session, pos, printer, events } = bridge({ identity });
    const posSide = await pos.nextPeer();
    const emulator = startPrinterEmulator(await printer.nextPeer());
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    await posSide.write(Uint8Array.of(0x1d, 0x49, 67));
    await vi.waitFor(() => expect(seen).toHaveLength(1));
    emulator.set({ identity: { model: "XP-Q200" } });
    await posSide.write(Uint8Array.of(0x1d, 0x49, 67));
    await vi.waitFor(() => expect(seen).toHaveLength(2));
    expect(seen.map((s) => s.status)).toEqual(["pinned", "changed"]);
    expect(events.filter((e) => e.type === "identity").map((e) => e.type === "identity" && e.status)).toEqual([
      "pinned",
      "changed",
    ]);
  });

  it("journals every byte on both ports and gives each receipt the journal range of its bytes", async () => {
    const db = openStore(":memory:");
    const journal = journalWriter(db);
    const { session, pos, printer, wp } = bridge({ journal });
    const posSide = await pos.nextPeer();
    const emulator = startPrinterEmulator(await printer.nextPeer());
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    await posSide.write(Uint8Array.of(0x10, 0x04, 0x01));
    await posSide.write(concatBytes([JOBS[0]!.bytes, JOBS[1]!.bytes.subarray(0, 50)]));
    await posSide.write(JOBS[1]!.bytes.subarray(50));
    await emulator.waitForCuts(2);
    await vi.waitFor(() => expect(wp.recorded).toHaveLength(2));
    journal.flush();
    for (const input of wp.recorded) {
      expect(input.journal).toMatchObject({ registerId: "quay1", side: "register", direction: "in" });
      expect(toHex(readJournalRange(db, input.journal!)!)).toBe(toHex(input.raw));
    }
    expect(wp.recorded[0]!.journal!.start).toBe(0);
    expect(wp.recorded[1]!.journal!.start).toBe(wp.recorded[0]!.journal!.end);
    const out = readJournalRange(db, {
      registerId: "quay1",
      side: "device",
      direction: "out",
      start: 0,
      end: emulator.received().length,
    });
    expect(toHex(out!)).toBe(toHex(emulator.received()));
    expect(verifyJournal(db)).toMatchObject({ ok: true, streams: 4 });
    db.close();
  });
});

describe("bridge session: a Datecs POS unplugged mid-receipt (tap role)", () => {
  it("follows the receipt the printer kept open when the POS comes back, and invoices it once", async () => {
    const { pos, printer, wp, session } = bridge({}, {}, false, datecsIsl as Driver<unknown>);
    // The fiscal printer: hoadon's own device-role decoder, answering at once and storing every close.
    const OK: RecordOutcome = {
      status: "ok",
      invoice: { mccqt: "M1-26-TEST0-00000000001", khmshdon: "1", khhdon: "C26MAB", shdon: 1, qr: "q" },
    };
    const printerSide = await printer.nextPeer();
    const fiscal = datecsIsl.createDecoder(datecsIsl.options.parse({}));
    printerSide.onData((bytes) => {
      for (const e of fiscal.push(bytes, Date.now())) {
        if (e.type === "reply") void printerSide.write(e.bytes);
        if (e.type === "problem" && e.reply) void printerSide.write(e.reply);
        if (e.type === "receipt") void printerSide.write(e.reply(OK)!);
      }
    });
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    const sales = generateReceipts({ seed: 8, count: 2, registerId: "QUAY1", startMs: Date.UTC(2026, 10, 20, 2) });
    const first = await pos.nextPeer();
    let answers = 0;
    first.onData(() => {
      if (++answers === 3) void first.close(); // set-time, open, the first line: the receipt is open
    });
    const cut = await datecsSender(first, sales, { timeoutMs: 300 });
    expect(cut.stoppedBy).toBe("closed");
    const second = await pos.nextPeer();
    const rest = await datecsSender(second, [], { host: cut.host, timeoutMs: 300 });
    expect(rest.results.map((r) => r.status)).toEqual(["ok", "ok"]);
    await vi.waitFor(() => expect(wp.recorded).toHaveLength(2));
    expect(wp.recorded.map((r) => (r.receipt as ReceiptInput).receiptId)).toEqual(rest.truth.map((r) => r.receiptId));
    expect(wp.quarantined).toEqual([]);
  });
});

describe("bridge session: the printer's control lines (mirrorLines)", () => {
  const mirrored = () => bridge({ register: { id: "quay1", port: "unused", devicePort: "unused", mirrorLines: true } });

  it("shows the POS the printer's busy and offline as a cable would, and both low while it is unplugged", async () => {
    const { pos, printer, session } = mirrored();
    const posSide = await pos.nextPeer();
    const printerSide = await printer.nextPeer();
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    const posSees = async () => {
      const { dsr, cts } = await posSide.lines!.get();
      return { dsr, cts };
    };
    // The printer is ready: what a port shows after opening.
    await expect(posSees()).resolves.toEqual({ dsr: true, cts: true });
    // Busy on CTS (its RTS low), then offline (its DTR low too), then ready again.
    await printerSide.lines!.set({ dtr: true, rts: false });
    await vi.waitFor(async () => expect(await posSees()).toEqual({ dsr: true, cts: false }));
    await printerSide.lines!.set({ dtr: false, rts: false });
    await vi.waitFor(async () => expect(await posSees()).toEqual({ dsr: false, cts: false }));
    // Whatever the lines say, the POS's bytes are read and passed on (nothing waits on them).
    await posSide.write(JOBS[0]!.bytes.subarray(0, 40));
    await vi.waitFor(() => expect(printer.log.join()).toContain("write:40"));
    await printerSide.lines!.set({ dtr: true, rts: true });
    await vi.waitFor(async () => expect(await posSees()).toEqual({ dsr: true, cts: true }));
    // Unplugged: nothing drives the lines, as on a cable to a printer that is off.
    printer.down = true;
    await printerSide.close();
    await vi.waitFor(async () => expect(await posSees()).toEqual({ dsr: false, cts: false }));
  });

  it("leaves the lines alone when mirrorLines is off", async () => {
    const { pos, printer, session } = bridge();
    const posSide = await pos.nextPeer();
    const printerSide = await printer.nextPeer();
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    await printerSide.lines!.set({ dtr: false, rts: false });
    await new Promise((r) => setTimeout(r, 5 * LINES_EVERY_MS));
    await expect(posSide.lines!.get()).resolves.toMatchObject({ dsr: true, cts: true });
  });
});

describe("startSession", () => {
  const base = {
    driver: escposTap,
    record: fakeWritePath().record,
    quarantine: () => {},
    clock: systemClock,
    log: silent,
    signal: AbortSignal.abort(),
  };

  it("refuses a bridge without devicePort and a one-port role with one", () => {
    expect(() =>
      startSession({ ...base, register: { id: "q", port: "/dev/x" }, options: escposTap.options.parse({}) }),
    ).toThrow(/devicePort/);
    expect(() =>
      startSession({
        ...base,
        register: { id: "q", port: "/dev/x", devicePort: "/dev/y" },
        options: escposTap.options.parse({ role: "sink" }),
      }),
    ).toThrow(/devicePort/);
  });

  it("answers the POS's status requests in the sink role (one port)", async () => {
    const pos = memoryPortSource("pos");
    const abort = new AbortController();
    const wp = fakeWritePath();
    const s = startSession({
      ...base,
      record: wp.record,
      quarantine: wp.quarantine,
      signal: abort.signal,
      register: { id: "q", port: "unused" },
      options: escposTap.options.parse({ role: "sink" }),
      sources: { register: pos },
    });
    stops.push(async () => {
      abort.abort();
      await s.stopped;
    });
    const posSide = await pos.nextPeer();
    const got: number[] = [];
    posSide.onData((b) => got.push(...b));
    await posSide.write(concatBytes([Uint8Array.of(0x10, 0x04, 0x01), JOBS[0]!.bytes]));
    await vi.waitFor(() => expect(wp.recorded).toHaveLength(1));
    await vi.waitFor(() => expect(got).toEqual([0x12]));
  });
});
