/**
 * socat pty pairs: a virtual null-modem cable (register-protocols.md §3.1). Killing socat is an unplug
 * (SIGTERM removes the links; SIGKILL leaves them dangling); starting it again with the same links is a replug.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** True when a `socat` binary runs here (`apt-get install socat`). */
export function hasSocat(): boolean {
  try {
    return spawnSync("socat", ["-V"], { stdio: "ignore", timeout: 5_000 }).status === 0;
  } catch {
    return false;
  }
}

/** A running socat pty pair. */
export interface SocatPair {
  /** The two symlinks socat created (to `/dev/pts/N`). */
  readonly a: string;
  readonly b: string;
  readonly pid: number;
  /** Resolves when socat has exited. */
  readonly exited: Promise<void>;
  /** Kill socat and wait for it to exit (SIGTERM: links removed; SIGKILL: links left dangling). */
  stop(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
}

/** Options of {@link startSocatPair}. */
export interface SocatOptions {
  /** Paths of the two links; no commas, colons or spaces (socat's address syntax). */
  readonly a: string;
  readonly b: string;
  /** Give up after this long (default 5 s; with `waitForA`, no limit unless given). */
  readonly timeoutMs?: number;
  /**
   * Start the transfer only once a process has opened A (socat's `wait-slave`): link A exists at once, link B only
   * when A's peer is there. A simulator that owns the cable so learns when hoadon opened its end.
   */
  readonly waitForA?: boolean;
  /** Give up (kill socat) when this aborts. */
  readonly signal?: AbortSignal;
}

/** Every socat we started, killed if this process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
const killAll = (): void => {
  for (const child of running) child.kill("SIGTERM");
};

/**
 * Start `socat -d -d pty,raw,echo=0,link=A pty,raw,echo=0,link=B` and wait until both links exist and socat has
 * printed "starting data transfer loop".
 */
export function startSocatPair(options: SocatOptions): Promise<SocatPair> {
  for (const p of [options.a, options.b]) {
    if (/[,:!\s]/.test(p)) throw new RangeError(`socat link path must not contain , : ! or spaces: ${p}`);
  }
  if (!exitHookInstalled) {
    process.once("exit", killAll);
    exitHookInstalled = true;
  }
  // pty-interval: how often socat looks whether A was opened (default 1 s).
  const a = `pty,raw,echo=0,link=${options.a}${options.waitForA ? ",wait-slave,pty-interval=0.02" : ""}`;
  const child = spawn("socat", ["-d", "-d", a, `pty,raw,echo=0,link=${options.b}`], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  running.add(child);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => {
      running.delete(child);
      resolve();
    });
    child.once("error", () => {
      running.delete(child);
      resolve();
    });
  });
  let stderr = "";
  return new Promise<SocatPair>((resolve, reject) => {
    let settled = false;
    const timeoutMs = options.timeoutMs ?? (options.waitForA ? undefined : 5_000);
    const timer =
      timeoutMs === undefined
        ? undefined
        : setTimeout(
            () => fail(new Error(`socat không khởi động kịp / socat did not start in time: ${stderr.trim()}`)),
            timeoutMs,
          );
    const onAbort = (): void => fail(options.signal?.reason ?? new Error("aborted"));
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      // SIGTERM: socat removes its links (SIGKILL would leave them dangling for the next start).
      child.kill("SIGTERM");
      reject(error);
    };
    if (options.signal?.aborted) {
      fail(options.signal.reason ?? new Error("aborted"));
      return;
    }
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const check = (): void => {
      if (settled || !stderr.includes("starting data transfer loop")) return;
      if (!existsSync(options.a) || !existsSync(options.b)) {
        setTimeout(check, 2);
        return;
      }
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      resolve({
        a: options.a,
        b: options.b,
        pid: child.pid ?? -1,
        exited,
        async stop(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    };
    child.once("error", (error) => fail(new Error(`socat: ${error.message}`, { cause: error })));
    child.once("exit", (code, signal) =>
      fail(new Error(`socat exited early (${code ?? signal}): ${stderr.trim().split("\n").slice(-3).join(" | ")}`)),
    );
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (text: string) => {
      // Keep only what is needed to see the "ready" line and explain a failure.
      stderr = (stderr + text).slice(-4_000);
      check();
    });
  });
}
