/**
 * Reply after commit when the write path answers later (group commit): the register hears the driver's busy signal
 * while its receipt waits, and nothing after; events behind a waiting receipt keep their order.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { encodeReceipt } from "../../drivers/ndjson/encode.js";
import { ndjson } from "../../drivers/ndjson/index.js";
import { concatBytes, defineDriver, type RecordOutcome } from "../../src/driver-api/index.js";
import type { PortConnection } from "../../src/ingest/connection.js";
import type { RecordInput } from "../../src/ingest/record-input.js";
import { startRegisterSession } from "../../src/ingest/register-session.js";
import { systemClock } from "../../src/shared/clock.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { fakeWritePath, memoryPortSource, silent } from "./helpers.js";

const RECEIPTS = generateReceipts({ seed: 9, count: 2, registerId: "QUAY1", startMs: Date.UTC(2026, 10, 20, 2) });
const BUSY = 0x16;

/** ndjson with a busy signal, like a Datecs fiscal printer's SYN. */
const patient = defineDriver({
  ...ndjson,
  id: "patient-v1",
  busySignalFor: () => ({ bytes: Uint8Array.of(BUSY), everyMs: 20 }),
});

let stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const stop of stops) await stop();
  stops = [];
});

/** A write path whose outcomes wait until the test releases them (a slow group commit). */
function slowWritePath() {
  const inner = fakeWritePath();
  const waiting: { input: RecordInput; release: () => void }[] = [];
  return {
    ...inner,
    waiting,
    record: (input: RecordInput): Promise<RecordOutcome> =>
      new Promise((resolve) => {
        waiting.push({ input, release: () => resolve(inner.record(input)) });
      }),
  };
}

function bytesOf(conn: PortConnection): { all: () => number[] } {
  const got: number[] = [];
  conn.onData((b) => got.push(...b));
  return { all: () => got };
}

describe("hand-over", () => {
  it("sends the busy signal while a receipt waits for its commit, then the ack, then nothing more", async () => {
    const wp = slowWritePath();
    const source = memoryPortSource("busy");
    const abort = new AbortController();
    const session = startRegisterSession({
      register: { id: "quay1", port: "unused" },
      driver: patient,
      options: ndjson.options.parse({}),
      record: wp.record,
      quarantine: wp.quarantine,
      source,
      clock: systemClock,
      log: silent,
      signal: abort.signal,
    });
    stops.push(async () => {
      abort.abort();
      await session.stopped;
    });
    const register = await source.nextPeer();
    const got = bytesOf(register);
    // Two receipts in one write: the second waits behind the first.
    await register.write(concatBytes(RECEIPTS.map((r) => encodeReceipt(r))));
    await vi.waitFor(() => expect(wp.waiting).toHaveLength(1));
    await vi.waitFor(() => expect(got.all().filter((b) => b === BUSY).length).toBeGreaterThanOrEqual(3));
    expect(got.all().every((b) => b === BUSY)).toBe(true);

    wp.waiting[0]!.release();
    // The first ack goes out, then the second receipt is handed over (and waits in its turn).
    await vi.waitFor(() => expect(wp.waiting).toHaveLength(2));
    const text = (): string => Buffer.from(got.all().filter((b) => b !== BUSY)).toString("utf8");
    await vi.waitFor(() => expect(text()).toContain(RECEIPTS[0]!.receiptId));
    expect(text()).not.toContain(RECEIPTS[1]!.receiptId);
    wp.waiting[1]!.release();
    await vi.waitFor(() => expect(text()).toContain(RECEIPTS[1]!.receiptId));
    // No busy signal once every reply is out.
    const after = got.all().length;
    await new Promise((r) => setTimeout(r, 80));
    expect(got.all().length).toBe(after);
    expect(session.state()).toMatchObject({ receipts: 2, problems: 0 });
  });

  it("sends no busy signal for a driver that declares none", async () => {
    const wp = slowWritePath();
    const source = memoryPortSource("quiet");
    const abort = new AbortController();
    const session = startRegisterSession({
      register: { id: "quay1", port: "unused" },
      driver: ndjson,
      options: ndjson.options.parse({}),
      record: wp.record,
      quarantine: wp.quarantine,
      source,
      clock: systemClock,
      log: silent,
      signal: abort.signal,
    });
    stops.push(async () => {
      abort.abort();
      await session.stopped;
    });
    const register = await source.nextPeer();
    const got = bytesOf(register);
    await register.write(encodeReceipt(RECEIPTS[0]!));
    await vi.waitFor(() => expect(wp.waiting).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 80));
    expect(got.all()).toEqual([]);
    wp.waiting[0]!.release();
    await vi.waitFor(() => expect(got.all().length).toBeGreaterThan(0));
  });
});
