/**
 * Backlog drain (design.md "Performance budget", issue 5): N invoices already queued in a real store
 * (WAL, synchronous=FULL) are drained by the real forwarder — TDiep 206 batches of ≤ 1000 invoices / 2 MB, signed
 * `CKSNNT`, the `http-xml` gateway over loopback — to the local sandbox, until every one is accepted (999 + 204).
 *
 * Reported, with references measured in the same run:
 * - **drain rate** (invoices/s from start to the last acceptance), and its ratio to the rate at which the same
 *   rows were queued by plain INSERTs in one transaction (the store's own ceiling on this machine);
 * - **bytes stored per invoice** after the drain (database file after a WAL checkpoint ÷ N): receipt, invoice,
 *   delivery, batch, attempts, replies — everything the daemon keeps, the signed XML compressed as the write path
 *   stores it (src/store/signed-xml.ts; so the INSERT reference includes that compression too);
 * - **commit latency at synchronous=FULL** of a one-invoice write transaction (the write path's commit), p50/p99,
 *   and its ratio to a raw `write + fsync` of 4 KiB on the same filesystem.
 *
 * How the rows are made quickly: K realistic invoices (8 lines, seller data, per-line VAT, the register's fields)
 * are built and really signed; the N rows are copies with their numbers (SHDon, MCCQT, Id) rewritten, so they
 * are the size of real invoices, but the per-invoice signatures of the copies no longer verify. The sandbox runs
 * without a trusted certificate here (it checks signatures only when given one); the batch signature `CKSNNT` is
 * real. The sandbox reads every 20th invoice in full (facts, arithmetic) and checks every invoice's numbers and
 * MCCQT by pattern (authority.ts `checkEvery`), and runs in a worker thread: it stands for the T-VAN on another
 * machine, so it gets its own core instead of competing with the daemon's.
 */
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdtempSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { createHttpXmlGateway } from "../src/forward/gateway.js";
import { type EnvelopeConfig, startForwarder } from "../src/forward/index.js";
import { amountInWords, assembleHdon, dlhdonId } from "../src/invoice/index.js";
import { startSandbox } from "../src/sandbox/index.js";
import { systemClock, vnDate, vnDateTime, vnEndOfDay } from "../src/shared/clock.js";
import { silentLogger } from "../src/shared/log.js";
import { createSigner, createTestIdentity, loadPkcs12, type XmlSigner } from "../src/sign/index.js";
import { openStore } from "../src/store/db.js";
import { packSignedXml } from "../src/store/signed-xml.js";
import { el, textEl } from "../src/xml/canonical.js";
import type { BenchOptions, BenchRow } from "./types.js";

/** Title in the bench table. */
export const title = "backlog drain to the local sandbox (issue 5)";

/** Options of {@link benchDrain}. */
export interface DrainOptions {
  /** Invoices queued and drained. */
  readonly invoices: number;
  /** Sandbox: read every n-th invoice in full. Default 20. */
  readonly checkEvery?: number;
  /** Run the sandbox in a worker thread (default) or on the daemon's own event loop. */
  readonly sandbox?: "worker" | "in-process";
  /** One-invoice transactions timed for the commit latency. Default 200. */
  readonly commits?: number;
  readonly log?: (line: string) => void;
}

/** What {@link benchDrain} measured. */
export interface DrainResult {
  readonly invoices: number;
  readonly drainSeconds: number;
  readonly drainPerSec: number;
  /** Reference: the same rows queued with plain INSERTs, one transaction. */
  readonly insertPerSec: number;
  readonly batches: number;
  readonly bytesPerInvoice: number;
  /** Average signed invoice XML, for scale. */
  readonly invoiceXmlBytes: number;
  readonly commitP50Ms: number;
  readonly commitP99Ms: number;
  /** Reference: raw 4 KiB write + fsync on the same filesystem. */
  readonly fsyncP50Ms: number;
}

const ENVELOPE: EnvelopeConfig = {
  pban: "2.1.1",
  mngui: "0100000099",
  mnnhan: "TCT",
  mst: "0100000001",
  invoiceSignatures: "keep",
};
const CREDENTIALS = { username: "bench", password: "bench" };
const KHHDON = "C26MBN";
const ITEMS = [
  ["CF02", "Cà phê sữa đá", "ly", 29_000, 8],
  ["CF05", "Trà sữa trân châu đường đen", "ly", 39_000, 8],
  ["CF08", "Bánh mì thịt nướng", "ổ", 25_000, 8],
  ["TP02", "Nước mắm Nam Ngư 500ml", "chai", 42_000, 8],
  ["TP07", "Sữa tươi Vinamilk không đường 1 lít", "hộp", 36_000, 8],
  ["BI01", "Bia Sài Gòn Special lon 330ml", "lon", 19_000, 10],
  ["TS06", "Đường kính trắng Biên Hòa 1kg", "túi", 28_000, 8],
  ["RU01", "Rượu vang Đà Lạt đỏ 750ml", "chai", 145_000, 10],
] as const;

