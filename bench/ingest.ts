/**
 * Ingest latency (issue 4 "Performance", design.md "Performance budget"): a register's bytes in → the receipt
 * committed (validated, numbered, built, signed, stored at synchronous=FULL with its journal chunks) → the register's
 * ack out, measured at the register's end of a socat pty pair, with 1 and with 16 registers selling at once; and the
 * latency an ESC/POS bridge adds to the printer path (POS → hoadon → printer against POS → printer on one cable).
 * Everything runs in this process with the real write path on a real SQLite file; socat is required (rows say so
 * when it is missing). Targets: p99 < 5 ms committed and acknowledged with 16 registers; < 1 ms added to the printer.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { escposTap, tokenize } from "../drivers/escpos-tap/index.js";
import { ndjson } from "../drivers/ndjson/index.js";
import type { PortConnection } from "../src/ingest/connection.js";
import type { QuarantineInput, RecordInput } from "../src/ingest/register-session.js";
import { openSerialPort } from "../src/ingest/serial-port.js";
import { startSession } from "../src/ingest/start-session.js";
import { createRecorder } from "../src/record.js";
import { systemClock } from "../src/shared/clock.js";
import { silentLogger } from "../src/shared/log.js";
import { createSigner, createTestIdentity, loadPkcs12 } from "../src/sign/index.js";
import { escposJobs } from "../src/simulator/escpos.js";
import { generateReceipts } from "../src/simulator/generate.js";
import { ndjsonSender } from "../src/simulator/sender.js";
import { hasSocat, type SocatPair, startSocatPair } from "../src/simulator/socat.js";
import { openStore } from "../src/store/db.js";
import { ingestStore } from "../src/store/ingest.js";
import { journalWriter } from "../src/store/journal.js";
import { SETTINGS } from "./build-sign.js";
import type { BenchOptions, BenchRow } from "./types.js";

/** Title in the bench table. */
export const title = "ingest: bytes in → committed and acknowledged (issue 4)";

const SERIAL = { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 } as const;

/** The p-th percentile (0–100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

const ms = (n: number): string => `${n.toFixed(2)} ms`;

/** What one part of the benchmark measured. */
export interface LatencyResult {
  readonly samples: readonly number[];
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  readonly seconds: number;
}

const summarise = (samples: readonly number[], seconds: number): LatencyResult => ({
  samples,
  p50: percentile(samples, 50),
  p99: percentile(samples, 99),
  max: Math.max(...samples),
  seconds,
});

/**
 * A real write path (test signing key, WAL + synchronous=FULL) and journal on a temp SQLite file. `by-record`: the
 * journal is flushed inside the write path's transaction (one commit per receipt, the wiring proposed to the lead);
 * `before-record`: the session flushes it first (two commits, today's default).
 */
function writePath(dir: string, journalFlush: "by-record" | "before-record" = "by-record") {
  const path = join(dir, "store.sqlite");
  const db = openStore(path);
  const identity = createTestIdentity({ commonName: "Benchmark", taxCode: SETTINGS.seller.taxCode });
  const recorder = createRecorder({
    store: ingestStore(db),
    signer: createSigner(loadPkcs12(identity.pfx, identity.password)),
    settings: SETTINGS,
    clock: systemClock,
    log: silentLogger,
    storePath: path,
  });
  const store = ingestStore(db);
  const journal = journalWriter(db);
  const stopFlush = journal.autoFlush(250);
  const inOneCommit = db.transaction((input: RecordInput) => {
    journal.flush();
    return recorder(input);
  });
  return {
    record: (input: RecordInput) => (journalFlush === "by-record" ? inOneCommit.immediate(input) : recorder(input)),
    journalFlush,
    quarantine: (q: QuarantineInput): void => {
      store.quarantine({
        registerId: q.registerId,
        driver: q.driverId,
        receivedAt: q.receivedAt,
        code: q.code,
        detail: q.detail,
        raw: q.raw,
      });
    },
    journal,
    close(): void {
      stopFlush();
      db.close();
    },
  };
}

