/**
 * The Datecs POS simulator and its fault layer: thousands of seeded receipts per fault mix go POS host → line
 * faults → datecs-isl device decoder → write-path stand-in → reply → line faults → host, in virtual time. The
 * receipts invoiced must be exactly the simulator's truth: none lost, none twice. A tap on the same line must
 * commit the same receipts. Then the pure fault functions, and the sender on a real (in-memory) connection.
 */
import { describe, expect, it } from "vitest";
import { datecsIsl } from "../../drivers/datecs-isl/index.js";
import { concatBytes, type DecoderEvent, type RecordOutcome, toHex } from "../../src/driver-api/index.js";
import { createMemoryLink } from "../../src/ingest/connection.js";
import type { ReceiptInput } from "../../src/receipt/model.js";
import {
  createDatecsHost,
  type DatecsLinkOptions,
  datecsSender,
  runDatecsLink,
  truthJsonl,
} from "../../src/simulator/datecs.js";
import {
  applyFault,
  type FaultMix,
  faultyWrites,
  injectFaults,
  parseFaultMix,
  seededRandom,
  splitChunks,
} from "../../src/simulator/datecs-faults.js";
import { startDatecsPrinter } from "../../src/simulator/datecs-printer.js";
import { generateReceipts } from "../../src/simulator/generate.js";

const START = Date.parse("2026-11-20T07:30:00+07:00");
const PER_FRAMING = 1000;

const everything: FaultMix = { bitFlip: 0.02, drop: 0.02, truncate: 0.02, wrongBcc: 0.02, repeat: 0.02, garbage: 0.02 };
const MIXES: Record<string, Pick<DatecsLinkOptions, "faults" | "failRate" | "rejectRate">> = {
  "a clean line": {},
  "a noisy line (bit flips, noise)": {
    faults: { toDevice: { bitFlip: 0.05, garbage: 0.05 }, toHost: { bitFlip: 0.05, garbage: 0.05 } },
  },
  "a lossy line (drops, truncation)": {
    faults: { toDevice: { drop: 0.08, truncate: 0.05 }, toHost: { drop: 0.08, truncate: 0.05 } },
  },
  "wrong checksums": { faults: { toDevice: { wrongBcc: 0.1 }, toHost: { wrongBcc: 0.1 } } },
  "frames arriving twice (same SEQ)": { faults: { toDevice: { repeat: 0.15 }, toHost: { repeat: 0.15 } } },
  "storage failures and refusals": { failRate: 0.15, rejectRate: 0.02 },
  "everything at once": { faults: { toDevice: everything, toHost: everything }, failRate: 0.05 },
};

/** A receipt without `issuedAt` (the printer's clock adds the seconds the receipt took). */
const content = ({ issuedAt: _, ...rest }: ReceiptInput): Omit<ReceiptInput, "issuedAt"> => rest;

