/**
 * Memory and start-up of the real daemon (design.md "Performance budget": RSS under 128 MiB with 16 registers and a
 * 1,000,000-invoice database, flat over a soak run; start to ready under 1 s).
 *
 * 1. A store with N invoices (1,000,000; 100,000 with --quick) is made quickly: a few receipts go through the real
 *    write path, then SQL copies them with new numbers (the copies' signatures are not valid, which does not matter
 *    for memory; their deliveries are `accepted`, as in a shop's year-old file).
 * 2. `hoadon run` is started on it with 16 ndjson registers (tcp-listen) and the sandbox on loopback; start → ready
 *    is timed against starting a bare `node` in the same run.
 * 3. 16 simulated registers sell for the soak time (each a sale every 250 ms), everything is forwarded; the daemon's
 *    RSS is sampled from /proc every 500 ms. Reported: RSS idle after start, peak, at the end, the slope over the
 *    second half (MiB/min: flat means ≈ 0), and RSS as a multiple of a bare `node` process's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import { tcpConnectSource } from "../src/ingest/tcp.js";
import { createTestIdentity } from "../src/sign/index.js";
import { generateReceipts, ndjsonSender } from "../src/simulator/index.js";
import { openStore } from "../src/store/db.js";
import { startDemoSandbox, writeDemoConfig } from "../test/support/demo-config.js";
import { freePort } from "../test/support/net.js";
import type { BenchOptions, BenchRow } from "./types.js";

export const title = "daemon memory and start-up (design budget)";

const REGISTERS = 16;
const MiB = 1024 * 1024;

/** VmRSS of a process, bytes; undefined once it is gone. */
function rssOf(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Spawn → first line on stderr or stdout matching `ready`, in ms. */
function startTimed(
  cmd: string,
  args: readonly string[],
  ready: RegExp,
): { child: ChildProcess; ready: Promise<number> } {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
  const readyAt = new Promise<number>((resolve, reject) => {
    let seen = "";
    const on = (d: Buffer): void => {
      seen += d.toString("utf8");
      if (ready.test(seen)) resolve(performance.now() - t0);
    };
    child.stdout?.on("data", on);
    child.stderr?.on("data", on);
    child.once("exit", (code) => reject(new Error(`exited ${code} before ready: ${seen.slice(-400)}`)));
  });
  return { child, ready: readyAt };
}

/** Fill `file` up to `n` invoices by copying the rows the real write path made (see the module comment). */
function bulkFill(file: string, n: number): void {
  const db = openStore(file);
  try {
    const have = (db.prepare("SELECT count(*) AS n FROM invoices").get() as { n: number }).n;
    if (have === 0) throw new Error("seed the store through the daemon first");
    const add = n - have;
    if (add <= 0) return;
    const step = 50_000;
    for (let done = 0; done < add; done += step) {
      const count = Math.min(step, add - done);
      db.transaction(() => {
        const base = (db.prepare("SELECT max(id) AS m FROM receipts").get() as { m: number }).m;
        db.prepare(
          `WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < @count)
           INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json)
           SELECT 'archive', 'A' || (@done + k), r.driver, r.received_at, r.issued_at, r.raw, r.receipt_json
             FROM s JOIN receipts r ON r.id = 1 + ((k - 1) % @have)`,
        ).run({ count, done, have });
        db.prepare(
          `WITH RECURSIVE s(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM s WHERE k < @count)
           INSERT INTO invoices (receipt_row, khmshdon, khhdon, shdon, mccqt, nlap, total, qr, signed_xml,
                                 signed_xml_size, sha256, chain, created_at, deadline_at)
           SELECT @base + k, i.khmshdon, 'C25MZZ', @done + k, 'M1-25-ZZZZZ-' || printf('%011d', @done + k), i.nlap,
                  i.total, i.qr, i.signed_xml, i.signed_xml_size, i.sha256, i.chain, i.created_at, i.deadline_at
             FROM s JOIN invoices i ON i.id = 1 + ((k - 1) % @have)`,
        ).run({ count, done, have, base });
        db.prepare(
          `INSERT INTO deliveries (invoice_id, state, updated_at)
           SELECT id, 'accepted', created_at FROM invoices WHERE khhdon = 'C25MZZ' AND shdon > @done`,
        ).run({ done });
      })();
    }
    db.pragma("wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
}

/** Least-squares slope of (t ms, rss bytes), in MiB per minute. */
function slopeMiBPerMin(points: readonly (readonly [number, number])[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mt = points.reduce((a, p) => a + p[0], 0) / n;
  const mr = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [t, r] of points) {
    num += (t - mt) * (r - mr);
    den += (t - mt) ** 2;
  }
  return den === 0 ? 0 : ((num / den) * 60_000) / MiB;
}

const BIN = join(process.cwd(), "bin", "hoadon.js");

export async function run(options: BenchOptions): Promise<BenchRow[]> {
  const invoices = options.quick ? 100_000 : 1_000_000;
  const soakMs = options.quick ? 20_000 : 120_000;
  const dir = mkdtempSync(join(tmpdir(), "hoadon-soak-"));
  const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
  const sandbox = await startDemoSandbox(identity, { replyDelayMs: 20 });
  const daemons: ChildProcess[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < REGISTERS; i++) ports.push(await freePort());
    // A shop's log level (info): every sale logs a line, as it does in the field.
    const { file } = writeDemoConfig(dir, {
      identity,
      authorityUrl: sandbox.url,
      registers: ports.map((p, i) => ({
        id: `quay-${i + 1}`,
        driver: "ndjson-v1",
        port: `tcp-listen://127.0.0.1:${p}`,
      })),
      log: { level: "info" },
    });
    const READY = /hoadon (đang chạy|running)/;

    // Seed: a few real invoices through the daemon, then the bulk copies.
    options.log(`soak: seeding, then ${invoices} invoices by SQL …`);
    const seedRun = startTimed(BIN, ["run", "--config", file], READY);
    daemons.push(seedRun.child);
    await seedRun.ready;
    await sell(ports.slice(0, 1), 20, 0, 1);
    seedRun.child.kill("SIGTERM");
    await new Promise((r) => seedRun.child.once("exit", r));
    const t0 = performance.now();
    bulkFill(join(dir, "hoadon.sqlite"), invoices);
    const fillSeconds = (performance.now() - t0) / 1000;
    const dbBytes = statSync(join(dir, "hoadon.sqlite")).size;

    // Reference: a bare node, started and measured the same way.
    const bare = startTimed(process.execPath, ["-e", "console.log('ready'); setTimeout(() => {}, 2000)"], /ready/);
    const bareReadyMs = await bare.ready;
    await delay(200);
    const bareRss = rssOf(bare.child.pid ?? -1) ?? Number.NaN;
    bare.child.kill();

    // As a shop runs it: the bin script itself, so its shebang's V8 flags apply.
    const daemon = startTimed(BIN, ["run", "--config", file], READY);
    daemons.push(daemon.child);
    const readyMs = await daemon.ready;
    const pid = daemon.child.pid ?? -1;
    await delay(1000);
    const idleRss = rssOf(pid) ?? Number.NaN;

    options.log(`soak: ${REGISTERS} registers for ${soakMs / 1000} s …`);
    const samples: [number, number][] = [];
    const start = performance.now();
    const sampler = setInterval(() => {
      const r = rssOf(pid);
      if (r !== undefined) samples.push([performance.now() - start, r]);
    }, 500);
    const perRegister = Math.ceil(soakMs / 250);
    const sold = await Promise.race([sell(ports, perRegister, 250, 100), delay(soakMs + 30_000).then(() => -1)]);
    clearInterval(sampler);
    const endRss = rssOf(pid) ?? Number.NaN;
    const peak = Math.max(...samples.map((s) => s[1]));
    const secondHalf = samples.filter((s) => s[0] >= (samples.at(-1)?.[0] ?? 0) / 2);
    const slope = slopeMiBPerMin(secondHalf);

    const mib = (b: number): string => `${(b / MiB).toFixed(1)} MiB`;
    return [
      {
        group: title,
        name: `store: ${invoices.toLocaleString("en")} invoices`,
        value: `${(dbBytes / MiB).toFixed(0)} MiB file, filled in ${fillSeconds.toFixed(0)} s`,
      },
      {
        group: title,
        name: "start → ready (hoadon run, 16 registers)",
        value: `${readyMs.toFixed(0)} ms`,
        ratio: readyMs / bareReadyMs,
        note: `target < 1 s; ratio to a bare node start (${bareReadyMs.toFixed(0)} ms)`,
      },
      {
        group: title,
        name: "RSS idle after start",
        value: mib(idleRss),
        ratio: idleRss / bareRss,
        note: `ratio to a bare node (${mib(bareRss)})`,
      },
      {
        group: title,
        name: `RSS peak, ${REGISTERS} registers selling ${soakMs / 1000} s`,
        value: mib(peak),
        ratio: peak / bareRss,
        note: `target < 128 MiB; ${sold < 0 ? "sales did not finish in time" : `${sold} receipts acknowledged`}`,
      },
      {
        group: title,
        name: "RSS at the end / slope over the second half",
        value: `${mib(endRss)} / ${slope.toFixed(2)} MiB/min`,
        note: "flat ≈ 0 MiB/min",
      },
    ];
  } finally {
    for (const d of daemons) if (d.exitCode === null) d.kill("SIGTERM");
    await delay(300);
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `count` sales on each port, `gapMs` apart; resolves with how many were acknowledged. */
async function sell(ports: readonly number[], count: number, gapMs: number, seed: number): Promise<number> {
  const acked = await Promise.all(
    ports.map(async (port, i) => {
      const conn = await connectRetrying(port);
      try {
        const receipts = generateReceipts({
          seed: seed + i,
          count,
          startMs: Date.now(),
          registerId: `S${seed}R${i + 1}`,
        });
        const report = await ndjsonSender(conn, receipts, { gapMs });
        return report.acked + report.dup;
      } finally {
        await conn.close();
      }
    }),
  );
  return acked.reduce((a, b) => a + b, 0);
}

/** The daemon says it is running once its sessions have started; a listener may still be a moment away. */
async function connectRetrying(port: number) {
  const source = tcpConnectSource({ host: "127.0.0.1", port });
  for (let i = 0; ; i++) {
    try {
      return await source.open(new AbortController().signal);
    } catch (e) {
      if (i >= 50) throw e;
      await delay(100);
    }
  }
}
