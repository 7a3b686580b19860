/** `hoadon sandbox`: the local tax-authority sandbox on its own, until Ctrl-C. */
import type { CommandContext } from "../cli.js";
import { runSandbox } from "../sandbox/index.js";
import { DaemonError } from "../shared/errors.js";

function num(v: string | boolean | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new DaemonError("USAGE", `--${name} phải là số nguyên / must be an integer`);
  return n;
}

export async function sandboxCommand(
  v: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): Promise<number> {
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  process.once("SIGTERM", () => controller.abort());
  const port = num(v.port, "port");
  const delay = num(v["reply-delay-ms"], "reply-delay-ms");
  const checkEvery = num(v["check-every"], "check-every");
  if (checkEvery === 0) throw new DaemonError("USAGE", "--check-every phải từ 1 trở lên / must be 1 or more");
  await runSandbox({
    signal: controller.signal,
    out: ctx.out,
    ...(typeof v.host === "string" ? { host: v.host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(delay !== undefined ? { replyDelayMs: delay } : {}),
    ...(checkEvery !== undefined ? { checkEvery } : {}),
    ...(typeof v.username === "string" ? { username: v.username } : {}),
    ...(typeof v.password === "string" ? { password: v.password } : {}),
    ...(typeof v["trusted-cert"] === "string" ? { trustedCertFile: v["trusted-cert"] } : {}),
    ...(typeof v.faults === "string" ? { faults: v.faults } : {}),
  });
  return 0;
}
