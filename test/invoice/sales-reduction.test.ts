/**
 * Sales invoices (form 2) under the NQ 204/2025 reduction (spec §6.1): the date-effective schedule, the amount per
 * activity group, the reduced total and its words, the register's printed total, a replacement issued after the
 * reduction ended, and `hoadon invoice verify`'s arithmetic accepting the reduced total and refusing wrong ones.
 */
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { checkInvoice } from "../../src/commands/invoice.js";
import {
  type ComputeOptions,
  type ComputeResult,
  checkArithmetic,
  checkRender,
  computeInvoice,
  type InvoiceDraft,
  noteStatesAmount,
  parseWords,
  REDUCTION_NOTE_TEMPLATE,
  readInvoiceFacts,
  reductionNote,
  reductionOn,
  renderDlhdon,
  STATUTORY_RATES,
  STATUTORY_SALES_REDUCTION,
  type TaxSchedule,
  treatmentOn,
} from "../../src/invoice/index.js";
import { Receipt, type ReceiptInput } from "../../src/receipt/model.js";
import { lineAmount } from "../../src/shared/money.js";
import { createSigner, createTestIdentity, loadPkcs12 } from "../../src/sign/index.js";
import { buildCase } from "./fixtures.js";

const LAW = STATUTORY_SALES_REDUCTION;
const SHOP = [...LAW, { group: "beer", percent: 0 }];

const schedule = (reduction = SHOP): TaxSchedule => ({
  rates: [...STATUTORY_RATES, { group: "beer", rate: "10%" }],
  reduction,
  holdRatesNotInForce: true,
});

/** The options of a household eatery on `day`, as src/record.ts `computeOptionsOn` makes them. */
function optionsOn(day: string, over: Partial<ComputeOptions> = {}): ComputeOptions {
  const s = schedule();
  return {
    form: "2",
    toleranceDong: 0,
    salesReduction: { ratio: "3%", ratioByGroup: { grocery: "1%", beer: "1%" } },
    ...treatmentOn(s, day),
    issueDate: day,
    schedule: s,
    ...over,
  };
}

function ok(result: ComputeResult): InvoiceDraft {
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.draft;
}

const codes = (result: ComputeResult): string[] => (result.ok ? [] : result.problems.map((p) => p.code));

/** The 2026-12-31 golden's receipt with another total (or other fields). */
const eatery = (over: Partial<ReceiptInput> = {}): Receipt =>
  Receipt.parse({ ...buildCase("sales-reduction-2026-12-31").receipt, ...over });

describe("the reduction schedule", () => {
  it("is the law's window, 2025-07-01 to 2026-12-31 inclusive (Vietnam local NLap)", () => {
    const on = (d: string) => reductionOn(LAW, d).defaultPercent;
    expect([on("2025-06-30"), on("2025-07-01"), on("2026-12-31"), on("2027-01-01")]).toEqual([0, 20, 20, 0]);
  });

  it("keeps excluded groups out, and lets dated rules extend or cut short the window", () => {
    expect(reductionOn(SHOP, "2026-12-31")).toEqual({ defaultPercent: 20, percentByGroup: { beer: 0 } });
    const extended = [...SHOP, { percent: 20, from: "2027-01-01", until: "2027-06-30" }];
    expect(reductionOn(extended, "2027-06-30")).toEqual({ defaultPercent: 20, percentByGroup: { beer: 0 } });
    expect(reductionOn(extended, "2027-07-01").defaultPercent).toBe(0);
    const cut = [...SHOP, { percent: 0, from: "2026-10-01" }];
    expect([reductionOn(cut, "2026-09-30").defaultPercent, reductionOn(cut, "2026-10-01").defaultPercent]).toEqual([
      20, 0,
    ]);
    // A later dated rule naming an excluded group overrides its exclusion for that time only.
    const beerToo = [...SHOP, { group: "beer", percent: 20, from: "2026-12-01", until: "2026-12-15" }];
    expect(reductionOn(beerToo, "2026-12-10").percentByGroup).toEqual({ beer: 20 });
    expect(reductionOn(beerToo, "2026-12-16").percentByGroup).toEqual({ beer: 0 });
    expect(() => reductionOn(LAW, "2026-02-30")).toThrow(RangeError);
  });
});

