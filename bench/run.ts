/**
 * `npm run bench` (= `npm run build && node dist/bench/run.js`): imports every bench module compiled beside this
 * file (bench/*.ts except the helpers run, types, measure and registers; bench/drain.ts included when it exists), runs
 * them one after the other and prints one table. Options: `--quick` (short rounds), `--json` (rows as JSON),
 * `--only NAME` (one module).
 *
 * A module exports `run(options): Promise<BenchRow[]>` (or a default function of that shape) and optionally `title`;
 * see bench/types.ts. A module that fails is reported in the table and the others still run.
 */
import { readdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { BenchOptions, BenchRow } from "./types.js";

const HELPERS = new Set(["run", "types", "measure", "registers"]);

/** Format a rate with thousands separators and sensible precision. */
function rate(n: number | undefined): string {
  if (n === undefined) return "";
  return n >= 100 ? Math.round(n).toLocaleString("en-US") : n.toFixed(n >= 10 ? 1 : 2);
}

/** The rows as a plain-text table (one block per group). */
export function formatTable(rows: readonly BenchRow[]): string {
  const head = ["benchmark", "ops/s (median)", "[min..max]", "ratio", "value", "note"];
  const body = rows.map((r) => [
    r.name,
    rate(r.opsPerSec),
    r.min !== undefined && r.max !== undefined ? `[${rate(r.min)}..${rate(r.max)}]` : "",
    r.ratio !== undefined ? r.ratio.toFixed(3) : "",
    r.value ?? "",
    r.note ?? "",
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? "").length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i >= 1 && i <= 3 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  const out: string[] = [];
  let group: string | undefined;
  rows.forEach((r, i) => {
    if (r.group !== group) {
      group = r.group;
      out.push("", `== ${group} ==`, line(head), line(widths.map((w) => "-".repeat(w))));
    }
    out.push(line(body[i] as string[]));
  });
  return out.join("\n");
}

type RunFn = (options: BenchOptions) => Promise<readonly BenchRow[]> | readonly BenchRow[];

async function main(argv: readonly string[]): Promise<number> {
  const quick = argv.includes("--quick");
  const json = argv.includes("--json");
  const onlyAt = argv.indexOf("--only");
  const only = onlyAt >= 0 ? argv[onlyAt + 1] : undefined;
  // Many short interleaved rounds rather than a few long ones: on a shared 2-core machine the load changes within
  // seconds, and a ratio taken between neighbouring slices is what stays stable.
  const options: BenchOptions = {
    rounds: quick ? 7 : 21,
    roundMs: quick ? 100 : 250,
    quick,
    log: (l) => process.stderr.write(`${l}\n`),
  };
  const here = dirname(fileURLToPath(import.meta.url));
  const files = readdirSync(here)
    .filter((f) => f.endsWith(".js") && !HELPERS.has(basename(f, ".js")))
    .filter((f) => only === undefined || basename(f, ".js") === only)
    .sort();
  const rows: BenchRow[] = [];
  for (const file of files) {
    const name = basename(file, ".js");
    try {
      const mod = (await import(pathToFileURL(join(here, file)).href)) as {
        run?: RunFn;
        default?: RunFn;
        title?: string;
      };
      const fn = mod.run ?? (typeof mod.default === "function" ? mod.default : undefined);
      if (!fn) {
        rows.push({ group: mod.title ?? name, name, note: "no run() export: skipped" });
        continue;
      }
      options.log(`bench ${name} …`);
      const got = await fn(options);
      rows.push(...got.map((r) => ({ ...r, group: r.group || mod.title || name })));
    } catch (e) {
      rows.push({ group: name, name, note: `failed: ${e instanceof Error ? e.message : String(e)}` });
    }
  }
  if (json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
  else process.stdout.write(`${formatTable(rows)}\n\n(node ${process.version}, ${process.platform}/${process.arch})\n`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
