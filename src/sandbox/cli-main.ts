/**
 * `hoadon sandbox`: the authority sandbox on its own, until stopped (the lead wires the command line to
 * {@link runSandbox}).
 */
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { silentLogger } from "../shared/log.js";
import { describeFaults, type FaultPlan, parseFaults } from "./faults.js";
import { type SandboxStats, startSandbox } from "./server.js";

/** Options of {@link runSandbox}; everything but `signal` has a default fit for a demo on one machine. */
export interface RunSandboxOptions {
  /** Default `127.0.0.1`. */
  readonly host?: string;
  /** Default 8787; 0 picks a free port. */
  readonly port?: number;
  /** Default 1000 ms. */
  readonly replyDelayMs?: number;
  /** Default `demo` / `demo` (a sandbox account, not a secret). */
  readonly username?: string;
  readonly password?: string;
  /** Default 1 h. */
  readonly tokenTtlMs?: number;
  /** PEM file of the certificate CKSNNT must verify against; without it signatures are not checked. */
  readonly trustedCertFile?: string;
  /** Read every n-th invoice in full, the others by pattern only (authority.ts `checkEvery`). Default 1. */
  readonly checkEvery?: number;
  /** Faults to show: a `--faults` text (syntax in faults.ts) or a parsed plan. Throws `USAGE` when bad. */
  readonly faults?: string | FaultPlan;
  readonly log?: Logger;
  /** Where the human-readable lines go. Default stdout. */
  readonly out?: (line: string) => void;
  /** Stops the sandbox. */
  readonly signal: AbortSignal;
}

/** Runs the sandbox until `signal` aborts; prints its address at start and its counters at the end. */
export async function runSandbox(opts: RunSandboxOptions): Promise<SandboxStats> {
  const out = opts.out ?? ((line: string): void => void process.stdout.write(`${line}\n`));
  const username = opts.username ?? "demo";
  const password = opts.password ?? "demo";
  const faults = typeof opts.faults === "string" ? parseFaults(opts.faults) : opts.faults;
  const sandbox = await startSandbox({
    host: opts.host ?? "127.0.0.1",
    port: opts.port ?? 8787,
    replyDelayMs: opts.replyDelayMs ?? 1000,
    credentials: { username, password },
    tokenTtlMs: opts.tokenTtlMs ?? 3_600_000,
    log: opts.log ?? silentLogger,
    ...(faults ? { faults } : {}),
    ...(opts.checkEvery !== undefined ? { checkEvery: opts.checkEvery } : {}),
    ...(opts.trustedCertFile ? { trustedCertPem: readFileSync(opts.trustedCertFile, "utf8") } : {}),
  });
  out(`Cơ quan thuế giả lập (sandbox) đang chạy tại ${sandbox.url} — tài khoản ${username}`);
  out(
    `  http-xml: POST ${sandbox.url}/auth/login · POST ${sandbox.url}/v1/messages · GET ${sandbox.url}/v1/messages/{MTDiep}/replies`,
  );
  out(
    `  http-json-base64: POST ${sandbox.url}/ftvan-hddt/hdon/mttien · GET ${sandbox.url}/ftvan-hddt/tbao/tcuu/tcuutbao?maGDichTNDLieu=…`,
  );
  const faultLines = faults ? describeFaults(faults) : [];
  if (faultLines.length > 0) out(`  Lỗi giả lập / faults: ${faultLines.join("; ")}`);
  if (!opts.signal.aborted)
    await new Promise<void>((r) => opts.signal.addEventListener("abort", () => r(), { once: true }));
  const stats = sandbox.stats();
  await sandbox.close();
  out(
    `Đã nhận ${stats.received} thông điệp (${stats.duplicates} trùng), ${stats.invoicesAccepted} hóa đơn hợp lệ, ` +
      `${stats.invoicesRejected} bị từ chối, ${stats.duplicateInvoices} hóa đơn gửi trùng`,
  );
  const fired = Object.entries(stats.faults);
  if (fired.length > 0) out(`Lỗi giả lập đã xảy ra / faults fired: ${fired.map(([k, n]) => `${k} ×${n}`).join(", ")}`);
  return stats;
}
