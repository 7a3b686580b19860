#!/usr/bin/env -S node --max-semi-space-size=2
// The `hoadon` command. The TypeScript sources are compiled to dist/ by `npm install` (the prepare script).
// --max-semi-space-size=2: a small young generation. The daemon allocates little per sale, and V8's default 16 MiB
// semi-spaces hold up to 48 MiB of short-lived garbage on a box with little RAM (design budget: RSS < 128 MiB with
// 16 registers; bench/soak.ts measures it). A flag only works on the command line, hence the shebang.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

const entry = new URL("../dist/src/cli.js", import.meta.url);
if (!existsSync(fileURLToPath(entry))) {
  console.error(
    "hoadon chưa được biên dịch: hãy chạy `npm install` (hoặc `npm run build`) trong thư mục hoadon.\n" +
      "hoadon is not built yet: run `npm install` (or `npm run build`) in the hoadon folder.",
  );
  process.exit(70);
}
// A reader that went away (`hoadon audit journal … | head`) is not a failure. A one-shot command stops quietly, as
// Unix tools do; a long-running one (the daemon, the sandbox, the web page) goes on without its stdout.
const args = process.argv.slice(2);
const longRunning = ["run", "sandbox", "demo"].includes(args[0] ?? "") || (args[0] === "audit" && args[1] === "serve");
for (const stream of [process.stdout, process.stderr])
  stream.on("error", (error) => {
    if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") throw error;
    if (!longRunning) process.exit(process.exitCode ?? 0);
  });
const { runCli } = await import(entry.href);
process.exitCode = await runCli(args);