describe("a household shop's sales invoice", () => {
  it("on 2026-12-31: lines in full, 20% off each activity ratio but beer, the reduced total, note with the amount", () => {
    const c = buildCase("sales-reduction-2026-12-31");
    expect(c.draft.lines.map((l) => l.ThTien)).toEqual([110000, 10000, 38250, 60000, 5000]);
    expect(c.draft.salesReduction?.groups).toEqual([
      { ratio: "3%", percent: 20, revenue: 115_000, amount: 690 },
      // 38 250 × 1% × 20% = 76.5: half away from zero.
      { ratio: "1%", percent: 20, revenue: 38_250, amount: 77 },
    ]);
    expect(c.draft.salesReduction?.amount).toBe(767);
    expect(c.draft.TgTTTBSo).toBe(213_250 - 767);
    expect(c.draft.TgTTTBChu).toBe("Hai trăm mười hai nghìn bốn trăm tám mươi ba đồng");
    expect(c.dlhdon).toContain(
      "<TgTTTBSo>212483</TgTTTBSo><TgTTTBChu>Hai trăm mười hai nghìn bốn trăm tám mươi ba đồng</TgTTTBChu><TTKhac>" +
        "<TTin><TTruong>NQ204_GTTGT</TTruong><KDLieu>string</KDLieu><DLieu>Đã giảm 767 đồng tương ứng 20% mức tỷ lệ % " +
        "để tính thuế giá trị gia tăng theo Nghị quyết số 204/2025/QH15</DLieu></TTin>" +
        "<TTin><TTruong>NQ204_SoTienGiam</TTruong><KDLieu>numeric</KDLieu><DLieu>767</DLieu></TTin></TTKhac></TToan>",
    );
    expect(c.dlhdon).not.toContain("<TSuat>");
  });

  it("the same receipt on 2027-01-01: no reduction, no note, the sum of the lines", () => {
    const c = buildCase("sales-reduction-2027-01-01");
    expect(c.draft.salesReduction).toBeUndefined();
    expect(c.draft.TgTTTBSo).toBe(213_250);
    expect(c.dlhdon).not.toContain("NQ204");
  });

  it("in the 2.0.1 profile: the same TToan", () => {
    const a = buildCase("sales-reduction-2026-12-31").dlhdon;
    const b = buildCase("sales-reduction-2.0.1").dlhdon;
    const ttoan = (x: string) => x.slice(x.indexOf("<TToan>"), x.indexOf("</TToan>"));
    expect(ttoan(b)).toBe(ttoan(a));
    expect(b).toContain("<PBan>2.0.1</PBan>");
  });

  it("with placement TGTKhac: the amount in TToan/TGTKhac, the note in TToan/TTKhac", () => {
    const c = buildCase("household-sales");
    expect(c.dlhdon).toContain("<TTCKTMai>10000</TTCKTMai><TGTKhac>660</TGTKhac><TgTTTBSo>109340</TgTTTBSo>");
    expect(c.dlhdon).toContain("<TTruong>NQ204_GTTGT</TTruong>");
    expect(c.dlhdon).not.toContain("NQ204_SoTienGiam");
  });

  it("a replacement issued on 2027-01-02 for the 2026-12-31 sale keeps that day's reduction", () => {
    const c = buildCase("sales-reduction-replacement-2027");
    expect(c.ctx.nlap).toBe("2027-01-02");
    expect(c.draft.related?.NLHDCLQuan).toBe("2026-12-31");
    expect([c.draft.salesReduction?.amount, c.draft.TgTTTBSo]).toEqual([767, 212_483]);
    // Without the schedule the options of 2027-01-02 alone would apply: no reduction.
    const { schedule: _, ...dayOnly } = optionsOn("2027-01-02");
    expect(codes(computeInvoice(c.receipt, dayOnly))).toEqual(["TOTAL_MISMATCH"]);
  });

  it("a VAT replacement issued in 2027 for a 2026-12-31 invoice keeps the 8% rate", () => {
    const r = Receipt.parse({
      receiptId: "R-2",
      issuedAt: "2027-01-02T09:00:00+07:00",
      kind: "replacement",
      replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "9", date: "2026-12-31" },
      pricesIncludeVat: false,
      lines: [
        { name: "Cà phê", quantity: "1", unitPrice: 50000, amount: 50000 },
        { name: "Bia", quantity: "1", unitPrice: 20000, amount: 20000, group: "beer", vatRate: "10%" },
      ],
      total: 76_000,
    });
    const opts = { ...optionsOn("2027-01-02"), form: "1" as const };
    const d = ok(computeInvoice(r, opts));
    expect(d.rateGroups.map((g) => g.TSuat)).toEqual(["8%", "10%"]);
    const { schedule: _, ...dayOnly } = opts;
    expect(ok(computeInvoice({ ...r, total: 77_000 }, dayOnly)).rateGroups.map((g) => g.TSuat)).toEqual(["10%"]);
    // A line that still says 8% is fine for the 2026 sale, but held on a 2027 sale.
    const eight = { ...r, lines: r.lines.map((l, i) => (i === 0 ? { ...l, vatRate: "8%" as const } : l)) };
    expect(computeInvoice(eight, opts).ok).toBe(true);
    expect(codes(computeInvoice({ ...eight, kind: "sale", replaces: undefined }, opts))).toEqual(["RATE_NOT_IN_FORCE"]);
  });
});

