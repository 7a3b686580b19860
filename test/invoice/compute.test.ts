import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  type ComputeOptions,
  type ComputeResult,
  checkArithmetic,
  computeInvoice,
  type InvoiceDraft,
  readInvoiceFacts,
  renderDlhdon,
  vatRateHundredths,
} from "../../src/invoice/index.js";
import { Receipt, type ReceiptInput, type VatRate } from "../../src/receipt/model.js";
import { lineAmount } from "../../src/shared/money.js";

const OPTS: ComputeOptions = { form: "1", defaultVatRate: "8%", ratesByGroup: { beer: "10%" }, toleranceDong: 0 };

const receipt = (r: Partial<ReceiptInput> & Pick<ReceiptInput, "lines" | "total">): Receipt =>
  Receipt.parse({ receiptId: "T-1", issuedAt: "2026-11-20T09:41:07+07:00", ...r });

function ok(result: ComputeResult): InvoiceDraft {
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.draft;
}

function problems(result: ComputeResult): string[] {
  if (result.ok) throw new Error("expected problems");
  return result.problems.map((p) => `${p.code} ${p.path}`);
}

const SAMPLE = receipt({
  pricesIncludeVat: false,
  lines: [
    { code: "CF01", name: "Cà phê sữa đá", unit: "Ly", quantity: "2", unitPrice: 25000, amount: 50000 },
    { code: "BM01", name: "Bánh mì thịt", unit: "Cái", quantity: "1", unitPrice: 30000, amount: 30000 },
    { code: "BIA01", name: "Bia lon", unit: "Lon", quantity: "2", unitPrice: 20000, amount: 40000, group: "beer" },
  ],
  total: 130_400,
});

