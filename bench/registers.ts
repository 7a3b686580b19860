/**
 * The registers' end of the ingest benchmark, in a process of its own. A shop's registers and printers are other
 * machines: making receipts, encoding them, reading acks and timing them must not share the daemon's event loop,
 * garbage collector or libuv pool (serialport writes go through that pool), or the figures charge the daemon for the
 * registers' work. In one process, 8 load registers' receipt making sat in the same queue as the bridge's bytes.
 *
 * `node dist/bench/registers.js '<task as JSON>'` prints `{"ready":true}` once its ports are open and warm, then one
 * JSON line with what it measured, and exits. A `load` task sells until its stdin closes.
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { tokenize } from "../drivers/escpos-tap/index.js";
import type { PortConnection } from "../src/ingest/connection.js";
import { openSerialPort } from "../src/ingest/serial-port.js";
import { escposJobs } from "../src/simulator/escpos.js";
import { generateReceipts } from "../src/simulator/generate.js";
import { ndjsonSender } from "../src/simulator/sender.js";

/** What the registers' process is asked to do. */
export type RegistersTask =
  /** One sample per receipt: first byte written → ack read, each register stop-and-wait. */
  | {
      readonly kind: "ndjson";
      readonly ports: readonly string[];
      readonly perRegister: number;
      /** Mean pause between one register's sales (exponential, seeded); 0: back to back. */
      readonly meanGapMs: number;
    }
  /** Registers selling back to back, not measured, until stdin closes. */
  | { readonly kind: "load"; readonly ports: readonly string[] }
  /**
   * A POS printing receipts to a printer, in writes of ~64 bytes on command boundaries: one sample per write of the
   * body (written → all its bytes out of the printer end); with `held`, the cut is timed apart: written → the
   * printer's bytes end with the cut again (the footer comes before it).
   */
  | {
      readonly kind: "printer-path";
      readonly pos: string;
      readonly printer: string;
      readonly receipts: number;
      readonly held: boolean;
    };

/** What the registers' process measured. */
export interface RegistersResult {
  readonly samples: readonly number[];
  /** `printer-path` with `held`: cut written → footer and cut printed. */
  readonly cutToFooter: readonly number[];
  /** Wall time of the measured part, seconds. */
  readonly seconds: number;
  /** `load`: receipts acknowledged. */
  readonly sold: number;
}

export const SERIAL = { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 } as const;

/** Open a pty end, retrying while socat is still making its link. */
export async function openRetrying(path: string): Promise<PortConnection> {
  for (let i = 0; ; i++) {
    try {
      return await openSerialPort(path, SERIAL);
    } catch (error) {
      if (i > 200) throw error;
      await new Promise((r) => setTimeout(r, 10));
    }
  }
}

/** `bytes` of one print job in writes of about 64 bytes ending on a command boundary (a POS writes whole commands). */
export function printWrites(bytes: Uint8Array): { readonly body: Uint8Array[]; readonly cut: Uint8Array } {
  const body = bytes.subarray(0, bytes.length - 4);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const token of tokenize(body)) {
    if (token.end - from >= 64 || token.end === body.length) {
      out.push(body.subarray(from, token.end));
      from = token.end;
    }
  }
  return { body: out, cut: bytes.subarray(bytes.length - 4) };
}

/** Counts the bytes `conn` received; `until(n)` resolves at the moment the count reached `n`. */
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

const ready = (): void => {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
};

async function ndjsonTask(task: Extract<RegistersTask, { kind: "ndjson" }>): Promise<RegistersResult> {
  const conns = await Promise.all(task.ports.map(openRetrying));
  // Warm up each register (first open, first statements, JIT).
  await Promise.all(
    conns.map((c, i) =>
      ndjsonSender(c, generateReceipts({ seed: 1, count: 3, registerId: `WARM${i}`, startMs: Date.now() })),
    ),
  );
  ready();
  const samples: number[] = [];
  const t0 = performance.now();
  await Promise.all(
    conns.map(async (c, i) => {
      const receipts = generateReceipts({
        seed: 100 + i,
        count: task.perRegister,
        registerId: `QUAY${i + 1}`,
        startMs: Date.now(),
      });
      let seed = 1 + i;
      const random = (): number => {
        seed = (seed * 16_807) % 2_147_483_647;
        return seed / 2_147_483_647;
      };
      // A small seed's first values are near 0: without this every register sold its first sale at t0, all 16 at
      // once — the saturated case, measured on its own, not "a sale each every ~250 ms".
      random();
      random();
      for (const receipt of receipts) {
        if (task.meanGapMs) await new Promise((r) => setTimeout(r, -Math.log(1 - random()) * task.meanGapMs));
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
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all(conns.map((c) => c.close()));
  return { samples, cutToFooter: [], seconds, sold: samples.length };
}

async function loadTask(task: Extract<RegistersTask, { kind: "load" }>): Promise<RegistersResult> {
  const conns = await Promise.all(task.ports.map(openRetrying));
  let selling = true;
  process.stdin.on("end", () => {
    selling = false;
  });
  process.stdin.resume();
  ready();
  let sold = 0;
  await Promise.all(
    conns.map(async (conn, i) => {
      for (let round = 0; selling; round++) {
        const batch = generateReceipts({
          seed: 500 + i * 1000 + round,
          count: 5,
          registerId: `LOAD${i}R${round}`,
          startMs: Date.now(),
        });
        sold += (await ndjsonSender(conn, batch)).acked;
      }
    }),
  );
  await Promise.all(conns.map((c) => c.close()));
  return { samples: [], cutToFooter: [], seconds: 0, sold };
}

async function printerPathTask(task: Extract<RegistersTask, { kind: "printer-path" }>): Promise<RegistersResult> {
  const printer = await openRetrying(task.printer);
  const pos = await openRetrying(task.pos);
  const printed = byteCounter(printer);
  const jobs = escposJobs(
    generateReceipts({ seed: 77, count: task.receipts + 3, registerId: "QUAY1", startMs: Date.now() }),
    { codePage: "cp1258" },
  );
  // Give a bridge time to open both its ports.
  await new Promise((r) => setTimeout(r, 200));
  ready();
  const samples: number[] = [];
  const cutToFooter: number[] = [];
  const t0 = performance.now();
  let expected = 0;
  for (const [i, job] of jobs.entries()) {
    // The first 3 receipts warm up (JIT, first statements), not counted.
    const counted = i >= 3;
    const { body, cut } = printWrites(job.bytes);
    for (const chunk of body) {
      const t = performance.now();
      await pos.write(chunk);
      expected += chunk.length;
      const got = await printed.until(expected);
      if (counted) samples.push(got - t);
    }
    if (!task.held) continue;
    // The held cut comes back after the footer: wait until the printer's bytes end with the cut.
    const done = waitForTail(printer, cut);
    const t = performance.now();
    await pos.write(cut);
    const got = await done;
    expected = printed.total;
    if (counted) cutToFooter.push(got - t);
  }
  const seconds = (performance.now() - t0) / 1000;
  await Promise.all([pos.close(), printer.close()]);
  return { samples, cutToFooter, seconds, sold: 0 };
}

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2] ?? "") as RegistersTask;
  const result =
    task.kind === "ndjson"
      ? await ndjsonTask(task)
      : task.kind === "load"
        ? await loadTask(task)
        : await printerPathTask(task);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`registers: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
