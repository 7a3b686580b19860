import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { Receipt } from "../../src/receipt/model.js";
import { lineAmount } from "../../src/shared/money.js";
import { generateReceipts } from "../../src/simulator/generate.js";

const START = Date.UTC(2026, 10, 20, 1, 30); // 08:30 in Hà Nội

describe("generateReceipts", () => {
  it("is deterministic for a seed and differs between seeds", () => {
    const a = generateReceipts({ seed: 1, count: 20, startMs: START });
    expect(generateReceipts({ seed: 1, count: 20, startMs: START })).toEqual(a);
    expect(generateReceipts({ seed: 2, count: 20, startMs: START })).not.toEqual(a);
  });

  it("numbers receipts per register and day, in time order, in Vietnam time", () => {
    const r = generateReceipts({ seed: 5, count: 3, registerId: "QUAY2", startMs: START, firstNumber: 41 });
    expect(r.map((x) => x.receiptId)).toEqual(["QUAY2-20261120-00041", "QUAY2-20261120-00042", "QUAY2-20261120-00043"]);
    expect(r[0]!.issuedAt).toBe("2026-11-20T08:30:00+07:00");
    const times = r.map((x) => Date.parse(x.issuedAt));
    expect([...times].sort((p, q) => p - q)).toEqual(times);
    expect(r[0]!.device).toEqual({ serial: "SIM-QUAY2", model: "hoadon-sim" });
  });

  fcTest.prop([fc.integer({ min: 0, max: 2 ** 31 - 1 })], { numRuns: 200 })(
    "makes valid receipts whose amounts, total and payments add up exactly",
    (seed) => {
      for (const r of generateReceipts({ seed, count: 5, startMs: START })) {
        const parsed = Receipt.parse(r);
        for (const l of parsed.lines) {
          expect(l.amount).toBe(lineAmount(l.quantity!, l.unitPrice!) - l.discount);
          expect(l.amount).toBeGreaterThan(0);
        }
        expect(parsed.total).toBe(parsed.lines.reduce((s, l) => s + l.amount, 0));
        expect(parsed.payments.reduce((s, p) => s + p.amount, 0)).toBe(parsed.total);
        expect(parsed.pricesIncludeVat).toBe(true);
      }
    },
  );

  it("covers the shop's reality: diacritics, 5/8/10 % and KCT, beer/wine/tobacco at 10 %, weights, buyers", () => {
    const all = generateReceipts({ seed: 11, count: 400, startMs: START });
    const lines = all.flatMap((r) => r.lines);
    expect(new Set(lines.map((l) => l.vatRate))).toEqual(new Set(["5%", "8%", "10%", "KCT"]));
    for (const l of lines) if (l.group !== undefined) expect(l.vatRate).toBe("10%");
    expect(new Set(lines.flatMap((l) => (l.group ? [l.group] : [])))).toEqual(new Set(["beer", "wine", "tobacco"]));
    expect(lines.some((l) => /^\d+\.\d+$/.test(l.quantity ?? ""))).toBe(true);
    expect(lines.some((l) => (l.discount ?? 0) > 0)).toBe(true);
    expect(lines.some((l) => /[ăâđêôơưạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹ]/i.test(l.name))).toBe(true);
    const methods = new Set(all.flatMap((r) => (r.payments ?? []).map((p) => p.method)));
    expect(methods).toEqual(new Set(["cash", "card", "transfer"]));
    expect(all.some((r) => (r.payments ?? []).length === 2)).toBe(true);
    expect(all.some((r) => r.buyer?.taxCode !== undefined)).toBe(true);
    expect(all.some((r) => r.buyer?.citizenId !== undefined)).toBe(true);
    expect(all.filter((r) => r.buyer !== undefined).length).toBeLessThan(all.length / 5);
  });

  it("makes café-only or grocery-only baskets on request", () => {
    const cafe = generateReceipts({ seed: 3, count: 50, startMs: START, shop: "cafe" }).flatMap((r) => r.lines);
    expect(cafe.every((l) => /^(CF|BI)/.test(l.code ?? ""))).toBe(true);
    const grocery = generateReceipts({ seed: 3, count: 50, startMs: START, shop: "grocery" }).flatMap((r) => r.lines);
    expect(grocery.some((l) => /^CF/.test(l.code ?? ""))).toBe(false);
  });
});
