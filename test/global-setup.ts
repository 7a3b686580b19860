import { execFileSync } from "node:child_process";

/**
 * End-to-end tests run the real `hoadon` binary, which runs from dist/. Build it once per test run, unless the
 * caller (scripts/test-all.sh) has just done so.
 */
export default function setup(): void {
  if (process.env.HOADON_SKIP_BUILD === "1") return;
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json"], { stdio: "inherit" });
}
