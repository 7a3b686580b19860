/**
 * `hoadon demo`: hoadon's main job on its embedded defaults (config/demo.yaml), with nothing from the user — a
 * TEST-ONLY certificate made on the spot, the local tax-authority sandbox, and simulated registers over a
 * pseudo-terminal (socat) or TCP. It prints each sale as it flows (register → invoice code → accepted) and a summary.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";
import { driverCatalogue } from "./catalogue.js";
import type { CommandContext } from "./cli.js";
import { ConfigInvalidError, validateConfig } from "./config/load.js";
import type { ForwarderEvent } from "./forward/index.js";
import type { SessionEvent } from "./ingest/index.js";
import { startDaemon } from "./main.js";
import { type Sandbox, startSandbox } from "./sandbox/index.js";
import { systemClock } from "./shared/clock.js";
import { DaemonError } from "./shared/errors.js";
import { formatDong, type Lang, msg } from "./shared/i18n.js";
import { createLogger } from "./shared/log.js";
import { createTestIdentity } from "./sign/index.js";
import { generateReceipts, hasSocat, type SimulatedRegister, startSimulatedRegister } from "./simulator/index.js";

/** config/demo.yaml, next to the package (dist/src/demo.js → ../../config, src/demo.ts → ../config). */
function demoConfigText(): string {
  for (const rel of ["../../config/demo.yaml", "../config/demo.yaml"]) {
    try {
      return readFileSync(fileURLToPath(new URL(rel, import.meta.url)), "utf8");
    } catch {
      // try the next layout
    }
  }
  throw new DaemonError("CONFIG_UNREADABLE", "Không tìm thấy config/demo.yaml / config/demo.yaml not found");
}

function intOption(v: string | boolean | undefined, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new DaemonError(
      "USAGE",
      `--${name} phải là số nguyên ${min}–${max} / --${name} must be an integer ${min}–${max}`,
    );
  return n;
}

/** Write the demo's test identity and secrets into the data folder; returns the certificate PEM. */
function writeDemoSecrets(dir: string, seller: { name: string; taxCode: string }, sandboxPassword: string): string {
  const id = createTestIdentity({ commonName: seller.name, taxCode: seller.taxCode });
  writeFileSync(join(dir, "test-only-seller.p12"), id.pfx, { mode: 0o600 });
  writeFileSync(join(dir, "test-only-seller.pass"), `${id.password}\n`, { mode: 0o600 });
  writeFileSync(join(dir, "test-only-seller.cert.pem"), id.certPem);
  writeFileSync(join(dir, "sandbox.pass"), `${sandboxPassword}\n`, { mode: 0o600 });
  return id.certPem;
}