describe("the register's printed total", () => {
  it("is by default the reduced total; the pre-reduction total is held with the reason and the setting to change", () => {
    const held = computeInvoice(eatery({ total: 213_250 }), optionsOn("2026-12-31"));
    expect(codes(held)).toEqual(["TOTAL_MISMATCH"]);
    const message = held.ok ? "" : (held.problems[0]?.message ?? "");
    expect(message).toContain("các dòng cộng lại 213.250 đ trừ 767 đ giảm theo NQ 204/2025 còn 212.483 đ");
    expect(message).toContain("registerTotal: beforeReduction");
  });

  it("may be configured as the total before the reduction [U]; the invoice still carries the reduced total", () => {
    const opts = optionsOn("2026-12-31", {
      salesReduction: { ratio: "3%", ratioByGroup: { grocery: "1%" }, registerTotal: "beforeReduction" },
    });
    expect(ok(computeInvoice(eatery({ total: 213_250 }), opts)).TgTTTBSo).toBe(212_483);
    const held = computeInvoice(eatery({ total: 212_483 }), opts);
    expect(codes(held)).toEqual(["TOTAL_MISMATCH"]);
    expect(held.ok ? "" : held.problems[0]?.message).toContain("registerTotal: reduced");
  });

  it("differs within toleranceDong with a warning, beyond it is held, never silently fixed", () => {
    const within = computeInvoice(eatery({ total: 212_484 }), optionsOn("2026-12-31", { toleranceDong: 1 }));
    if (!within.ok) throw new Error("expected ok");
    expect(within.draft.TgTTTBSo).toBe(212_483);
    expect(within.warnings.map((w) => w.code)).toEqual(["TOTAL_WITHIN_TOLERANCE"]);
    expect(codes(computeInvoice(eatery({ total: 212_485 }), optionsOn("2026-12-31", { toleranceDong: 1 })))).toEqual([
      "TOTAL_MISMATCH",
    ]);
  });

  it("refuses a sales invoice in the window without an activity ratio, and trade discounts beyond a group", () => {
    const { salesReduction: _, ...bare } = optionsOn("2026-12-31");
    expect(codes(computeInvoice(eatery(), bare))).toEqual(["SALES_REDUCTION_UNCONFIGURED"]);
    // Outside the window nothing is cut, so nothing is needed.
    expect(computeInvoice(eatery({ total: 213_250 }), { ...bare, ...treatmentOn(schedule(), "2027-01-01") }).ok).toBe(
      true,
    );
    const lines = [
      { name: "Nước mắm", quantity: "1", unitPrice: 1000, amount: 1000, group: "grocery" },
      { name: "Phở", quantity: "1", unitPrice: 50000, amount: 50000 },
      { kind: "discount" as const, name: "Giảm", amount: 2000, group: "grocery" },
    ];
    expect(codes(computeInvoice(eatery({ lines, total: 48_700 }), optionsOn("2026-12-31")))).toEqual([
      "GROUP_NEGATIVE",
    ]);
  });
});

describe("the note", () => {
  it("writes the amount Vietnamese style and the cut", () => {
    expect(reductionNote(REDUCTION_NOTE_TEMPLATE, 1200, [20])).toBe(
      "Đã giảm 1.200 đồng tương ứng 20% mức tỷ lệ % để tính thuế giá trị gia tăng theo Nghị quyết số 204/2025/QH15",
    );
    expect(reductionNote("Giảm {amount} đ ({percent})", 1_234_567, [20, 10, 20])).toBe("Giảm 1.234.567 đ (20%, 10%)");
  });

  it("is recognised as stating an amount only as a whole number", () => {
    expect(noteStatesAmount("Đã giảm 1.200 đồng", 1200n)).toBe(true);
    expect(noteStatesAmount("Đã giảm 11.200 đồng", 1200n)).toBe(false);
    expect(noteStatesAmount("Đã giảm 1.2000 đồng", 1200n)).toBe(false);
    expect(noteStatesAmount("Đã giảm 767 đồng theo 204/2025", 204n)).toBe(true);
    expect(noteStatesAmount("Đã giảm 767 đồng", 76n)).toBe(false);
  });

  it("must be clean text, and the note and amount fields must differ (checkRender)", () => {
    const c = buildCase("sales-reduction-2026-12-31");
    const red = c.draft.salesReduction as NonNullable<InvoiceDraft["salesReduction"]>;
    const bad = {
      ...c.draft,
      salesReduction: { ...red, note: "Đa\u0303 giảm", xml: { ...red.xml, amountField: red.xml.noteField } },
    };
    expect(checkRender(bad, c.ctx).map((p) => p.code)).toEqual(["TEXT_NOT_CLEAN", "OPTION_INVALID"]);
    expect(checkRender({ ...c.draft, form: "1" }, { ...c.ctx, khmshdon: "1" }).map((p) => p.code)).toContain(
      "REDUCTION_NOT_SALES",
    );
  });
});