/** One realistic, really signed invoice (the template the copies are made from). */
function templateInvoice(signer: XmlSigner, shdon: number, now: number): { xml: string; total: number } {
  const id = dlhdonId("1", KHHDON, shdon);
  const groups = new Map<number, number>();
  let lines = "";
  ITEMS.forEach(([code, name, unit, price, rate], i) => {
    const qty = 1 + ((shdon + i) % 3);
    const amount = qty * price;
    groups.set(rate, (groups.get(rate) ?? 0) + amount);
    lines += el(
      "HHDVu",
      textEl("TChat", 1) +
        textEl("STT", i + 1) +
        textEl("MHHDVu", code) +
        textEl("THHDVu", name) +
        textEl("DVTinh", unit) +
        textEl("SLuong", qty) +
        textEl("DGia", price) +
        textEl("ThTien", amount) +
        textEl("TSuat", `${rate}%`),
    );
  });
  let net = 0;
  let vat = 0;
  let ltsuat = "";
  for (const [rate, amount] of [...groups].sort((a, b) => a[0] - b[0])) {
    const tax = Math.round((amount * rate) / 100);
    net += amount;
    vat += tax;
    ltsuat += el("LTSuat", textEl("TSuat", `${rate}%`) + textEl("ThTien", amount) + textEl("TThue", tax));
  }
  const total = net + vat;
  const ttin = (name: string, type: string, value: string): string =>
    el("TTin", textEl("TTruong", name) + textEl("KDLieu", type) + textEl("DLieu", value));
  const dlhdon = el(
    "DLHDon",
    el(
      "TTChung",
      textEl("PBan", "2.1.0") +
        textEl("THDon", "Hóa đơn giá trị gia tăng") +
        textEl("KHMSHDon", "1") +
        textEl("KHHDon", KHHDON) +
        textEl("SHDon", shdon) +
        textEl("NLap", vnDate(now)) +
        textEl("HDCTTChinh", 0) +
        textEl("DVTTe", "VND") +
        textEl("HTTToan", "TM/CK") +
        textEl("MSTTCGP", "0100000099"),
    ) +
      el(
        "NDHDon",
        el(
          "NBan",
          textEl("Ten", "CÔNG TY TNHH VÍ DỤ CÀ PHÊ (CHẠY THỬ)") +
            textEl("MST", "0100000001") +
            textEl("DChi", "Số 1 Phố Ví Dụ, Phường Ví Dụ, Hà Nội") +
            textEl("SDThoai", "0240000000"),
        ) +
          el("DSHHDVu", lines) +
          el(
            "TToan",
            el("THTTLTSuat", ltsuat) +
              textEl("TgTCThue", net) +
              textEl("TgTThue", vat) +
              textEl("TgTTTBSo", total) +
              textEl("TgTTTBChu", amountInWords(total)),
          ),
      ) +
      el(
        "TTKhac",
        ttin("ThoiDiemLap", "dateTime", vnDateTime(now)) +
          ttin("MaMayTinhTien", "string", "quay-1") +
          ttin("SoHoaDonMay", "string", `HD-${shdon}`),
      ),
    { Id: id },
  );
  const signature = signer.signEnveloped({
    refId: id,
    canonical: dlhdon,
    signatureId: `${id}-NBan`,
    signingTime: vnDateTime(now),
  });
  return { xml: assembleHdon({ dlhdon, qr: "", mccqt: mccqtOf(shdon), signature }), total };
}

function mccqtOf(shdon: number): string {
  return `M1-26-BENCH-${String(shdon).padStart(11, "0")}`;
}

/** A template with its numbers rewritten to `shdon` (same size as a real invoice; its own signature no longer fits). */
function copyOf(template: { xml: string; shdon: number }, shdon: number): string {
  return template.xml
    .replaceAll(dlhdonId("1", KHHDON, template.shdon), dlhdonId("1", KHHDON, shdon))
    .replace(`<SHDon>${template.shdon}</SHDon>`, `<SHDon>${shdon}</SHDon>`)
    .replace(mccqtOf(template.shdon), mccqtOf(shdon))
    .replace(`<DLieu>HD-${template.shdon}</DLieu>`, `<DLieu>HD-${shdon}</DLieu>`);
}

