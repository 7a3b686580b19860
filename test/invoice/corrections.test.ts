import { describe, expect, it } from "vitest";
import type { FindInvoiceForReceipt } from "../../src/invoice/corrections.js";
import {
  applyRefund,
  type ComputeOptions,
  computeInvoice,
  type FindIssuedInvoice,
  type IssuedInvoice,
  REFUND_NOTE,
  resolveCorrection,
} from "../../src/invoice/index.js";
import { Receipt, type ReceiptInput } from "../../src/receipt/model.js";

const SALE: ReceiptInput = {
  receiptId: "S-1",
  issuedAt: "2026-11-20T09:00:00+07:00",
  lines: [
    { code: "GAO", name: "Gạo ST25", unit: "kg", quantity: "2.5", unitPrice: 40000, amount: 100000 },
    { code: "DAU", name: "Dầu ăn", unit: "chai", quantity: "2", unitPrice: 60000, amount: 120000 },
    { kind: "promotion", code: "KM", name: "Tặng túi", quantity: "1" },
    { kind: "discount", name: "Chiết khấu 5%", amount: 11000, vatRate: "8%" },
  ],
  payments: [{ method: "cash", amount: 209000 }],
  total: 209000,
};
const of: IssuedInvoice = {
  khmshdon: "1",
  khhdon: "C26MAB",
  shdon: 5,
  nlap: "2026-11-20",
  receiptJson: JSON.stringify(Receipt.parse(SALE)),
};
const refund = (r: Partial<ReceiptInput>): Receipt =>
  Receipt.parse({
    receiptId: "RF-1",
    issuedAt: "2026-11-21T10:00:00+07:00",
    kind: "refund",
    replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "5" },
    lines: [],
    total: 0,
    ...r,
  });
const OPTS: ComputeOptions = { form: "1", defaultVatRate: "8%", toleranceDong: 0, issueDate: "2026-11-21" };
const codes = (r: { ok: boolean; problems?: readonly { code: string }[] }): string[] =>
  r.ok ? [] : (r.problems ?? []).map((p) => p.code);

describe("applyRefund", () => {
  it("keeps a decimal remainder, the promotion and the trade discount's unreturned part", () => {
    const made = applyRefund(
      Receipt.parse(SALE),
      refund({
        lines: [
          { code: "GAO", name: "Gạo ST25", quantity: "2", unitPrice: 40000, amount: 80000 },
          { kind: "discount", name: "Chiết khấu 5%", amount: 4000, vatRate: "8%" },
        ],
        total: 76000,
      }),
      of,
      { fullRefund: "replace" },
    );
    if (!made.ok) throw new Error(JSON.stringify(made.problems));
    expect(made.receipt.lines.map((l) => [l.kind, l.quantity, l.amount])).toEqual([
      ["goods", "0.5", 20000],
      ["goods", "2", 120000],
      ["promotion", "1", 0],
      ["discount", undefined, 7000],
    ]);
    expect(made.receipt).toMatchObject({
      kind: "replacement",
      receiptId: "RF-1",
      total: 133000,
      replaces: {
        khmshdon: "1",
        khhdon: "C26MAB",
        shdon: "5",
        date: "2026-11-20",
        note: "Thay thế do người mua trả lại hàng",
      },
    });
    const computed = computeInvoice(made.receipt, OPTS);
    expect(computed.ok && computed.draft.TgTTTBSo).toBe(133000);
  });

  it.each([
    [
      "a different price basis",
      {
        pricesIncludeVat: false,
        lines: [{ code: "DAU", name: "Dầu ăn", quantity: "1", unitPrice: 60000, amount: 60000 }],
        total: 60000,
      },
      "REFUND_PRICE_BASIS",
    ],
    [
      "more money than the invoice",
      { lines: [{ code: "DAU", name: "Dầu ăn", quantity: "1", unitPrice: 60000, amount: 60000 }], total: 300000 },
      "REFUND_TOTAL_EXCEEDS",
    ],
    [
      "another price for the same item",
      { lines: [{ code: "DAU", name: "Dầu ăn", quantity: "1", unitPrice: 65000, amount: 65000 }], total: 65000 },
      "REFUND_LINE_UNMATCHED",
    ],
    [
      "everything but with the wrong money",
      {
        lines: [
          { code: "GAO", name: "Gạo ST25", quantity: "2.5", unitPrice: 40000, amount: 100000 },
          { code: "DAU", name: "Dầu ăn", quantity: "2", unitPrice: 60000, amount: 120000 },
        ],
        total: 200000,
      },
      "REFUND_TOTAL_MISMATCH",
    ],
  ])("refuses %s", (_, over, code) => {
    expect(
      codes(applyRefund(Receipt.parse(SALE), refund(over as Partial<ReceiptInput>), of, { fullRefund: "replace" })),
    ).toEqual([code]);
  });
});