describe("Datecs POS → faults → device decoder, in virtual time", () => {
  for (const [name, mix] of Object.entries(MIXES)) {
    it(`invoices every receipt exactly once over ${name} (${2 * PER_FRAMING} receipts)`, () => {
      for (const [i, driver] of [
        { framing: "old", encoding: "cp1258" },
        { framing: "x", encoding: "utf-8" },
      ].entries()) {
        const seed = name.length * 97 + i;
        const receipts = generateReceipts({ seed, count: PER_FRAMING, startMs: START });
        const report = runDatecsLink(receipts, { ...mix, seed, driver, tap: true, maxAttempts: 40 });
        const { host, recorded } = report;

        // The POS got through all of them.
        expect(host.done).toBe(true);
        const statuses = host.results.map((r) => r.status);
        expect(statuses).toHaveLength(receipts.length);
        expect(statuses.filter((s) => s !== "ok" && s !== "rejected")).toEqual([]);

        // What was invoiced is the truth: the same receipts, in order, none lost, none twice.
        const invoiced = recorded.filter((r) => r.outcome === "ok").map((r) => r.receipt);
        expect(invoiced.map(content)).toEqual(host.truth.map(content));
        expect(new Set(invoiced.map((r) => r.receiptId)).size).toBe(invoiced.length);
        expect(recorded.filter((r) => r.outcome === "dup")).toEqual([]); // a repeated frame never ran twice
        // Rejected ones were told to the POS and are not in the truth.
        expect(recorded.filter((r) => r.outcome === "rejected")).toHaveLength(
          statuses.filter((s) => s === "rejected").length,
        );
        // The printer clock was set to each receipt's time; the receipt took at most a minute of virtual time.
        invoiced.forEach((r, k) => {
          const lag = Date.parse(r.issuedAt) - Date.parse(host.truth[k]!.issuedAt);
          expect(lag).toBeGreaterThanOrEqual(0);
          expect(lag).toBeLessThan(60_000);
        });

        // A tap on the same line commits the same receipts: it counts a close only when the printer (here hoadon's
        // device role) answered it without error bits, and a failed or rejected commit is answered with them.
        expect(report.tapReceipts.map(content)).toEqual(host.truth.map(content));

        // The faults really happened and were caught.
        const injected = Object.values(report.faults).reduce((a, b) => a + b, 0);
        if (mix.faults) expect(injected).toBeGreaterThan(50);
        const lossy = mix.faults?.toDevice?.drop ?? mix.faults?.toDevice?.bitFlip ?? mix.faults?.toDevice?.wrongBcc;
        if (lossy) expect(host.stats.resends).toBeGreaterThan(0);
        if (mix.faults?.toDevice?.wrongBcc) expect(report.problems["BAD_CHECKSUM"]).toBeGreaterThan(0);
        if (mix.failRate) expect(host.stats.closeRetries).toBeGreaterThan(0);
      }
    });
  }

  it("gives the same run for the same seed", () => {
    const receipts = generateReceipts({ seed: 5, count: 50, startMs: START });
    const run = () => runDatecsLink(receipts, { seed: 9, faults: { toDevice: everything, toHost: everything } });
    const a = run();
    const b = run();
    expect(b.host.stats).toEqual(a.host.stats);
    expect(b.recorded).toEqual(a.recorded);
    expect(b.virtualMs).toBe(a.virtualMs);
  });

  it("writes the truth as one receipt per line", () => {
    const receipts = generateReceipts({ seed: 6, count: 3, startMs: START });
    const { host } = runDatecsLink(receipts, { seed: 1 });
    const lines = truthJsonl(host.truth).trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l).receiptId)).toEqual(receipts.map((r) => r.receiptId));
  });
});

describe("a slow commit: the POS hears SYN every 60 ms and waits", () => {
  for (const framing of ["old", "x"] as const) {
    it(`waits through 2 s commits without resending, over the device decoder (${framing} framing)`, () => {
      const receipts = generateReceipts({ seed: 12, count: 30, startMs: START });
      const report = runDatecsLink(receipts, { seed: 4, driver: { framing }, commitMs: 2_000, maxCuts: 0 });
      const { host, recorded } = report;
      expect(host.done).toBe(true);
      expect(host.results.map((r) => r.status)).toEqual(receipts.map(() => "ok"));
      // About 2000 / 60 SYNs per close, and not one resend or timeout: the POS waited.
      expect(host.stats.syns).toBeGreaterThanOrEqual(30 * 33);
      expect(host.stats.syns).toBeLessThanOrEqual(30 * 34);
      expect(host.stats.timeouts).toBe(0);
      expect(host.stats.resends).toBe(0);
      expect(recorded.map((r) => r.outcome)).toEqual(receipts.map(() => "ok"));
      expect(report.virtualMs).toBeGreaterThan(30 * 2_000);
    });
  }

  it("without the SYNs the POS times out and resends the close (the decoder answers SYN to it, once per resend)", () => {
    const receipts = generateReceipts({ seed: 12, count: 10, startMs: START });
    const { host, recorded } = runDatecsLink(receipts, { seed: 4, commitMs: 2_000, busySignal: false, maxCuts: 0 });
    expect(host.done).toBe(true);
    expect(host.stats.timeouts).toBeGreaterThanOrEqual(10 * 3);
    expect(host.stats.syns).toBe(host.stats.timeouts); // each resend of the pending close got a SYN
    expect(recorded.map((r) => r.outcome)).toEqual(receipts.map(() => "ok")); // still executed once each
  });

  it("keeps waiting through SYNs mixed with line noise and lost SYNs", () => {
    const receipts = generateReceipts({ seed: 13, count: 200, startMs: START });
    const report = runDatecsLink(receipts, {
      seed: 6,
      commitMs: 1_500,
      faults: { toHost: { drop: 0.05, garbage: 0.05 }, toDevice: { garbage: 0.05 } },
      maxAttempts: 40,
    });
    expect(report.host.done).toBe(true);
    const invoiced = report.recorded.filter((r) => r.outcome === "ok").map((r) => r.receipt);
    expect(invoiced.map(content)).toEqual(report.host.truth.map(content));
    expect(report.recorded.filter((r) => r.outcome === "dup")).toEqual([]);
  });
});

