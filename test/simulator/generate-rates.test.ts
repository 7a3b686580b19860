import { describe, expect, it } from "vitest";
import { generateReceipts } from "../../src/simulator/index.js";

const rates = (startMs: number): Set<string | undefined> =>
  new Set(generateReceipts({ seed: 3, count: 200, startMs }).flatMap((r) => r.lines.map((l) => l.vatRate)));

describe("simulated registers follow the VAT calendar", () => {
  it("charge 8% during the reduction and 10% from 1 January 2027 (Vietnam time)", () => {
    expect(rates(Date.parse("2026-12-31T16:59:00Z"))).toContain("8%"); // 23:59 on 31 Dec in Vietnam
    const after = rates(Date.parse("2026-12-31T17:00:00Z")); // 00:00 on 1 Jan 2027 in Vietnam
    expect(after).not.toContain("8%");
    expect(after).toContain("10%");
  });
});