function percentile(xs: readonly number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? Number.NaN;
}

interface RunningSandbox {
  readonly url: string;
  close(): Promise<void>;
}

async function sandboxOn(mode: "worker" | "in-process", checkEvery: number): Promise<RunningSandbox> {
  const options = { replyDelayMs: 0, credentials: CREDENTIALS, checkEvery };
  if (mode === "in-process") return startSandbox(options);
  const worker = new Worker(fileURLToPath(new URL("../src/sandbox/worker.js", import.meta.url)), {
    workerData: options,
  });
  const url = await new Promise<string>((resolve, reject) => {
    worker.once("message", (m: { url: string }) => resolve(m.url));
    worker.once("error", reject);
  });
  return {
    url,
    close: async () => {
      await worker.terminate();
    },
  };
}

/** Queues `opts.invoices` invoices, drains them to the sandbox, and measures (see the file comment). */
export async function benchDrain(opts: DrainOptions): Promise<DrainResult> {
  const log = opts.log ?? (() => {});
  const n = opts.invoices;
  const dir = mkdtempSync(join(tmpdir(), "hoadon-bench-drain-"));
  try {
    const identity = createTestIdentity({ taxCode: "0100000001", commonName: "Bench" });
    const signer = createSigner(loadPkcs12(identity.pfx, identity.password));
    const now = Date.now();
    const templates = Array.from({ length: 16 }, (_, i) => ({
      shdon: 900_000 + i,
      ...templateInvoice(signer, 900_000 + i, now),
    }));
    const file = join(dir, "hoadon.sqlite");
    const db = openStore(file);

    // Queue: what the write path would have stored for each sale (receipt raw + JSON, invoice, pending delivery).
    log(`  queueing ${n} invoices …`);
    const rawReceipt = Buffer.from(
      `{"type":"receipt","id":"HD-0","lines":[${'{"code":"CF02","qty":"2","price":29000},'.repeat(12)}{}]}\n`,
    );
    const receiptJson = JSON.stringify({ registerId: "quay-1", lines: ITEMS.map((i) => ({ code: i[0], name: i[1] })) });
    const insReceipt = db.prepare(
      `INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json)
       VALUES ('quay-1', ?, 'ndjson-v1', ?, ?, ?, ?)`,
    );
    const insInvoice = db.prepare(
      `INSERT INTO invoices (receipt_row, khmshdon, khhdon, shdon, mccqt, nlap, total, qr, signed_xml, signed_xml_size,
                             sha256, chain, created_at, deadline_at) VALUES (?, '1', ?, ?, ?, ?, ?, '', ?, ?, ?, ?, ?, ?)`,
    );
    const insDelivery = db.prepare("INSERT INTO deliveries (invoice_id, state, updated_at) VALUES (?, 'pending', ?)");
    let chain = "0".repeat(64);
    let xmlBytes = 0;
    const queueOne = (shdon: number): void => {
      const t = templates[shdon % templates.length] as (typeof templates)[number];
      const xml = Buffer.from(copyOf(t, shdon), "utf8");
      xmlBytes += xml.length;
      const sha = createHash("sha256").update(xml).digest("hex");
      chain = createHash("sha256").update(chain).update(xml).digest("hex");
      const r = insReceipt.run(`HD-${shdon}`, now, vnDateTime(now), rawReceipt, receiptJson);
      // Stored the way the write path stores it (store.insertInvoice), compression included.
      const packed = packSignedXml(xml);
      const i = insInvoice.run(
        r.lastInsertRowid,
        KHHDON,
        shdon,
        mccqtOf(shdon),
        vnDate(now),
        t.total,
        packed.signedXml,
        packed.signedXmlSize,
        sha,
        chain,
        now,
        vnEndOfDay(now),
      );
      insDelivery.run(i.lastInsertRowid, now);
    };
    const t0 = performance.now();
    db.transaction(() => {
      for (let s = 1; s <= n; s++) queueOne(s);
    })();
    const insertPerSec = n / ((performance.now() - t0) / 1000);

    // Drain.
    const sandbox = await sandboxOn(opts.sandbox ?? "worker", opts.checkEvery ?? 20);
    const stop = new AbortController();
    log(`  draining to ${sandbox.url} …`);
    let accepted = 0;
    let allAccepted: () => void = () => {};
    const finished = new Promise<void>((resolve) => {
      allAccepted = resolve;
    });
    const d0 = performance.now();
    const fw = startForwarder({
      db,
      gateway: createHttpXmlGateway({ baseUrl: sandbox.url, ...CREDENTIALS, signal: stop.signal }),
      signer,
      envelope: ENVELOPE,
      clock: systemClock,
      log: silentLogger,
      signal: stop.signal,
      pollIntervalMs: 25,
      retry: { minDelayMs: 50, maxDelayMs: 1000 },
      // Counting events costs the forwarder nothing; counting rows would take its thread from it.
      onEvent: (e) => {
        if (e.type === "invoice-accepted" && ++accepted >= n) allAccepted();
      },
    });
    await finished;
    const drainSeconds = (performance.now() - d0) / 1000;
    stop.abort();
    await fw.stopped;
    await sandbox.close();
    const batches = db.prepare("SELECT count(*) FROM batches").pluck().get() as number;
    const rejected = db.prepare("SELECT count(*) FROM deliveries WHERE state = 'rejected'").pluck().get() as number;
    if (rejected > 0) throw new Error(`${rejected} invoices rejected by the sandbox`);
    db.pragma("wal_checkpoint(TRUNCATE)");
    const bytesPerInvoice = statSync(file).size / n;

    // Commit latency of one-invoice write transactions at synchronous=FULL, and raw fsync as the reference.
    const commits = opts.commits ?? 200;
    const commitMs: number[] = [];
    for (let k = 0; k < commits; k++) {
      const c0 = performance.now();
      db.transaction(() => queueOne(n + 1 + k))();
      commitMs.push(performance.now() - c0);
    }
    db.close();
    const fsyncMs: number[] = [];
    const fd = openSync(join(dir, "fsync.probe"), "w");
    const block = Buffer.alloc(4096, 1);
    for (let k = 0; k < commits; k++) {
      const f0 = performance.now();
      writeSync(fd, block);
      fsyncSync(fd);
      fsyncMs.push(performance.now() - f0);
    }
    closeSync(fd);
    return {
      invoices: n,
      drainSeconds,
      drainPerSec: n / drainSeconds,
      insertPerSec,
      batches,
      bytesPerInvoice,
      invoiceXmlBytes: xmlBytes / (n + commits),
      commitP50Ms: percentile(commitMs, 0.5),
      commitP99Ms: percentile(commitMs, 0.99),
      fsyncP50Ms: percentile(fsyncMs, 0.5),
    };
  } finally {
    if (process.env.HOADON_BENCH_KEEP) process.stderr.write(`kept ${dir}\n`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** The bench module entry (bench/types.ts): 100,000 invoices, 10,000 with `--quick`. */
export async function run(options: BenchOptions): Promise<BenchRow[]> {
  const r = await benchDrain({ invoices: options.quick ? 10_000 : 100_000, log: options.log });
  const kb = (b: number): string => `${(b / 1024).toFixed(2)} KiB`;
  return [
    {
      group: title,
      name: `drain ${r.invoices.toLocaleString("en-US")} invoices (${r.batches} batches)`,
      opsPerSec: r.drainPerSec,
      ratio: r.drainPerSec / r.insertPerSec,
      value: `${r.drainSeconds.toFixed(1)} s`,
      note: `target ≥ 2,000/s; ratio to the INSERT reference below`,
    },
    {
      group: title,
      name: "reference: queue the same rows (INSERT, one transaction)",
      opsPerSec: r.insertPerSec,
      ratio: 1,
    },
    {
      group: title,
      name: "bytes stored per invoice (after drain, WAL checkpointed)",
      value: kb(r.bytesPerInvoice),
      ratio: r.bytesPerInvoice / r.invoiceXmlBytes,
      note: `target < 8 KiB; ratio to the signed invoice XML (${kb(r.invoiceXmlBytes)})`,
    },
    {
      group: title,
      name: "commit latency, one invoice per transaction, synchronous=FULL",
      value: `p50 ${r.commitP50Ms.toFixed(2)} ms, p99 ${r.commitP99Ms.toFixed(2)} ms`,
      ratio: r.commitP50Ms / r.fsyncP50Ms,
      note: "ratio: p50 to the raw fsync reference below",
    },
    { group: title, name: "reference: write 4 KiB + fsync", value: `p50 ${r.fsyncP50Ms.toFixed(2)} ms`, ratio: 1 },
  ];
}

// `node dist/bench/drain.js [N]`: this benchmark alone.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const n = Number(process.argv[2] ?? 100_000);
  const mode = process.argv.includes("--in-process") ? "in-process" : "worker";
  const r = await benchDrain({ invoices: n, sandbox: mode, log: (l) => process.stderr.write(`${l}\n`) });
  process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
}