describe("stornos from the Datecs POS simulator", () => {
  /** A refund without the fields the printer decides in X framing (its own id and time). */
  const refundContent = ({ issuedAt: _, receiptId: __, ...rest }: ReceiptInput) => rest;

  for (const driver of [{ framing: "old" }, { framing: "x", encoding: "utf-8" }] as const) {
    it(`sends seeded stornos of earlier sales that become refunds naming them (${driver.framing} framing)`, () => {
      const receipts = generateReceipts({ seed: 41, count: 300, startMs: START });
      const mix = { faults: { toDevice: everything, toHost: everything }, failRate: 0.05 };
      const report = runDatecsLink(receipts, {
        ...mix,
        seed: 3,
        driver,
        tap: true,
        maxAttempts: 40,
        storno: { rate: 0.2, seed: 8 },
      });
      const { host, recorded } = report;
      expect(host.done).toBe(true);
      const refunds = host.truth.filter((r) => r.kind === "refund");
      expect(refunds.length).toBeGreaterThan(30);
      // Every storno names a sale the printer closed earlier, each sale at most once, and returns part of it.
      const sales = new Map(host.truth.filter((r) => r.kind !== "refund").map((r, i) => [r.receiptId, i]));
      const named = refunds.map((r) => r.replaces?.receiptId ?? "");
      expect(new Set(named).size).toBe(named.length);
      for (const r of refunds) {
        const sale = host.truth.find((t) => t.receiptId === r.replaces?.receiptId);
        expect(sale, r.replaces?.receiptId).toBeDefined();
        expect(host.truth.indexOf(sale!)).toBeLessThan(host.truth.indexOf(r));
        expect(r.total).toBeGreaterThan(0);
        expect(r.total).toBeLessThanOrEqual(sale!.total);
        for (const l of r.lines)
          expect(sale!.lines.some((s) => s.name === l.name && s.unitPrice === l.unitPrice)).toBe(true);
      }
      expect(sales.size + refunds.length).toBe(host.truth.length);

      // What was invoiced is the truth, refunds included; the stand-in found every named sale.
      const invoiced = recorded.filter((r) => r.outcome === "ok").map((r) => r.receipt);
      const comparable = (r: ReceiptInput) =>
        r.kind === "refund" && driver.framing === "x" ? refundContent(r) : content(r);
      expect(invoiced.map(comparable)).toEqual(host.truth.map(comparable));
      expect(recorded.filter((r) => r.outcome === "rejected")).toEqual([]);
      expect(new Set(invoiced.map((r) => r.receiptId)).size).toBe(invoiced.length);
      if (driver.framing === "old") {
        expect(invoiced.filter((r) => r.kind === "refund").every((r) => r.receiptId.endsWith("-TH"))).toBe(true);
      } else {
        for (const r of invoiced.filter((i) => i.kind === "refund")) expect(r.receiptId).toMatch(/^\d{8}T\d{6}-\d{7}$/);
      }
      expect(report.tapReceipts.map(comparable)).toEqual(host.truth.map(comparable));
      // The truth file says so.
      const lines = truthJsonl(host.truth)
        .trimEnd()
        .split("\n")
        .map((l) => JSON.parse(l) as ReceiptInput);
      expect(lines.filter((l) => l.kind === "refund").map((l) => l.replaces)).toEqual(refunds.map((r) => r.replaces));
    });
  }

  it("sends no storno without the option, and the same stornos for the same seed", () => {
    const receipts = generateReceipts({ seed: 42, count: 40, startMs: START });
    expect(runDatecsLink(receipts, { seed: 1 }).host.truth.some((r) => r.kind === "refund")).toBe(false);
    const run = () => runDatecsLink(receipts, { seed: 1, storno: { rate: 0.5, seed: 2 } }).host.truth;
    expect(run()).toEqual(run());
    expect(run().filter((r) => r.kind === "refund").length).toBeGreaterThan(5);
  });
});