describe("computeInvoice", () => {
  it("gives exactly the spec sample's totals (net prices, 8% + 10%)", () => {
    const d = ok(computeInvoice(SAMPLE, OPTS));
    expect(d.rateGroups).toEqual([
      { TSuat: "8%", ThTien: 80000, TThue: 6400 },
      { TSuat: "10%", ThTien: 40000, TThue: 4000 },
    ]);
    expect([d.TgTCThue, d.TgTThue, d.TgTTTBSo]).toEqual([120000, 10400, 130400]);
    expect(d.TgTTTBChu).toBe("Một trăm ba mươi nghìn bốn trăm đồng");
    expect(d.lines.map((l) => [l.DGia, l.ThTien, l.TSuat, l.TThue])).toEqual([
      ["25000", 50000, "8%", 4000],
      ["30000", 30000, "8%", 2400],
      ["20000", 40000, "10%", 4000],
    ]);
    expect(d.HTTToan).toBe("TM/CK");
  });

  it("splits a VAT-inclusive café receipt per rate group", () => {
    const d = ok(
      computeInvoice(
        receipt({
          lines: [
            { name: "Cà phê sữa đá", unit: "Ly", quantity: "3", unitPrice: 25000, amount: 75000 },
            { name: "Bạc xỉu", unit: "Ly", quantity: "1", unitPrice: 29000, amount: 29000 },
            { name: "Bia lon", unit: "Lon", quantity: "2", unitPrice: 22000, amount: 44000, group: "beer" },
          ],
          payments: [{ method: "cash", amount: 200000 }],
          total: 148_000,
        }),
        OPTS,
      ),
    );
    // 8%: VAT = round(104000 × 8/108) = 7704; 10%: round(44000 × 10/110) = 4000.
    expect(d.rateGroups).toEqual([
      { TSuat: "8%", ThTien: 96296, TThue: 7704 },
      { TSuat: "10%", ThTien: 40000, TThue: 4000 },
    ]);
    expect(d.TgTTTBSo).toBe(148_000);
    expect(d.lines.map((l) => [l.DGia, l.ThTien, l.TThue])).toEqual([
      ["23148", 69444, 5556],
      ["26852", 26852, 2148],
      ["20000", 40000, 4000],
    ]);
    expect(d.HTTToan).toBe("TM");
  });

  it("puts the group's rounding remainder on its last goods line", () => {
    const d = ok(
      computeInvoice(
        receipt({
          lines: [
            { name: "A", quantity: "1", unitPrice: 10000, amount: 10000 },
            { name: "B", quantity: "1", unitPrice: 10000, amount: 10000 },
            { name: "C", quantity: "1", unitPrice: 10000, amount: 10000 },
          ],
          total: 30_000,
        }),
        OPTS,
      ),
    );
    // Each line alone: VAT round(740.74) = 741, Σ 2223; the group: round(2222.22) = 2222.
    expect(d.rateGroups).toEqual([{ TSuat: "8%", ThTien: 27778, TThue: 2222 }]);
    expect(d.lines.map((l) => [l.ThTien, l.TThue, l.DGia])).toEqual([
      [9259, 741, "9259"],
      [9259, 741, "9259"],
      [9260, 740, "9260"],
    ]);
  });

  it("spreads a large remainder 1 đồng per line from the last, so no line moves more than 1 đồng", () => {
    const lines = Array.from({ length: 1000 }, () => ({ name: "Kẹo", quantity: "1", unitPrice: 1000, amount: 1000 }));
    const d = ok(computeInvoice(receipt({ lines, total: 1_000_000 }), { ...OPTS, defaultVatRate: "10%" }));
    // Each line alone: round(90.91) = 91, Σ 91 000; the group: round(1 000 000 / 11) = 90 909.
    expect(d.rateGroups).toEqual([{ TSuat: "10%", ThTien: 909_091, TThue: 90_909 }]);
    const vats = d.lines.map((l) => l.TThue);
    expect(vats.slice(0, 909).every((v) => v === 91)).toBe(true);
    expect(vats.slice(909).every((v) => v === 90)).toBe(true);
  });

  it("handles a KCT pharmacy receipt with a 5% line", () => {
    const d = ok(
      computeInvoice(
        receipt({
          lines: [
            { name: "Máy đo huyết áp", unit: "Cái", quantity: "1", unitPrice: 650000, amount: 650000 },
            { name: "Paracetamol", unit: "Vỉ", quantity: "3", unitPrice: 15000, amount: 45000, vatRate: "5%" },
          ],
          total: 695_000,
        }),
        { ...OPTS, defaultVatRate: "KCT" },
      ),
    );
    expect(d.rateGroups).toEqual([
      { TSuat: "KCT", ThTien: 650000, TThue: 0 },
      { TSuat: "5%", ThTien: 42857, TThue: 2143 },
    ]);
    // A 0-VAT line keeps the printed unit price; the 5% line's is computed before VAT.
    expect(d.lines.map((l) => l.DGia)).toEqual(["650000", "14285.666667"]);
  });

  it("treats 0%, KKKNT and KHAC:x% by their rates", () => {
    const lines = (["0%", "KKKNT", "KHAC:3.5%"] as VatRate[]).map((vatRate) => ({
      name: vatRate,
      quantity: "1",
      unitPrice: 103500,
      amount: 103500,
      vatRate,
    }));
    const d = ok(computeInvoice(receipt({ lines, total: 310_500 }), OPTS));
    expect(d.rateGroups.map((g) => [g.TSuat, g.ThTien, g.TThue])).toEqual([
      ["0%", 103500, 0],
      ["KKKNT", 103500, 0],
      ["KHAC:3.5%", 100000, 3500],
    ]);
  });

  it("writes promotion lines with amount 0 and no rate, note lines with a name only", () => {
    const d = ok(
      computeInvoice(
        receipt({
          lines: [
            { name: "Cà phê", quantity: "1", unitPrice: 20000, amount: 20000 },
            { kind: "promotion", name: "Tặng bánh", unit: "Cái", quantity: "1" },
            { kind: "note", name: "Cảm ơn" },
          ],
          total: 20000,
        }),
        OPTS,
      ),
    );
    expect(d.lines[1]).toEqual({ STT: 2, TChat: 2, THHDVu: "Tặng bánh", DVTinh: "Cái", SLuong: "1", ThTien: 0 });
    expect(d.lines[2]).toEqual({ STT: 3, TChat: 4, THHDVu: "Cảm ơn" });
  });

  it("subtracts a trade discount from its rate group and totals it in TTCKTMai", () => {
    const d = ok(
      computeInvoice(
        receipt({
          lines: [
            { name: "Bánh", quantity: "2", unitPrice: 54000, amount: 108000 },
            { kind: "discount", name: "Chiết khấu 10%", amount: 10800 },
          ],
          total: 97_200,
        }),
        OPTS,
      ),
    );
    expect(d.rateGroups).toEqual([{ TSuat: "8%", ThTien: 90000, TThue: 7200 }]);
    expect(d.lines[1]).toMatchObject({ TChat: 3, ThTien: 10000, TSuat: "8%", TThue: 800 });
    expect(d.TTCKTMai).toBe(10000);
    expect(d.TgTTTBSo).toBe(97_200);
  });

  it("refuses totals that do not add up, in Vietnamese first", () => {
    const r = computeInvoice(
      receipt({ lines: [{ name: "Cà phê", quantity: "1", unitPrice: 130000, amount: 130000 }], total: 130_400 }),
      OPTS,
    );
    expect(r).toEqual({
      ok: false,
      problems: [
        {
          code: "TOTAL_MISMATCH",
          path: "total",
          message:
            "Tổng tiền không khớp: máy in 130.400 đ, các dòng cộng lại 130.000 đ / totals do not add up: printed 130.400 đ, lines add up to 130.000 đ",
        },
      ],
    });
  });

  it("accepts a difference within tolerance as a warning, keeping its own arithmetic", () => {
    const r = computeInvoice(
      receipt({ lines: [{ name: "Cà phê", quantity: "1", unitPrice: 130000, amount: 130000 }], total: 130_400 }),
      { ...OPTS, toleranceDong: 500 },
    );
    if (!r.ok) throw new Error("expected ok");
    expect(r.draft.TgTTTBSo).toBe(130_000);
    expect(r.warnings.map((w) => w.code)).toEqual(["TOTAL_WITHIN_TOLERANCE"]);
  });

  it("checks each line against quantity × unit price − discount (±1 đồng)", () => {
    const line = { name: "Rau", quantity: "0.333", unitPrice: 10000 };
    expect(computeInvoice(receipt({ lines: [{ ...line, amount: 3330 }], total: 3330 }), OPTS).ok).toBe(true);
    expect(computeInvoice(receipt({ lines: [{ ...line, amount: 3331 }], total: 3331 }), OPTS).ok).toBe(true);
    expect(problems(computeInvoice(receipt({ lines: [{ ...line, amount: 3332 }], total: 3332 }), OPTS))).toEqual([
      "LINE_AMOUNT_MISMATCH lines[0].amount",
    ]);
  });

  it("uses the default rate for an unknown group and refuses unknown or negative rates", () => {
    const unknownGroup = receipt({ lines: [{ name: "X", amount: 10800, group: "nobody" }], total: 10800 });
    expect(ok(computeInvoice(unknownGroup, OPTS)).rateGroups).toEqual([{ TSuat: "8%", ThTien: 10000, TThue: 800 }]);

    const bad = { ...OPTS, ratesByGroup: { beer: "7%" as VatRate } };
    const beer = receipt({ lines: [{ name: "Bia", amount: 10700, group: "beer" }], total: 10700 });
    expect(problems(computeInvoice(beer, bad))).toEqual(["RATE_UNKNOWN options.ratesByGroup.beer"]);

    const negative = { ...SAMPLE, lines: [{ ...SAMPLE.lines[0], vatRate: "-5%" as VatRate }] } as Receipt;
    expect(problems(computeInvoice(negative, OPTS))).toEqual(["RATE_UNKNOWN lines[0].vatRate"]);
    expect(problems(computeInvoice(SAMPLE, { ...OPTS, defaultVatRate: "KHAC" }))).toEqual([
      "RATE_UNDETERMINED options.defaultVatRate",
      "RATE_UNDETERMINED options.defaultVatRate",
    ]);
    expect(vatRateHundredths("8%")).toBe(800);
    expect(vatRateHundredths("KHAC:5.25%")).toBe(525);
    expect(vatRateHundredths("-5%")).toBeUndefined();
  });

  it("refuses odd lines, excessive discounts and replacements without a reference", () => {
    const r = receipt({
      lines: [
        { name: "X", amount: 1000 },
        { kind: "promotion", name: "Free", amount: 500 },
        { kind: "note", name: "Note", amount: 1 },
      ],
      total: 1501,
    });
    expect(problems(computeInvoice(r, OPTS))).toEqual([
      "PROMOTION_AMOUNT lines[1].amount",
      "NOTE_AMOUNT lines[2].amount",
    ]);
    const tooMuch = receipt({
      lines: [
        { name: "X", amount: 1000 },
        { kind: "discount", name: "Y", amount: 2000 },
      ],
      total: 0,
    });
    expect(problems(computeInvoice(tooMuch, OPTS))).toEqual(["GROUP_NEGATIVE lines"]);
    expect(problems(computeInvoice({ ...SAMPLE, kind: "replacement" }, OPTS))).toEqual(["REPLACES_MISSING replaces"]);
  });

  it("makes a sales invoice (form 2): no rates, lines as printed, the NQ 204 reduction off the total", () => {
    const d = ok(
      computeInvoice(
        receipt({
          lines: [
            { name: "Phở", unit: "Bát", quantity: "2", unitPrice: 55000, amount: 110000, vatRate: "8%" },
            { kind: "discount", name: "Giảm giá", amount: 10000 },
          ],
          total: 99_400,
        }),
        {
          ...OPTS,
          form: "2",
          salesReduction: { ratio: "3%" },
          reductionOn: { defaultPercent: 20, percentByGroup: {} },
        },
      ),
    );
    expect(d.rateGroups).toEqual([]);
    expect(d.TgTCThue).toBeUndefined();
    expect(d.TgTThue).toBeUndefined();
    expect(d.lines.map((l) => [l.DGia, l.ThTien, l.TSuat, l.TThue])).toEqual([
      ["55000", 110000, undefined, undefined],
      [undefined, 10000, undefined, undefined],
    ]);
    // 100 000 × 3% × 20% = 600.
    expect([d.TTCKTMai, d.TgTTTBSo, d.salesReduction?.amount]).toEqual([10000, 99_400, 600]);
    expect(d.salesReduction?.note).toBe(
      "Đã giảm 600 đồng tương ứng 20% mức tỷ lệ % để tính thuế giá trị gia tăng theo Nghị quyết số 204/2025/QH15",
    );
  });

  it("keeps only the buyer fields given, and carries the replaced invoice", () => {
    const d = ok(
      computeInvoice(
        {
          ...SAMPLE,
          kind: "replacement",
          replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "12", date: "2026-11-19" },
          buyer: { name: "Công ty X", taxCode: "0100000004", address: "  " },
        },
        OPTS,
      ),
    );
    expect(d.buyer).toEqual({ Ten: "Công ty X", MST: "0100000004" });
    expect(d.related).toEqual({
      TCHDon: 1,
      LHDCLQuan: 1,
      KHMSHDCLQuan: "1",
      KHHDCLQuan: "C26MAB",
      SHDCLQuan: "12",
      NLHDCLQuan: "2026-11-19",
    });
  });

  it("is deterministic", () => {
    expect(JSON.stringify(computeInvoice(SAMPLE, OPTS))).toBe(JSON.stringify(computeInvoice(SAMPLE, OPTS)));
  });

  it("refuses a VAT-inclusive line whose 6-decimal net unit price cannot give back its amount", () => {
    // 123 456 789.123456 × 7 đồng at 8%: the net unit price 6.481481… rounded to 6 decimals is off by ~40 đồng.
    const huge = receipt({
      lines: [{ name: "Hạt", unit: "g", quantity: "123456789.123456", unitPrice: 7, amount: 864197524 }],
      total: 864197524,
    });
    expect(problems(computeInvoice(huge, OPTS))).toEqual(["UNIT_PRICE_PRECISION lines[0]"]);
    // Net prices keep the printed unit price, which is exact.
    expect(computeInvoice({ ...huge, pricesIncludeVat: false, total: 933333326 }, OPTS).ok).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Property: random baskets keep the invoice's arithmetic exact.

const RATES: VatRate[] = ["0%", "5%", "8%", "10%", "KCT", "KKKNT", "KHAC:3.5%"];

const quantity = fc.oneof(
  fc.integer({ min: 1, max: 50 }).map(String),
  fc
    .tuple(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 1, max: 999 }))
    .map(([i, f]) => `${i}.${String(f).padStart(3, "0")}`),
);

const goods = fc
  .record({
    quantity,
    unitPrice: fc.oneof(
      fc.integer({ min: 0, max: 5_000_000 }),
      fc.integer({ min: 1, max: 100 }).map((k) => k * 500),
    ),
    vatRate: fc.constantFrom(...RATES),
    discountShare: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 0.5, noNaN: true })),
    withPrice: fc.boolean(),
  })
  .map(({ quantity, unitPrice, vatRate, discountShare, withPrice }) => {
    const gross = lineAmount(quantity, unitPrice);
    const discount = Math.floor(gross * discountShare);
    return {
      name: "Hàng",
      unit: "Cái",
      quantity,
      ...(withPrice ? { unitPrice } : {}),
      discount,
      amount: gross - discount,
      vatRate,
    };
  });

