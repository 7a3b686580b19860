/**
 * The ESC/POS simulator: seeded print jobs with faults, the printer emulator (status answers, paper out, pages and QR
 * payloads), the POS loop with status polls; the simulator's truth equals what the bridge recorded over thousands of
 * receipts; and on real ptys, a bridge between a simulated POS and a printer emulator with the printer unplugged and
 * plugged back in (skipped only when socat is missing).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { escposTap } from "../../drivers/escpos-tap/index.js";
import { concatBytes, toHex } from "../../src/driver-api/index.js";
import type { BridgeSession } from "../../src/ingest/bridge-session.js";
import { createMemoryLink } from "../../src/ingest/connection.js";
import type { SessionEvent } from "../../src/ingest/register-session.js";
import { startSession } from "../../src/ingest/start-session.js";
import { systemClock } from "../../src/shared/clock.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import {
  escposJobs,
  escposPos,
  hasSocat,
  runEscposSimulator,
  startEscposRig,
  startPrinterEmulator,
  startSocatPair,
} from "../../src/simulator/index.js";
import { fakeWritePath, linkPaths, memoryPortSource, silent } from "../ingest/helpers.js";

const START = Date.UTC(2026, 10, 20, 2);

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe("print jobs", () => {
  it("are the same for the same seed, and have no truth when made unreadable on purpose", () => {
    const receipts = generateReceipts({ seed: 2, count: 50, startMs: START });
    const a = escposJobs(receipts, { codePage: ["cp1258", "raster", "tcvn3"] }, { seed: 9, truncateRate: 0.2 });
    const b = escposJobs(receipts, { codePage: ["cp1258", "raster", "tcvn3"] }, { seed: 9, truncateRate: 0.2 });
    expect(a.map((j) => toHex(j.bytes))).toEqual(b.map((j) => toHex(j.bytes)));
    expect(a.filter((_, i) => i % 3 === 1).every((j) => j.truth === undefined)).toBe(true);
    const truncated = a.filter((j, i) => i % 3 !== 1 && j.truth === undefined);
    expect(truncated.length).toBeGreaterThan(3);
  });
});

describe("printer emulator", () => {
  it("answers status requests, keeps pages with their QR payloads, and splits a read at the cut", async () => {
    const { a, b } = createMemoryLink();
    const printer = startPrinterEmulator(b);
    const got: number[] = [];
    a.onData((bytes) => got.push(...bytes));
    const [job1, job2] = escposJobs(generateReceipts({ seed: 1, count: 2, startMs: START }), { codes: true });
    await a.write(concatBytes([Uint8Array.of(0x10, 0x04, 0x01), job1!.bytes, job2!.bytes.subarray(0, 2)]));
    await printer.waitForCuts(1);
    await vi.waitFor(() => expect(got).toEqual([0x12]));
    const [page, next] = printer.pages();
    expect(page).toMatchObject({ cut: true, qr: [job1!.receipt.receiptId] });
    expect(toHex(page!.bytes)).toBe(toHex(concatBytes([Uint8Array.of(0x10, 0x04, 0x01), job1!.bytes])));
    expect(next).toMatchObject({ cut: false });
    expect(printer.text(page!)).toContain("PHIẾU TÍNH TIỀN");
    printer.set({ paper: "out" });
    await a.write(Uint8Array.of(0x10, 0x04, 0x04));
    await vi.waitFor(() => expect(got).toEqual([0x12, 0x7e]));
  });

  it("lets the POS see an offline printer, and no answer at all from one that does not talk back", async () => {
    const jobs = escposJobs(generateReceipts({ seed: 1, count: 3, startMs: START }));
    const one = createMemoryLink();
    startPrinterEmulator(one.b, { state: { online: false } });
    expect(await escposPos(one.a, jobs, { pollTimeoutMs: 200 })).toEqual({
      printed: 3,
      answered: 3,
      unanswered: 0,
      printerNotReady: 3,
    });
    const two = createMemoryLink();
    startPrinterEmulator(two.b, { answer: false });
    expect(await escposPos(two.a, jobs.slice(0, 1), { pollTimeoutMs: 30 })).toMatchObject({
      printed: 1,
      unanswered: 1,
    });
  });
});

describe("truth file = what the bridge recorded", () => {
  it("over 2 000 seeded receipts in three code pages, with raster-only jobs and line noise", async () => {
    const receipts = generateReceipts({ seed: 2026, count: 2_000, registerId: "QUAY7", startMs: START });
    const jobs = escposJobs(
      receipts,
      { codePage: ["cp1258", "tcvn3", "viscii", "cp1258", "tcvn3", "raster"], codes: true, drawer: true },
      { seed: 4, garbageRate: 0.05 },
    );
    const pos = memoryPortSource("pos");
    const printer = memoryPortSource("printer");
    const wp = fakeWritePath();
    const abort = new AbortController();
    const session = startSession({
      register: { id: "quay7", port: "unused", devicePort: "unused" },
      driver: escposTap,
      options: escposTap.options.parse({ codePages: { "27": "viscii" } }),
      ...wp,
      clock: systemClock,
      log: silent,
      signal: abort.signal,
      sources: { register: pos, device: printer },
    }) as BridgeSession;
    cleanups.push(async () => {
      abort.abort();
      await session.stopped;
    });
    const posSide = await pos.nextPeer();
    const emulator = startPrinterEmulator(await printer.nextPeer());
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));
    const report = await escposPos(posSide, jobs);
    expect(report.printed).toBe(2_000);
    await emulator.waitForCuts(2_000, 20_000);
    const truth = jobs.flatMap((j) => (j.truth ? [j.truth] : []));
    expect(wp.recorded.map((r) => r.receipt)).toEqual(truth);
    expect(wp.quarantined.every((q) => q.code === "RASTER_ONLY")).toBe(true);
    expect(wp.quarantined).toHaveLength(jobs.length - truth.length);
    // Every page reached the printer; receipts have their footer with the invoice code before the cut.
    const pages = emulator.pages().filter((p) => p.cut);
    expect(pages.filter((p) => p.qr.some((q) => q.startsWith("qr-")))).toHaveLength(truth.length);
  }, 120_000);
});

describe.skipIf(!hasSocat())("ESC/POS bridge on socat ptys", () => {
  it("bridges a POS and a printer, keeps invoicing with the printer unplugged, prints again after the replug", async () => {
    const rig = await startEscposRig();
    cleanups.push(() => rig.close());
    const wp = fakeWritePath();
    const abort = new AbortController();
    const events: SessionEvent[] = [];
    const session = startSession({
      register: { id: "quay1", port: rig.daemonPort, devicePort: rig.daemonDevicePort },
      driver: escposTap,
      options: escposTap.options.parse({ codePages: { "27": "viscii" } }),
      ...wp,
      clock: systemClock,
      log: silent,
      signal: abort.signal,
      onEvent: (e) => events.push(e),
      backoff: { minMs: 20, maxMs: 200 },
    }) as BridgeSession;
    cleanups.push(async () => {
      abort.abort();
      await session.stopped;
    });
    await vi.waitFor(() => expect(session.state()).toMatchObject({ connected: true, deviceConnected: true }));
    const jobs = escposJobs(generateReceipts({ seed: 11, count: 9, startMs: START }), {
      codePage: ["cp1258", "tcvn3", "viscii"],
      logo: true,
    });
    const pos = await rig.pos();
    expect(await escposPos(pos, jobs.slice(0, 3), { pollTimeoutMs: 500 })).toMatchObject({ printed: 3, answered: 3 });
    await rig.printer().waitForCuts(3);
    expect(
      rig
        .printer()
        .pages()
        .map((p) => p.qr.length),
    ).toEqual([1, 1, 1]);

    await rig.unplugPrinter();
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(false));
    expect(await escposPos(pos, jobs.slice(3, 6), { pollTimeoutMs: 100 })).toMatchObject({ printed: 3, unanswered: 3 });
    await vi.waitFor(() => expect(wp.recorded).toHaveLength(6));

    const printer = await rig.replugPrinter();
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true), { timeout: 5_000 });
    expect(await escposPos(pos, jobs.slice(6), { pollTimeoutMs: 500 })).toMatchObject({ printed: 3, answered: 3 });
    await printer.waitForCuts(3);
    expect(wp.recorded.map((r) => r.receipt)).toEqual(jobs.map((j) => j.truth));
    expect(events.filter((e) => e.type === "port-down")).toHaveLength(1);
    expect(session.state()).toMatchObject({ receipts: 9, problems: 0, connected: true });
  });

  it("runs as `simulate register --protocol escpos`: a POS with a truth file and a printer on one cable", async () => {
    const links = linkPaths("escpos-cli");
    const pair = await startSocatPair(links);
    cleanups.push(() => pair.stop());
    const dir = mkdtempSync(join(tmpdir(), "hoadon-escpos-cli-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const abort = new AbortController();
    const printerOut: string[] = [];
    const printerRun = runEscposSimulator({ role: "printer", port: links.a, signal: abort.signal }, (l) =>
      printerOut.push(l),
    );
    await new Promise((r) => setTimeout(r, 100));
    const posOut: string[] = [];
    const truth = join(dir, "truth.jsonl");
    const code = await runEscposSimulator(
      {
        role: "pos",
        port: links.b,
        count: 4,
        seed: 3,
        codePages: ["tcvn3", "raster"],
        pollTimeoutMs: 500,
        truth,
        startMs: START,
      },
      (l) => posOut.push(l),
    );
    expect(code).toBe(0);
    await vi.waitFor(() => expect(printerOut.filter((l) => l.startsWith('{"page"'))).toHaveLength(4));
    abort.abort();
    expect(await printerRun).toBe(0);
    const lines = readFileSync(truth, "utf8")
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as unknown);
    expect(lines.map((l) => (l === null ? null : "receipt"))).toEqual(["receipt", null, "receipt", null]);
    expect(JSON.parse(posOut.at(-1)!)).toMatchObject({ printed: 4, answered: 4 });
  });
});