describe("fault layer", () => {
  const frame = Uint8Array.from([0x01, 0x24, 0x20, 0x4a, 0x05, 0x30, 0x30, 0x39, 0x33, 0x03]);
  const schedule = Array.from({ length: 200 }, (_, i) => ({ atMs: i * 10, bytes: frame }));

  it("is a pure function of the seed", () => {
    const mix = { ...everything, drop: 0.1 };
    expect(injectFaults(schedule, mix, 7)).toEqual(injectFaults(schedule, mix, 7));
    expect(injectFaults(schedule, mix, 7)).not.toEqual(injectFaults(schedule, mix, 8));
    expect(injectFaults(schedule, {}, 7).schedule).toEqual(schedule);
  });

  it("applies each fault as described, at most one per chunk", () => {
    const rnd = seededRandom(3);
    for (let i = 0; i < 200; i++) {
      const [flipped] = applyFault("bit-flip", frame, rnd);
      let bits = 0;
      for (let k = 0; k < frame.length; k++) bits += ((flipped![k]! ^ frame[k]!).toString(2).match(/1/g) ?? []).length;
      expect(bits).toBe(1);
      expect(applyFault("drop", frame, rnd)).toEqual([]);
      const [cut] = applyFault("truncate", frame, rnd);
      expect(cut!.length).toBeGreaterThan(0);
      expect(cut!.length).toBeLessThan(frame.length);
      expect(frame.subarray(0, cut!.length)).toEqual(cut);
      const [bcc] = applyFault("wrong-bcc", frame, rnd);
      const changed = [...bcc!].flatMap((b, k) => (b === frame[k] ? [] : [k]));
      expect(changed).toHaveLength(1);
      expect(changed[0]).toBeGreaterThanOrEqual(frame.length - 5);
      expect(bcc![changed[0]!]! & 0xf0).toBe(0x30);
      expect(applyFault("repeat", frame, rnd)).toEqual([frame, frame]);
      const [noise, rest] = applyFault("garbage", frame, rnd);
      expect(noise!.length).toBeGreaterThanOrEqual(1);
      expect(rest).toBe(frame);
    }
    const { applied } = injectFaults(schedule, { drop: 0.3, repeat: 0.3 }, 11);
    expect(new Set(applied.map((a) => a.index)).size).toBe(applied.length);
  });

  it("reads --faults and refuses what it cannot use", () => {
    expect(parseFaultMix("bit-flip=0.02, repeat=0.1,wrong-bcc=0")).toEqual({ bitFlip: 0.02, repeat: 0.1, wrongBcc: 0 });
    expect(parseFaultMix("")).toEqual({});
    expect(() => parseFaultMix("flip=0.1")).toThrow(/"flip=0.1": dùng \/ use bit-flip, drop/);
    expect(() => parseFaultMix("drop=1.5")).toThrow(/from 0 to 1/);
    expect(() => parseFaultMix("drop=0.6,repeat=0.6")).toThrow(/more than 1/);
  });

  it("puts the faults on a connection's writes, seeded, and counts them", async () => {
    const run = async (seed: number) => {
      const { a, b } = createMemoryLink();
      const got: Uint8Array[] = [];
      b.onData((bytes) => got.push(bytes));
      const noisy = faultyWrites(a, { drop: 0.2, repeat: 0.2, garbage: 0.2 }, seed);
      for (let i = 0; i < 50; i++) await noisy.conn.write(frame);
      await new Promise((r) => setImmediate(r));
      expect(noisy.conn.description).toBe(a.description); // the same connection in all else
      await a.close();
      return { bytes: toHex(concatBytes(got)), faults: { ...noisy.faults } };
    };
    const first = await run(5);
    expect(await run(5)).toEqual(first);
    const { drop, repeat, garbage } = first.faults;
    expect(drop * repeat * garbage).toBeGreaterThan(0);
    // Each drop loses a frame, each repeat adds one; noise adds bytes but no frame.
    const frames = first.bytes.split(toHex(frame)).length - 1;
    expect(frames).toBe(50 - drop + repeat);
  });

  it("re-chunks without losing or reordering a byte", () => {
    const cut = splitChunks(schedule, 4, 2);
    expect(cut.length).toBeGreaterThan(schedule.length);
    expect(toHex(concatBytes(cut.map((c) => c.bytes)))).toBe(toHex(concatBytes(schedule.map((c) => c.bytes))));
  });
});

