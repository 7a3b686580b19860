/** Baud pacing of what a simulated register writes: in order, and never faster than the line. */
import { describe, expect, it } from "vitest";
import { createMemoryLink } from "../../src/ingest/connection.js";
import { pacedWriter } from "../../src/simulator/pacing.js";

describe("pacedWriter", () => {
  it("sends writes started at once one after another, no faster than 8N1 at the baud rate", async () => {
    const { a, b } = createMemoryLink();
    const got: number[] = [];
    b.onData((bytes) => got.push(...bytes));
    const write = pacedWriter(a, 9_600); // 0.96 bytes per ms
    const first = Uint8Array.from({ length: 48 }, (_, i) => i);
    const second = Uint8Array.from({ length: 48 }, (_, i) => 100 + i);
    const t0 = performance.now();
    await Promise.all([write(first), write(second)]);
    const took = performance.now() - t0;
    await new Promise((r) => setImmediate(r));
    // Not interleaved: the second write's bytes all come after the first's.
    expect(got).toEqual([...first, ...second]);
    // 96 bytes at 960 bytes/s is 100 ms at least (the last piece goes out at ~99 ms).
    expect(took).toBeGreaterThanOrEqual(95);
  });

  it("without a baud rate writes straight through", async () => {
    const { a, b } = createMemoryLink();
    const got: number[] = [];
    b.onData((bytes) => got.push(...bytes));
    await pacedWriter(a)(Uint8Array.of(1, 2, 3));
    await new Promise((r) => setImmediate(r));
    expect(got).toEqual([1, 2, 3]);
  });
});
