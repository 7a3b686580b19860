/**
 * Properties of the whole build (fast-check): for random baskets, the signed invoice the write path makes is
 * deterministic and passes every check of `hoadon invoice verify` (signature, structure, codes, arithmetic — line
 * sums per rate, totals, the words read back to the amount); and any partial refund of a random sale becomes a
 * replacement whose total is what was kept.
 */
import { fc, test } from "@fast-check/vitest";
import { describe, expect } from "vitest";
import { checkInvoice } from "../../src/commands/invoice.js";
import { applyRefund, computeInvoice, parseWords } from "../../src/invoice/index.js";
import { Receipt, type ReceiptInput } from "../../src/receipt/model.js";
import { buildSignedInvoice, computeOptionsOn, type RecorderSettings } from "../../src/record.js";
import { lineAmount } from "../../src/shared/money.js";
import { createSigner, createTestIdentity, loadPkcs12 } from "../../src/sign/index.js";

const identity = createTestIdentity({ commonName: "Thuộc tính", taxCode: "0100000001" });
const signer = createSigner(loadPkcs12(identity.pfx, identity.password));

const settings = (form: "1" | "2"): RecorderSettings => ({
  seller: { name: "CỬA HÀNG THỬ", taxCode: "0100000001", address: "Hà Nội" },
  providerTaxCode: "0100000009",
  form,
  symbolSuffix: "AB",
  registerSuffix: {},
  mccqtBlock: "A1B2C",
  profile: "2.1",
  pban: "2.1.0",
  anonymousBuyer: { mode: "omit" },
  // The register prints the sum of the lines: on a sales invoice during the NQ 204/2025 reduction the invoice's total
  // is lower by the reduction (test/invoice/sales-reduction.test.ts checks that arithmetic).
  compute: {
    form,
    toleranceDong: 0,
    salesReduction: { ratio: "3%", ratioByGroup: { medicine: "1%" }, registerTotal: "beforeReduction" },
  },
  reductionRules: [{ group: "beer", percent: 0 }],
  rates: [
    { group: "beer", rate: "10%" },
    { group: "medicine", rate: "5%" },
    { group: "veg", rate: "KKKNT" },
  ],
  holdRatesNotInForce: true,
  corrections: { fullRefund: "replace" },
  qrCrc: true,
});

const GROUPS = [undefined, "beer", "medicine", "veg"] as const;

const goods = fc
  .record({
    code: fc.integer({ min: 1, max: 9999 }),
    quantity: fc.oneof(
      fc.integer({ min: 1, max: 20 }).map(String),
      fc.integer({ min: 1, max: 9999 }).map((n) => (n / 1000).toString()),
    ),
    unitPrice: fc.integer({ min: 500, max: 2_000_000 }),
    group: fc.constantFrom(...GROUPS),
  })
  .map(({ code, quantity, unitPrice, group }) => ({
    code: `SP${code}`,
    name: `Hàng số ${code} – ${group ?? "chung"}`,
    unit: "Cái",
    quantity,
    unitPrice,
    amount: lineAmount(quantity, unitPrice),
    ...(group ? { group } : {}),
  }))
  .filter((l) => l.amount > 0);

/** A sale; its day decides the rates (8% until 2026-12-31, 10% after). */
const sale = fc.record({
  lines: fc.uniqueArray(goods, { minLength: 1, maxLength: 20, selector: (l) => l.code }),
  form: fc.constantFrom("1" as const, "2" as const),
  day: fc.constantFrom("2026-06-30", "2026-12-31", "2027-01-01"),
});

function receiptOf(lines: ReceiptInput["lines"], issuedAt: string): Receipt {
  const total = lines.reduce((s, l) => s + (l.amount ?? 0), 0);
  return Receipt.parse({ receiptId: "P-1", issuedAt, lines, payments: [{ method: "cash", amount: total }], total });
}

describe("the whole build on random sales", () => {
  test.prop([sale], { numRuns: 60 })("is deterministic and passes every check of invoice verify", (s) => {
    const st = settings(s.form);
    const now = Date.parse(`${s.day}T05:00:00Z`); // 12:00 in Việt Nam
    const receipt = receiptOf(s.lines, `${s.day}T11:59:00+07:00`);
    const computed = computeInvoice(receipt, computeOptionsOn(st, s.day));
    if (!computed.ok) throw new Error(JSON.stringify(computed.problems));
    const args = {
      draft: computed.draft,
      receipt,
      registerId: "quay-1",
      numbers: { khmshdon: s.form, khhdon: `C${s.day.slice(2, 4)}MAB`, shdon: 7, seq: 7 },
      settings: st,
      signer,
      now,
    };
    const built = buildSignedInvoice(args);
    expect(buildSignedInvoice(args).signedXml.equals(built.signedXml)).toBe(true);
    const check = checkInvoice(built.signedXml.toString("utf8"), "p.xml", identity.certPem);
    expect(check.problems).toEqual([]);
    expect(parseWords(computed.draft.TgTTTBChu)).toBe(BigInt(computed.draft.TgTTTBSo));
    if (s.form === "1") {
      const eight = computed.draft.rateGroups.some((g) => g.TSuat === "8%");
      const plain = s.lines.some((l) => !("group" in l));
      expect(eight).toBe(plain && s.day <= "2026-12-31");
    }
  });
});

describe("refunds of random sales", () => {
  const refund = sale.chain((s) =>
    fc
      .tuple(
        fc.constant(s),
        fc.subarray(
          s.lines.map((_, i) => i),
          { minLength: 1 },
        ),
        fc.boolean(),
      )
      .map(([sale, picked, whole]) => ({ sale, picked, whole })),
  );

  test.prop([refund], { numRuns: 100 })(
    "leave a replacement that totals what was kept",
    ({ sale: s, picked, whole }) => {
      const original = receiptOf(s.lines, `${s.day}T11:00:00+07:00`);
      // Whole lines back, or one unit of integer-quantity lines (a partial return).
      const back = picked.map((i) => {
        const l = s.lines[i] as (typeof s.lines)[number];
        const partial = !whole && /^\d+$/.test(l.quantity) && Number(l.quantity) > 1;
        return partial ? { ...l, quantity: "1", amount: l.unitPrice } : l;
      });
      const money = back.reduce((sum, l) => sum + l.amount, 0);
      const refundReceipt = Receipt.parse({
        receiptId: "RF-1",
        issuedAt: `${s.day}T12:00:00+07:00`,
        kind: "refund",
        replaces: { khmshdon: s.form, khhdon: "C26MAB", shdon: "5" },
        lines: back,
        total: money,
      });
      const of = { khmshdon: s.form, khhdon: "C26MAB", shdon: 5, nlap: s.day, receiptJson: "" };
      const made = applyRefund(original, refundReceipt, of, { fullRefund: "replace" });
      if (!made.ok) throw new Error(JSON.stringify(made.problems));
      expect(made.receipt.kind).toBe("replacement");
      expect(made.receipt.total).toBe(original.total - money);
      const computed = computeInvoice(made.receipt, computeOptionsOn(settings(s.form), s.day));
      if (!computed.ok) throw new Error(JSON.stringify(computed.problems));
      // A sales invoice in the NQ 204/2025 window pays the kept lines less their reduction.
      const reduction = computed.draft.salesReduction?.amount ?? 0;
      if (s.form === "1" || s.day > "2026-12-31") expect(reduction).toBe(0);
      expect(computed.draft.TgTTTBSo + reduction).toBe(original.total - money);
      expect(computed.draft.related).toMatchObject({ TCHDon: 1, SHDCLQuan: "5", NLHDCLQuan: s.day });
    },
  );
});