describe("resolveCorrection", () => {
  const second: IssuedInvoice = {
    khmshdon: "1",
    khhdon: "C26MAB",
    shdon: 9,
    nlap: "2026-11-21",
    receiptJson: JSON.stringify({
      ...Receipt.parse(SALE),
      lines: [SALE.lines[1]],
      total: 120000,
      kind: "replacement",
      replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "5", date: "2026-11-20" },
    }),
  };
  const find: FindIssuedInvoice = (ref) =>
    ref.shdon === 5
      ? { ...of, replacedBy: { khmshdon: "1", khhdon: "C26MAB", shdon: 9 } }
      : ref.shdon === 9
        ? second
        : undefined;

  it("lets a sale through untouched", () => {
    const sale = Receipt.parse(SALE);
    expect(resolveCorrection(sale, find, { fullRefund: "replace" })).toEqual({ ok: true, receipt: sale });
  });

  it("refunds from the newest invoice of the sale, following earlier replacements", () => {
    const made = resolveCorrection(
      refund({
        lines: [{ code: "DAU", name: "Dầu ăn", quantity: "1", unitPrice: 60000, amount: 60000 }],
        total: 60000,
      }),
      find,
      { fullRefund: "replace" },
    );
    if (!made.ok) throw new Error(JSON.stringify(made.problems));
    expect(made.replaced?.shdon).toBe(9);
    expect(made.receipt.replaces).toMatchObject({ shdon: "9", date: "2026-11-21" });
    expect(made.receipt.total).toBe(60000);
  });

  it("refuses to replace an invoice twice or with another date, and fills in the date from the store", () => {
    const replacement = (shdon: string, date?: string) =>
      Receipt.parse({
        ...SALE,
        kind: "replacement",
        replaces: { khmshdon: "1", khhdon: "C26MAB", shdon, ...(date ? { date } : {}) },
      });
    expect(codes(resolveCorrection(replacement("5"), find, { fullRefund: "replace" }))).toEqual(["ALREADY_REPLACED"]);
    expect(codes(resolveCorrection(replacement("9", "2026-11-20"), find, { fullRefund: "replace" }))).toEqual([
      "REPLACES_DATE_MISMATCH",
    ]);
    const ok = resolveCorrection(replacement("9"), find, { fullRefund: "replace" });
    expect(ok.ok && ok.receipt.replaces?.date).toBe("2026-11-21");
    // Not issued here (another system's invoice): as the register says.
    const other = replacement("77", "2026-01-02");
    expect(resolveCorrection(other, find, { fullRefund: "replace" })).toEqual({ ok: true, receipt: other });
  });

  it("reads leading zeros of a printed number as the number", () => {
    expect(
      Receipt.parse({ ...SALE, kind: "replacement", replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "00000009" } })
        .replaces?.shdon,
    ).toBe("9");
  });
});

