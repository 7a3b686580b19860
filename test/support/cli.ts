import { type ChildProcess, spawn } from "node:child_process";

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Start `node bin/hoadon.js …` as a real process. */
export function spawnHoadon(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): ChildProcess & { done: Promise<CliRun> } {
  const child = spawn(process.execPath, ["bin/hoadon.js", ...args], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d: Buffer) => {
    stdout += d.toString("utf8");
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString("utf8");
  });
  const done = new Promise<CliRun>((resolve) => {
    child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return Object.assign(child, { done });
}

/** Run `hoadon …` to completion. */
export function runHoadon(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<CliRun> {
  return spawnHoadon(args, env).done;
}