describe("datecsSender on a connection", () => {
  it("resends the same frame after its timeout when an answer is lost, and finishes every receipt", async () => {
    const { a: pos, b: daemon } = createMemoryLink();
    const decoder = datecsIsl.createDecoder(datecsIsl.options.parse({ framing: "x" }));
    const ids = new Set<string>();
    let answers = 0;
    daemon.onData((bytes) => {
      for (const e of decoder.push(bytes, Date.now()) as DecoderEvent[]) {
        let reply: Uint8Array | undefined;
        if (e.type === "reply") reply = e.bytes;
        else if (e.type === "problem") reply = e.reply;
        else if (e.type === "receipt") {
          const id = (e.receipt as ReceiptInput).receiptId;
          const outcome: RecordOutcome = {
            status: ids.has(id) ? "dup" : "ok",
            invoice: { mccqt: "M1-26-TEST0-00000000001", khmshdon: "1", khhdon: "C26MAB", shdon: 1, qr: "q" },
          };
          ids.add(id);
          reply = e.reply(outcome);
        }
        if (reply && ++answers % 5 !== 3) void daemon.write(reply).catch(() => undefined); // every 5th answer lost
      }
    });
    const receipts = generateReceipts({ seed: 12, count: 4, startMs: START });
    const seen: string[] = [];
    const report = await datecsSender(pos, receipts, {
      driver: { framing: "x" },
      timeoutMs: 40,
      onResult: (r) => seen.push(`${r.receipt.receiptId}:${r.status}`),
    });
    expect(report.stoppedBy).toBe("done");
    expect(seen).toEqual(receipts.map((r) => `${r.receiptId}:ok`));
    expect(report.stats.timeouts).toBeGreaterThan(0);
    expect([...ids]).toEqual(receipts.map((r) => r.receiptId));
    await pos.close();
  });

  it("drives a simulated fiscal printer, which refuses everything without paper and takes receipts again after", async () => {
    for (const framing of ["old", "x"] as const) {
      const { a: pos, b: line } = createMemoryLink();
      const printer = startDatecsPrinter(line, { driver: { framing }, paper: "out" });
      const receipts = generateReceipts({ seed: 14, count: 3, startMs: START });
      const refused = await datecsSender(pos, receipts.slice(0, 1), { driver: { framing }, timeoutMs: 40 });
      expect(refused.results.map((r) => r.status)).toEqual(["refused"]);
      expect(printer.closed).toEqual([]);
      expect(printer.stats.noPaper).toBe(refused.stats.frames);
      printer.setPaper("ok");
      const sold = await datecsSender(pos, receipts.slice(1), { driver: { framing }, timeoutMs: 40 });
      expect(sold.results.map((r) => r.status)).toEqual(["ok", "ok"]);
      expect(printer.closed.map((r) => r.receiptId)).toEqual(sold.truth.map((r) => r.receiptId));
      printer.stop();
      await pos.close();
    }
  });

  it("stops when the link goes down", async () => {
    const { a: pos, b: daemon } = createMemoryLink();
    const receipts = generateReceipts({ seed: 13, count: 2, startMs: START });
    setTimeout(() => void daemon.close(), 30);
    const report = await datecsSender(pos, receipts, { timeoutMs: 20 });
    expect(report.stoppedBy).toBe("closed");
    expect(report.truth).toEqual([]);
  });

  it("gives up a receipt after maxAttempts frames without an answer", () => {
    const host = createDatecsHost(generateReceipts({ seed: 14, count: 1, startMs: START }), { maxAttempts: 3 });
    let now = START;
    expect(host.start(now)).toHaveLength(1);
    for (let i = 0; i < 3; i++) {
      now = host.deadline!;
      host.tick(now);
    }
    expect(host.done).toBe(true);
    expect(host.results).toMatchObject([{ status: "unanswered", frames: 3 }]);
  });
});