async function openRetrying(path: string): Promise<PortConnection> {
  for (let i = 0; ; i++) {
    try {
      return await openSerialPort(path, SERIAL);
    } catch (error) {
      if (i > 200) throw error;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** How {@link benchNdjson} runs. */
export interface NdjsonBench {
  readonly registers: number;
  readonly perRegister: number;
  /** Mean pause between one register's sales (exponential, seeded); 0: back to back. */
  readonly meanGapMs?: number;
  readonly journalFlush?: "by-record" | "before-record";
}

/**
 * `registers` ndjson registers on ptys, all selling at the same time, each stop-and-wait; one sample per receipt:
 * first byte written → ack read at the register's end.
 */
export async function benchNdjson(o: NdjsonBench): Promise<LatencyResult> {
  const dir = mkdtempSync(join(tmpdir(), "hoadon-bench-ingest-"));
  const wp = writePath(dir, o.journalFlush);
  const abort = new AbortController();
  const pairs: SocatPair[] = [];
  const sessions: { stopped: Promise<void> }[] = [];
  const conns: PortConnection[] = [];
  try {
    for (let i = 0; i < o.registers; i++) {
      const a = join(dir, `r${i}-daemon`);
      const b = join(dir, `r${i}-register`);
      pairs.push(await startSocatPair({ a, b }));
      sessions.push(
        startSession({
          register: { id: `quay${i + 1}`, port: a },
          driver: ndjson,
          options: ndjson.options.parse({}),
          record: wp.record,
          quarantine: wp.quarantine,
          journal: wp.journal,
          journalFlush: wp.journalFlush,
          clock: systemClock,
          log: silentLogger,
          signal: abort.signal,
        }),
      );
      conns.push(await openRetrying(b));
    }
    // Warm up each register (first open, first statements, JIT).
    await Promise.all(
      conns.map((c, i) =>
        ndjsonSender(c, generateReceipts({ seed: 1, count: 3, registerId: `WARM${i}`, startMs: Date.now() })),
      ),
    );
    const samples: number[] = [];
    const t0 = performance.now();
    await Promise.all(
      conns.map(async (c, i) => {
        const receipts = generateReceipts({
          seed: 100 + i,
          count: o.perRegister,
          registerId: `QUAY${i + 1}`,
          startMs: Date.now(),
        });
        let seed = 1 + i;
        const random = (): number => {
          seed = (seed * 16_807) % 2_147_483_647;
          return seed / 2_147_483_647;
        };
        for (const receipt of receipts) {
          if (o.meanGapMs) await new Promise((r) => setTimeout(r, -Math.log(1 - random()) * o.meanGapMs!));
          let started = 0;
          const report = await ndjsonSender(c, [receipt], {
            onTransmit: () => {
              started = performance.now();
            },
            onResult: () => samples.push(performance.now() - started),
          });
          if (report.acked !== 1) throw new Error(`register ${i}: ${JSON.stringify(report)}`);
        }
      }),
    );
    return summarise(samples, (performance.now() - t0) / 1000);
  } finally {
    abort.abort();
    await Promise.all(conns.map((c) => c.close()));
    await Promise.all(sessions.map((s) => s.stopped));
    await Promise.all(pairs.map((p) => p.stop()));
    wp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Wait until `n` more bytes arrived on `conn`; resolves with performance.now() at that moment. */
function byteCounter(conn: PortConnection): { until(total: number): Promise<number>; readonly total: number } {
  let total = 0;
  let waiter: { n: number; resolve: (t: number) => void } | undefined;
  conn.onData((bytes) => {
    total += bytes.length;
    if (waiter && total >= waiter.n) {
      const w = waiter;
      waiter = undefined;
      w.resolve(performance.now());
    }
  });
  return {
    get total(): number {
      return total;
    },
    until(n: number): Promise<number> {
      if (total >= n) return Promise.resolve(performance.now());
      return new Promise((resolve) => {
        waiter = { n, resolve };
      });
    },
  };
}

/** What the ESC/POS bridge measured. */
export interface BridgeResult {
  /** POS → printer through hoadon, per chunk of a receipt body. */
  readonly bridged: LatencyResult;
  /** POS → printer on one socat cable, same chunks. */
  readonly direct: LatencyResult;
  /** Cut written by the POS → footer + cut out of the printer (the receipt committed in between). */
  readonly cutToFooter: LatencyResult;
}

/** Pass-through latency of the bridge, against a direct cable; and the held cut's commit-and-footer time. */
export async function benchBridge(receipts: number): Promise<BridgeResult> {
  const dir = mkdtempSync(join(tmpdir(), "hoadon-bench-bridge-"));
  const wp = writePath(dir);
  const abort = new AbortController();
  const pairs: SocatPair[] = [];
  const conns: PortConnection[] = [];
  let session: { stopped: Promise<void> } | undefined;
  try {
    const jobs = escposJobs(
      generateReceipts({ seed: 77, count: receipts + 3, registerId: "QUAY1", startMs: Date.now() }),
      { codePage: "cp1258" },
    );
    const chunkOf = (bytes: Uint8Array): Uint8Array[] => {
      // The body in writes of about 64 bytes ending on a command boundary (a POS writes whole commands, line by
      // line), then the 4-byte cut on its own.
      const body = bytes.subarray(0, bytes.length - 4);
      const out: Uint8Array[] = [];
      let from = 0;
      for (const token of tokenize(body)) {
        if (token.end - from >= 64 || token.end === body.length) {
          out.push(body.subarray(from, token.end));
          from = token.end;
        }
      }
      out.push(bytes.subarray(bytes.length - 4));
      return out;
    };

    // Direct: one cable, POS end → printer end.
    const directPair = await startSocatPair({ a: join(dir, "direct-pos"), b: join(dir, "direct-printer") });
    pairs.push(directPair);
    const directPos = await openRetrying(join(dir, "direct-pos"));
    const directPrinter = await openRetrying(join(dir, "direct-printer"));
    conns.push(directPos, directPrinter);
    const directCount = byteCounter(directPrinter);
    const direct: number[] = [];
    let sent = 0;
    for (const [i, job] of jobs.entries()) {
      for (const chunk of chunkOf(job.bytes)) {
        const t = performance.now();
        await directPos.write(chunk);
        sent += chunk.length;
        const got = await directCount.until(sent);
        if (i >= 3) direct.push(got - t);
      }
    }

    // Bridge: POS cable and printer cable, hoadon in the middle, footer on.
    const posLink = { a: join(dir, "pos-daemon"), b: join(dir, "pos") };
    const printerLink = { a: join(dir, "printer-daemon"), b: join(dir, "printer") };
    pairs.push(await startSocatPair(posLink), await startSocatPair(printerLink));
    const printer = await openRetrying(printerLink.b);
    conns.push(printer);
    session = startSession({
      register: { id: "quay1", port: posLink.a, devicePort: printerLink.a },
      driver: escposTap,
      options: escposTap.options.parse({}),
      record: wp.record,
      quarantine: wp.quarantine,
      journal: wp.journal,
      journalFlush: wp.journalFlush,
      clock: systemClock,
      log: silentLogger,
      signal: abort.signal,
    });
    const pos = await openRetrying(posLink.b);
    conns.push(pos);
    const printed = byteCounter(printer);
    // Give the session time to open both ports.
    await new Promise((r) => setTimeout(r, 200));
    const bridged: number[] = [];
    const cutToFooter: number[] = [];
    let expected = 0;
    for (const [i, job] of jobs.entries()) {
      const chunks = chunkOf(job.bytes);
      for (const [k, chunk] of chunks.entries()) {
        if (k < chunks.length - 1) {
          const t = performance.now();
          await pos.write(chunk);
          expected += chunk.length;
          const got = await printed.until(expected);
          if (i >= 3) bridged.push(got - t);
        } else {
          // The held cut comes back after the footer: wait until the printer's bytes end with the cut.
          const done = waitForTail(printer, chunk);
          const t = performance.now();
          await pos.write(chunk);
          const got = await done;
          expected = printed.total;
          if (i >= 3) cutToFooter.push(got - t);
        }
      }
    }
    return {
      bridged: summarise(bridged, 0),
      direct: summarise(direct, 0),
      cutToFooter: summarise(cutToFooter, 0),
    };
  } finally {
    abort.abort();
    await Promise.all(conns.map((c) => c.close()));
    await session?.stopped;
    await Promise.all(pairs.map((p) => p.stop()));
    wp.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Resolves at the moment `conn` has received bytes ending with `tail`. */
function waitForTail(conn: PortConnection, tail: Uint8Array): Promise<number> {
  return new Promise((resolve) => {
    let seen: number[] = [];
    const stop = conn.onData((bytes) => {
      seen = [...seen, ...bytes].slice(-tail.length);
      if (seen.length === tail.length && seen.every((b, i) => b === tail[i])) {
        stop();
        resolve(performance.now());
      }
    });
  });
}

/** The bench module's entry point (bench/run.ts). */
export async function run(options: BenchOptions): Promise<BenchRow[]> {
  if (!hasSocat()) {
    return [{ group: title, name: "ingest on ptys", note: "socat not installed: apt-get install socat" }];
  }
  const rows: BenchRow[] = [];
  const n1 = options.quick ? 200 : 1_000;
  const latencyRows = (name: string, r: LatencyResult, note: string): BenchRow[] => [
    { group: title, name: `${name}: p50`, value: ms(r.p50) },
    {
      group: title,
      name: `${name}: p99`,
      value: ms(r.p99),
      note: `${note}max ${ms(r.max)}; ${r.samples.length} receipts, ${(r.samples.length / r.seconds).toFixed(0)}/s`,
    },
  ];
  const one = await benchNdjson({ registers: 1, perRegister: n1 });
  options.log(`ingest: 1 register p50 ${ms(one.p50)} p99 ${ms(one.p99)}`);
  rows.push(...latencyRows("ndjson, 1 register, journal in the receipt's commit", one, ""));
  const two = await benchNdjson({ registers: 1, perRegister: n1, journalFlush: "before-record" });
  rows.push(...latencyRows("ndjson, 1 register, journal committed before the receipt", two, ""));
  const paced = await benchNdjson({ registers: 16, perRegister: options.quick ? 25 : 100, meanGapMs: 250 });
  options.log(`ingest: 16 registers paced p50 ${ms(paced.p50)} p99 ${ms(paced.p99)}`);
  rows.push(...latencyRows("ndjson, 16 registers at once, a sale each every ~250 ms", paced, "target < 5 ms; "));
  const flat = await benchNdjson({ registers: 16, perRegister: options.quick ? 20 : 60 });
  options.log(`ingest: 16 registers back to back p50 ${ms(flat.p50)} p99 ${ms(flat.p99)}`);
  rows.push(...latencyRows("ndjson, 16 registers at once, back to back (saturated)", flat, "queueing: "));
  const bridge = await benchBridge(options.quick ? 40 : 200);
  const added50 = bridge.bridged.p50 - bridge.direct.p50;
  const added99 = bridge.bridged.p99 - bridge.direct.p99;
  options.log(`ingest: bridge adds p50 ${ms(added50)} p99 ${ms(added99)}`);
  rows.push(
    {
      group: title,
      name: "escpos bridge, printer path: direct cable p50 / p99",
      value: `${ms(bridge.direct.p50)} / ${ms(bridge.direct.p99)}`,
    },
    {
      group: title,
      name: "escpos bridge, printer path: through hoadon p50 / p99",
      value: `${ms(bridge.bridged.p50)} / ${ms(bridge.bridged.p99)}`,
    },
    {
      group: title,
      name: "escpos bridge, added to the printer path p50 / p99",
      value: `${ms(added50)} / ${ms(added99)}`,
      note: `target < 1 ms; ${bridge.bridged.samples.length} 64-byte writes`,
    },
    {
      group: title,
      name: "escpos bridge, cut → invoice committed → footer + cut printed p50 / p99",
      value: `${ms(bridge.cutToFooter.p50)} / ${ms(bridge.cutToFooter.p99)}`,
      note: `${bridge.cutToFooter.samples.length} receipts`,
    },
  );
  return rows;
}