const basket = fc
  .record({
    lines: fc.array(goods, { minLength: 1, maxLength: 25 }),
    promotions: fc.nat({ max: 2 }),
    tradeDiscount: fc.double({ min: 0, max: 0.3, noNaN: true }),
    pricesIncludeVat: fc.boolean(),
    form: fc.constantFrom("1" as const, "2" as const),
  })
  .map(({ lines, promotions, tradeDiscount, pricesIncludeVat, form }) => {
    const first = lines[0] as (typeof lines)[number];
    const discount = Math.floor(first.amount * tradeDiscount);
    const all: ReceiptInput["lines"] = [
      ...lines,
      ...Array.from({ length: promotions }, () => ({ kind: "promotion" as const, name: "KM", quantity: "1" })),
      ...(discount > 0 ? [{ kind: "discount" as const, name: "CK", amount: discount, vatRate: first.vatRate }] : []),
    ];
    const printed = lines.reduce((s, l) => s + l.amount, 0) - discount;
    return { lines: all, pricesIncludeVat, form, printed };
  });

describe("computeInvoice on random baskets", () => {
  test.prop([basket], { numRuns: 300 })("keeps lines, groups and totals consistent", (b) => {
    const inclusive = b.pricesIncludeVat || b.form === "2";
    // A net-price register adds VAT its own way; compare with a wide tolerance there, exactly otherwise.
    const r = receipt({ lines: b.lines, pricesIncludeVat: b.pricesIncludeVat, total: b.printed });
    const result = computeInvoice(r, { ...OPTS, form: b.form, toleranceDong: inclusive ? 0 : Number.MAX_SAFE_INTEGER });
    const d = ok(result);

    if (inclusive) expect(d.TgTTTBSo).toBe(b.printed);
    if (b.form === "1") {
      for (const g of d.rateGroups) {
        const members = d.lines.filter((l) => l.TSuat === g.TSuat);
        const signed = (v: (typeof members)[number]["ThTien"], l: (typeof members)[number]): number =>
          (l.TChat === 3 ? -1 : 1) * (v ?? 0);
        expect(members.reduce((s, l) => s + signed(l.ThTien, l), 0)).toBe(g.ThTien);
        expect(members.reduce((s, l) => s + signed(l.TThue, l), 0)).toBe(g.TThue);
      }
      expect((d.TgTCThue ?? 0) + (d.TgTThue ?? 0)).toBe(d.TgTTTBSo);
    }

    // The same, end to end: rendered, read back and checked by the verifier's arithmetic.
    const { xml } = renderDlhdon(d, {
      profile: "2.1",
      pban: "2.1.0",
      khmshdon: b.form,
      khhdon: "C26MAB",
      shdon: 1,
      nlap: "2026-11-20",
      seller: { name: "Shop", taxCode: "0100000001", address: "Hà Nội" },
      providerTaxCode: "0100000009",
      anonymousBuyer: { mode: "omit" },
    });
    const read = readInvoiceFacts(xml);
    if (!read.ok) throw new Error(JSON.stringify(read.problems));
    expect(checkArithmetic(read.facts)).toEqual([]);

    // Deterministic.
    expect(
      computeInvoice(r, { ...OPTS, form: b.form, toleranceDong: inclusive ? 0 : Number.MAX_SAFE_INTEGER }),
    ).toEqual(result);
  });
});
