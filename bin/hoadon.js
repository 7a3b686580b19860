#!/usr/bin/env node
// The `hoadon` command. The TypeScript sources are compiled to dist/ by `npm install` (the prepare script).
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
