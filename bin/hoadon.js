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
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));