describe("verify: the arithmetic of a reduced sales invoice", () => {
  const hdon = buildCase("sales-reduction-2026-12-31").hdon;
  const arith = (xml: string): string[] => {
    const read = readInvoiceFacts(xml);
    if (!read.ok) throw new Error(JSON.stringify(read.problems));
    return checkArithmetic(read.facts).map((p) => p.code);
  };
  const words = (xml: string, text: string) => xml.replace(/<TgTTTBChu>[^<]*</, `<TgTTTBChu>${text}<`);

  it("accepts the reduced total, in both placements", () => {
    expect(arith(hdon)).toEqual([]);
    expect(arith(buildCase("household-sales").hdon)).toEqual([]);
    expect(arith(buildCase("sales-reduction-2027-01-01").hdon)).toEqual([]);
  });

  it("refuses the total before the reduction, naming the reduction", () => {
    const xml = words(
      hdon.replace("<TgTTTBSo>212483<", "<TgTTTBSo>213250<"),
      "Hai trăm mười ba nghìn hai trăm năm mươi đồng",
    );
    const read = readInvoiceFacts(xml);
    if (!read.ok) throw new Error("unreadable");
    const problems = checkArithmetic(read.facts);
    expect(problems.map((p) => p.code)).toEqual(["TOTAL_MISMATCH"]);
    expect(problems[0]?.message).toBe(
      "TgTTTBSo 213.250 đ khác tổng các dòng 213.250 đ trừ số tiền giảm theo NQ 204/2025 767 đ = 212.483 đ / " +
        "TgTTTBSo ≠ Σ lines − the NQ 204/2025 reduction",
    );
  });

  it("refuses an amount the note does not state, a missing amount or note, two amounts, an impossible amount", () => {
    expect(arith(hdon.replace("<DLieu>767</DLieu>", "<DLieu>700</DLieu>"))).toEqual([
      "REDUCTION_NOTE_MISMATCH",
      "TOTAL_MISMATCH",
    ]);
    const noAmount = hdon.replace(/<TTin><TTruong>NQ204_SoTienGiam<\/TTruong>.*?<\/TTin>/, "");
    expect(arith(noAmount)).toEqual(["REDUCTION_AMOUNT_MISSING", "TOTAL_MISMATCH"]);
    const noNote = hdon.replace(/<TTin><TTruong>NQ204_GTTGT<\/TTruong>.*?<\/TTin>/, "");
    expect(arith(noNote)).toEqual(["REDUCTION_NOTE_MISSING"]);
    const both = hdon.replace("<TgTTTBSo>", "<TGTKhac>760</TGTKhac><TgTTTBSo>");
    expect(arith(both)).toEqual(["REDUCTION_MISMATCH", "REDUCTION_NOTE_MISMATCH", "TOTAL_MISMATCH"]);
    // 20 000 off 213 250 is more than the whole VAT at 5%.
    const huge = words(
      hdon
        .replace("<TgTTTBSo>212483<", "<TgTTTBSo>193250<")
        .replace("<DLieu>767</DLieu>", "<DLieu>20000</DLieu>")
        .replace("Đã giảm 767 đồng", "Đã giảm 20.000 đồng"),
      "Một trăm chín mươi ba nghìn hai trăm năm mươi đồng",
    );
    expect(arith(huge)).toEqual(["REDUCTION_TOO_LARGE"]);
  });

  it("hoadon invoice verify passes the signed golden and names a tampered total", () => {
    const identity = createTestIdentity({ seed: "hoadon-test-only", commonName: "Hộ thử", taxCode: "8000000002" });
    const signed = buildCase("sales-reduction-2026-12-31", createSigner(loadPkcs12(identity.pfx, identity.password)));
    expect(checkInvoice(signed.hdon, "ok.xml", identity.certPem).problems).toEqual([]);
    const tampered = signed.hdon.replace("<TgTTTBSo>212483<", "<TgTTTBSo>213250<");
    const check = checkInvoice(tampered, "bad.xml", identity.certPem);
    expect(check.ok).toBe(false);
    expect(check.problems.map((p) => p.code)).toEqual([
      "SIGNATURE_INVALID",
      "QR_MISMATCH",
      "TOTAL_MISMATCH",
      "WORDS_MISMATCH",
    ]);
  });
});

