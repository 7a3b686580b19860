/**
 * The shape design.md and style.md agree on, kept by tests rather than by memory: drivers import only the driver
 * API, the pure core imports no shell module, and nothing in src/ deletes rows.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") && !p.endsWith(".test.ts") ? [p] : [];
  });
}

const importsOf = (file: string): string[] =>
  [...readFileSync(file, "utf8").matchAll(/^\s*(?:import|export)\b[^;]*?from\s+"([^"]+)"/gm)].map(
    (m) => m[1] as string,
  );

describe("architecture", () => {
  it("drivers import only src/driver-api (and zod)", () => {
    for (const file of files("drivers")) {
      for (const spec of importsOf(file)) {
        if (!spec.startsWith(".")) {
          expect.soft(spec, `${file} imports ${spec}`).toMatch(/^(zod|node:.*)$/);
          continue;
        }
        const target = relative(".", join(file, "..", spec));
        expect.soft(target, `${file} imports ${spec}`).toMatch(/^(drivers\/|src\/driver-api\/)/);
      }
    }
  });

  it("the pure core (receipt, invoice, sign, xml) imports nothing from the shell", () => {
    const shell = /src\/(ingest|store|forward|audit|sandbox|simulator|commands|main|demo|cli|record)/;
    for (const dir of ["src/receipt", "src/invoice", "src/sign", "src/xml", "src/driver-api"]) {
      for (const file of files(dir)) {
        for (const spec of importsOf(file).filter((s) => s.startsWith("."))) {
          const target = relative(".", join(file, "..", spec));
          expect.soft(target, `${file} imports ${spec}`).not.toMatch(shell);
        }
      }
    }
  });

  it("no SQL in src/ deletes rows (the store is append-only; state moves forward)", () => {
    // The one exception: journal retention sheds old raw chunks, only behind a prune mark the store itself checks
    // (migration 006's triggers refuse any other delete).
    const exceptions: Record<string, number> = { [join("src", "store", "journal.ts")]: 1 };
    for (const file of files("src")) {
      const text = readFileSync(file, "utf8").replace(/RAISE\(ABORT[^)]*\)/g, "");
      const deletes = text.match(/\bDELETE\s+FROM\b/gi) ?? [];
      const allowed = file.includes("migrations")
        ? (text.match(/BEFORE DELETE ON/gi)?.length ?? 0)
        : (exceptions[relative(".", file)] ?? 0);
      expect.soft(deletes.length, `${file} deletes rows`).toBeLessThanOrEqual(allowed);
    }
  });
});
