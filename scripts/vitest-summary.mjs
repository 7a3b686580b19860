// Runs vitest and ends with the plain "N passed, N failed, N skipped" line CI reads, then exits with vitest's status.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "hoadon-vitest-"));
const report = join(dir, "report.json");
const run = spawnSync(
  "npx",
  ["vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${report}`, ...process.argv.slice(2)],
  { stdio: "inherit" },
);
let line = "0 passed, 1 failed";
try {
  const r = JSON.parse(readFileSync(report, "utf8"));
  const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  line = `${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`;
  if (r.numTotalTests === 0) line = "0 passed, 1 failed";
} catch {
  // no report: vitest itself failed to start
}
rmSync(dir, { recursive: true, force: true });
console.log(line);
process.exit(run.status ?? 1);