export async function runDemo(
  values: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): Promise<number> {
  const lang: Lang = ctx.lang;
  const sales = intOption(values.sales, "sales", 10, 1, 100_000);
  const registerCount = intOption(values.registers, "registers", 1, 1, 16);
  const seed = intOption(values.seed, "seed", 2026, 0, 2 ** 31 - 1);
  const timeoutMs = intOption(values["timeout-ms"], "timeout-ms", 60_000 + sales * 200, 1_000, 86_400_000);
  const via = values.via === undefined ? (hasSocat() ? "pty" : "tcp") : String(values.via);
  if (via !== "pty" && via !== "tcp") throw new DaemonError("USAGE", "--via pty|tcp");
  if (via === "pty" && !hasSocat())
    throw new DaemonError("USAGE", "--via pty cần socat (apt-get install socat) / --via pty needs socat");

  const keep = typeof values.data === "string";
  const dataDir = keep ? resolve(String(values.data)) : mkdtempSync(join(tmpdir(), "hoadon-demo-"));
  mkdirSync(dataDir, { recursive: true });

  const raw = parseYaml(demoConfigText()) as Record<string, unknown> & { seller: { name: string; taxCode: string } };
  const sandboxPassword = randomBytes(12).toString("hex");
  const certPem = writeDemoSecrets(dataDir, raw.seller, sandboxPassword);

  ctx.out(msg(lang, "demo.start"));
  ctx.out(msg(lang, "demo.data", { dir: dataDir }));
  ctx.out(msg(lang, "demo.cert", { path: join(dataDir, "test-only-seller.cert.pem") }));

  const controller = new AbortController();
  const cleanup: Array<() => Promise<void>> = [];
  let sandbox: Sandbox | undefined;
  try {
    sandbox = await startSandbox({
      port: 0,
      replyDelayMs: 300,
      trustedCertPem: certPem,
      credentials: { username: "demo", password: sandboxPassword },
    });
    cleanup.push(() => (sandbox as Sandbox).close());

    // Registers: a pty pair each (socat), or a TCP listener the simulator connects to.
    const sims: SimulatedRegister[] = [];
    const registerIds = Array.from({ length: registerCount }, (_, i) => `quay-${i + 1}`);
    const template = (raw.registers as Array<Record<string, unknown>>)[0] ?? {};
    const ports: string[] = [];
    for (const [i, id] of registerIds.entries()) {
      if (via === "pty") {
        const sim = await startSimulatedRegister({ endpoint: "pty", dir: dataDir, name: id });
        cleanup.push(() => sim.close());
        sims[i] = sim;
        ports.push(sim.daemonPort);
      } else ports.push("tcp-listen://127.0.0.1:0"); // the session reports the port it got ("listening")
    }
    raw.registers = registerIds.map((id, i) => ({ ...template, id, port: ports[i] }));
    (raw.authority as Record<string, unknown>).url = sandbox.url;

    const { config, issues } = validateConfig(raw, driverCatalogue, dataDir);
    if (!config) throw new ConfigInvalidError("config/demo.yaml", issues);
    writeFileSync(join(dataDir, "demo.yaml"), `# written by hoadon demo\n${JSON.stringify(raw, null, 2)}\n`);

    const listening = new Map<string, (address: string) => void>();
    const listeningAt = registerIds.map((id) => new Promise<string>((res) => listening.set(id, res)));
    const invoiceReceipts = new Map<string, string>();
    let accepted = 0;
    let rejected = 0;
    let invoices = 0;
    let settled: () => void = () => {};
    const allSettled = new Promise<void>((res) => {
      settled = res;
    });
    const checkSettled = (): void => {
      if (accepted + rejected >= sales) settled();
    };

    const onSessionEvent = (e: SessionEvent): void => {
      if (e.type === "listening" && e.side !== "device") listening.get(e.registerId)?.(e.address);
      if (e.type === "port-up") ctx.out(msg(lang, "demo.register", { id: e.registerId, via: e.port }));
    };
    const onForwarderEvent = (e: ForwarderEvent): void => {
      if (e.type === "invoice-accepted") {
        accepted++;
        ctx.out(msg(lang, "demo.accepted", { mccqt: e.mccqt }));
      } else if (e.type === "invoice-rejected") {
        rejected++;
        ctx.out(msg(lang, "demo.rejected", { mccqt: e.mccqt, reason: e.reason }));
      }
      checkSettled();
    };

    const log = createLogger({ level: config.log.level });
    const daemon = await startDaemon({
      config,
      log,
      clock: systemClock,
      signal: controller.signal,
      onSessionEvent,
      onForwarderEvent,
    });
    cleanup.unshift(async () => {
      controller.abort();
      await daemon.stopped;
    });
    // The daemon stops early only when its writer thread died: say why and stop waiting.
    daemon.stopped.catch((error: unknown) => {
      ctx.err(error instanceof Error ? error.message : String(error));
      settled();
    });

    if (via === "tcp") {
      for (const [i, id] of registerIds.entries()) {
        const address = await listeningAt[i];
        const sim = await startSimulatedRegister({ endpoint: "tcp", address: `tcp://${address}` });
        cleanup.push(() => sim.close());
        sims[i] = sim;
        ctx.out(msg(lang, "demo.register", { id, via: address as string }));
      }
    }

    // Sales spread over the registers, each register sending its own receipts in order.
    const perRegister = registerIds.map((id, i) =>
      generateReceipts({
        seed: seed + i,
        count: Math.floor(sales / registerCount) + (i < sales % registerCount ? 1 : 0),
        registerId: id.replace("-", "").toUpperCase(),
        startMs: systemClock.now(),
      }),
    );
    const timer = setTimeout(() => settled(), timeoutMs);
    const sending = registerIds.map((id, i) =>
      (sims[i] as SimulatedRegister).send(perRegister[i] ?? [], {
        signal: controller.signal,
        onResult: (r) => {
          if (r.reply?.type !== "ack") {
            ctx.out(`${id} ${r.id}: ${r.status} ${r.reply?.type === "nak" ? r.reply.error : ""}`);
            return;
          }
          invoices++;
          invoiceReceipts.set(r.reply.mccqt ?? "", r.id);
          ctx.out(
            msg(lang, "demo.sale", {
              register: id,
              receipt: r.id,
              total: formatDong(Number(r.receipt.total)),
              mccqt: r.reply.mccqt ?? "?",
              shdon: r.reply.shdon ?? "?",
              khhdon: r.reply.khhdon ?? "?",
            }),
          );
        },
      }),
    );
    await Promise.all(sending);
    await allSettled;
    clearTimeout(timer);

    const pending = sales - accepted - rejected;
    ctx.out("");
    ctx.out(msg(lang, "demo.summary", { sales, invoices, accepted, rejected, pending }));
    if (pending > 0) ctx.err(msg(lang, "demo.timeout", { n: sales }));
    if (keep) ctx.out(msg(lang, "demo.keep", { dir: dataDir }));
    return accepted === sales ? 0 : 1;
  } finally {
    for (const step of cleanup) await step().catch(() => undefined);
    if (!keep) rmSync(dataDir, { recursive: true, force: true });
  }
}