describe("corrections naming the register's receipt (replaces.receiptId)", () => {
  const second: IssuedInvoice = {
    khmshdon: "1",
    khhdon: "C26MAB",
    shdon: 9,
    nlap: "2026-11-21",
    receiptJson: JSON.stringify({
      ...Receipt.parse(SALE),
      receiptId: "RF-0",
      lines: [SALE.lines[1]],
      total: 120000,
      kind: "replacement",
      replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "5", date: "2026-11-20" },
    }),
  };
  const find: FindIssuedInvoice = (ref) =>
    ref.khmshdon === "1" && ref.khhdon === "C26MAB" && ref.shdon === 5
      ? { ...of, replacedBy: { khmshdon: "1", khhdon: "C26MAB", shdon: 9 } }
      : ref.shdon === 9
        ? second
        : undefined;
  /** The store's `findInvoiceForReceipt(registerId, id)` for one register: receipt S-1 became invoice 5. */
  const byReceipt: FindInvoiceForReceipt = (id) =>
    id === "S-1" ? { khmshdon: "1", khhdon: "C26MAB", shdon: 5 } : undefined;
  const ONE_BACK: Partial<ReceiptInput> = {
    lines: [{ code: "DAU", name: "Dầu ăn", quantity: "1", unitPrice: 60000, amount: 60000 }],
    total: 60000,
  };
  const byId = (r: Partial<ReceiptInput>): Receipt => refund({ replaces: { receiptId: "S-1" }, ...ONE_BACK, ...r });

  it("accepts { receiptId } or an invoice number in the model, never both or half of one", () => {
    expect(byId({}).replaces).toEqual({ receiptId: "S-1" });
    const bad = (replaces: unknown) =>
      Receipt.safeParse({ ...SALE, kind: "refund", replaces }).error?.issues.map((i) => i.message) ?? [];
    expect(bad({ receiptId: "S-1", shdon: "5" })[0]).toMatch(/^ghi mã phiếu gốc hoặc số hóa đơn.* \/ name the/);
    expect(bad({ khmshdon: "1", khhdon: "C26MAB" })[0]).toMatch(/^cần mẫu số, ký hiệu và số hóa đơn.* \/ needs/);
    expect(bad({ receiptId: "S 1" })[0]).toMatch(/^chỉ gồm ký tự ASCII/);
    expect(bad({})).toHaveLength(1);
  });

  it("refunds from the newest invoice of the sale the register names", () => {
    const made = resolveCorrection(byId({}), find, { fullRefund: "replace" }, byReceipt);
    if (!made.ok) throw new Error(JSON.stringify(made.problems));
    expect(made.replaced?.shdon).toBe(9);
    expect(made.receipt).toMatchObject({
      kind: "replacement",
      receiptId: "RF-1",
      total: 60000,
      replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "9", date: "2026-11-21", note: REFUND_NOTE },
    });
    expect(made.receipt.replaces?.receiptId).toBeUndefined();
    const computed = computeInvoice(made.receipt, OPTS);
    expect(computed.ok && computed.draft.TgTTTBSo).toBe(60000);
  });

  it("keeps the register's note and replaces the newest invoice of the sale", () => {
    const replacement = Receipt.parse({
      ...SALE,
      receiptId: "RP-1",
      kind: "replacement",
      replaces: { receiptId: "S-1", note: "Sai tên hàng" },
    });
    const made = resolveCorrection(replacement, find, { fullRefund: "replace" }, byReceipt);
    if (!made.ok) throw new Error(JSON.stringify(made.problems));
    expect(made.receipt.replaces).toEqual({
      khmshdon: "1",
      khhdon: "C26MAB",
      shdon: "9",
      date: "2026-11-21",
      note: "Sai tên hàng",
    });
    expect(computeInvoice(made.receipt, OPTS).ok).toBe(true);
  });

  it("refuses a receipt no invoice was made from, and any such correction without the lookup", () => {
    const other = byId({ replaces: { receiptId: "S-404" } });
    const opts = { fullRefund: "replace" } as const;
    expect(codes(resolveCorrection(other, find, opts, byReceipt))).toEqual(["REFUND_ORIGINAL_UNKNOWN"]);
    expect(codes(resolveCorrection(byId({}), find, opts))).toEqual(["REFUND_NEEDS_STORE"]);
    expect(codes(resolveCorrection(byId({}), undefined, opts, byReceipt))).toEqual(["REFUND_NEEDS_STORE"]);
    const replacement = Receipt.parse({ ...SALE, kind: "replacement", replaces: { receiptId: "S-404" } });
    expect(codes(resolveCorrection(replacement, find, opts, byReceipt))).toEqual(["REFUND_ORIGINAL_UNKNOWN"]);
    // Unresolved, it can never reach an invoice: computeInvoice has no number to write.
    expect(codes(computeInvoice(replacement, OPTS))).toContain("REPLACES_DATE_MISSING");
    const problem = resolveCorrection(other, find, opts, byReceipt);
    expect(problem.ok || problem.problems[0]?.message).toMatch(/^Không tìm thấy hóa đơn lập từ phiếu S-404.* \/ /);
  });
});

describe("computeInvoice on corrections", () => {
  const replacement = (over: Record<string, unknown>) =>
    Receipt.parse({
      ...SALE,
      kind: "replacement",
      replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "5", date: "2026-11-20", ...over },
    });

  it("refuses a replacement of another form, of a later date, or without a date", () => {
    expect(codes(computeInvoice(replacement({ khmshdon: "2" }), OPTS))).toEqual(["REPLACES_FORM_MISMATCH"]);
    expect(codes(computeInvoice(replacement({ date: "2026-11-22" }), OPTS))).toEqual(["REPLACES_DATE_AFTER"]);
    expect(codes(computeInvoice(replacement({ date: undefined }), OPTS))).toEqual(["REPLACES_DATE_MISSING"]);
  });

  it("refuses a sale without goods and a refund that was not resolved", () => {
    const notes = Receipt.parse({ ...SALE, lines: [{ kind: "note", name: "Cảm ơn" }], total: 0 });
    expect(codes(computeInvoice(notes, OPTS))).toEqual(["NO_GOODS"]);
    expect(codes(computeInvoice(refund({ lines: SALE.lines, total: 0 }), OPTS))).toEqual(["REFUND_UNRESOLVED"]);
  });
});