/** Groups of a mixed household shop: ratio per group, beer excluded, no group = the main activity (2%). */
const RATIOS = { food: "3%", grocery: "1%", repair: "5%", beer: "1%" } as const;
const GROUPS = [undefined, "food", "grocery", "repair", "beer"] as const;
const ratioOf = (g: string | undefined): number =>
  g === undefined ? 200 : Number(RATIOS[g as keyof typeof RATIOS].slice(0, -1)) * 100;

const goodsLine = fc
  .record({
    n: fc.integer({ min: 1, max: 9999 }),
    quantity: fc.oneof(
      fc.integer({ min: 1, max: 30 }).map(String),
      fc.integer({ min: 1, max: 9999 }).map((k) => (k / 1000).toString()),
    ),
    unitPrice: fc.integer({ min: 100, max: 5_000_000 }),
    group: fc.constantFrom(...GROUPS),
  })
  .map(({ n, quantity, unitPrice, group }) => ({
    code: `H${n}`,
    name: `Hàng ${n}`,
    quantity,
    unitPrice,
    amount: lineAmount(quantity, unitPrice),
    ...(group ? { group } : {}),
  }))
  .filter((l) => l.amount > 0);

const basket = fc.uniqueArray(goodsLine, { minLength: 1, maxLength: 15, selector: (l) => l.code }).chain((goods) =>
  fc.tuple(
    fc.constant(goods),
    // A trade discount of up to half of one line, in that line's group.
    fc.option(fc.tuple(fc.integer({ min: 0, max: goods.length - 1 }), fc.integer({ min: 1, max: 50 }))),
  ),
);

describe("properties (fast-check)", () => {
  test.prop([basket], { numRuns: 150 })(
    "reduction = Σ groups, total = Σ lines − discounts − reduction, the words spell the total, verify agrees",
    ([goods, discount]) => {
      const lines: ReceiptInput["lines"] = [...goods];
      if (discount) {
        const of = goods[discount[0]] as (typeof goods)[number];
        const amount = Math.floor((of.amount * discount[1]) / 100);
        if (amount > 0)
          lines.push({ kind: "discount", name: "Chiết khấu", amount, ...("group" in of ? { group: of.group } : {}) });
      }
      const sum = (k: "goods" | "discount") =>
        lines.reduce((s, l) => s + ((l.kind ?? "goods") === k ? (l.amount ?? 0) : 0), 0);
      const before = sum("goods") - sum("discount");
      const receipt = Receipt.parse({
        receiptId: "P-1",
        issuedAt: "2026-12-31T23:59:00+07:00",
        lines,
        total: before,
      });
      const opts = optionsOn("2026-12-31", {
        salesReduction: { ratio: "2%", ratioByGroup: RATIOS, registerTotal: "beforeReduction" },
      });
      const draft = ok(computeInvoice(receipt, opts));

      // Independently: revenue per ratio (beer excluded), 20% of it, half away from zero.
      const revenue = new Map<number, number>();
      for (const l of lines) {
        if (l.group === "beer") continue;
        const r = ratioOf(l.group);
        revenue.set(r, (revenue.get(r) ?? 0) + ((l.kind ?? "goods") === "discount" ? -1 : 1) * (l.amount ?? 0));
      }
      const expected = [...revenue].reduce((s, [r, v]) => s + Math.floor((v * r * 20) / 1_000_000 + 0.5), 0);
      const reduction = draft.salesReduction?.amount ?? 0;
      expect(reduction).toBe(expected);
      expect(draft.salesReduction?.groups.reduce((s, g) => s + g.amount, 0) ?? 0).toBe(reduction);
      expect(draft.TgTTTBSo).toBe(before - reduction);
      expect(parseWords(draft.TgTTTBChu)).toBe(BigInt(draft.TgTTTBSo));

      const { xml } = renderDlhdon(draft, {
        ...buildCase("sales-reduction-2026-12-31").ctx,
        extra: [],
      });
      const read = readInvoiceFacts(xml);
      if (!read.ok) throw new Error("unreadable");
      expect(checkArithmetic(read.facts)).toEqual([]);
    },
  );
});
