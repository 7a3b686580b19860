/**
 * The golden invoice cases of test/fixtures/invoices/<case>/: `receipt.json` (what the register sent), `context.json`
 * (compute and render options, numbering, MCCQT) and, for a refund, `original.json` (the receipt of the refunded
 * invoice, whose number and date are `context.refundOf`). Built the way src/record.ts builds an invoice: correction
 * resolved, rates of the invoice date, register time and id in TTKhac, QR, MCCQT, optionally signed.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  applyRefund,
  assembleHdon,
  type ComputeOptions,
  computeInvoice,
  type InvoiceDraft,
  type IssuedInvoice,
  lookupQr,
  type RateRule,
  type ReductionRule,
  type RenderContext,
  renderDlhdon,
  STATUTORY_RATES,
  STATUTORY_SALES_REDUCTION,
  type TaxSchedule,
  treatmentOn,
} from "../../src/invoice/index.js";
import { Receipt } from "../../src/receipt/model.js";
import { vnDateTime } from "../../src/shared/clock.js";
import type { XmlSigner } from "../../src/sign/index.js";

export const FIXTURES = fileURLToPath(new URL("../fixtures/invoices/", import.meta.url));

/** Every case folder, sorted. */
export const CASES: readonly string[] = readdirSync(FIXTURES)
  .filter((d) => statSync(join(FIXTURES, d)).isDirectory())
  .sort();

/** `context.json`. */
export interface CaseContext {
  readonly about: string;
  /** Options of `computeInvoice`; rates may come from `rates` instead. */
  readonly compute: Omit<ComputeOptions, "defaultVatRate"> & {
    readonly defaultVatRate?: ComputeOptions["defaultVatRate"];
  };
  /** The shop's rate rules (after `STATUTORY_RATES`), resolved on `render.nlap` like the write path does. */
  readonly rates?: readonly RateRule[];
  /** The shop's sales-invoice reduction rules (after `STATUTORY_SALES_REDUCTION`), resolved the same way. */
  readonly reduction?: readonly ReductionRule[];
  readonly render: RenderContext;
  readonly mccqt: string;
  /** For a refund case: the invoice `original.json` was issued as. */
  readonly refundOf?: Omit<IssuedInvoice, "receiptJson">;
}

/** One built case. */
export interface BuiltCase {
  readonly context: CaseContext;
  readonly receipt: Receipt;
  readonly draft: InvoiceDraft;
  readonly ctx: RenderContext;
  readonly id: string;
  readonly dlhdon: string;
  /** The whole HDon: signed in `DSCKS/NBan` when a signer was given, else with an empty `NBan`. */
  readonly hdon: string;
}

const readJson = (dir: string, file: string): unknown => JSON.parse(readFileSync(join(dir, file), "utf8"));

/** The fixed signing time of a case's signed golden: noon of its NLap. */
export const signingTimeOf = (c: BuiltCase): string => `${c.ctx.nlap}T12:00:00`;

/** Build one case; with `signer`, the HDon carries the seller signature (`signed.xml`). */
export function buildCase(name: string, signer?: XmlSigner): BuiltCase {
  const dir = join(FIXTURES, name);
  const context = readJson(dir, "context.json") as CaseContext;
  let receipt = Receipt.parse(readJson(dir, "receipt.json"));
  if (context.refundOf) {
    const original = Receipt.parse(readJson(dir, "original.json"));
    const made = applyRefund(original, receipt, { ...context.refundOf, receiptJson: "" }, { fullRefund: "replace" });
    if (!made.ok) throw new Error(JSON.stringify(made.problems));
    receipt = made.receipt;
  }
  const nlap = context.render.nlap;
  let compute = context.compute as ComputeOptions;
  if (context.rates || context.reduction) {
    // As src/record.ts computeOptionsOn: the treatment of NLap, and the schedule for a replacement's own date.
    const schedule: TaxSchedule = {
      rates: [...STATUTORY_RATES, ...(context.rates ?? [])],
      reduction: [...STATUTORY_SALES_REDUCTION, ...(context.reduction ?? [])],
      holdRatesNotInForce: true,
    };
    compute = { ...compute, ...treatmentOn(schedule, nlap), schedule };
  }
  const computed = computeInvoice(receipt, { ...compute, issueDate: nlap });
  if (!computed.ok) throw new Error(`${name}: ${JSON.stringify(computed.problems)}`);
  const ctx: RenderContext = {
    ...context.render,
    extra: [
      { name: "ThoiDiemLap", type: "dateTime", value: vnDateTime(Date.parse(receipt.issuedAt)) },
      { name: "MaMayTinhTien", type: "string", value: "POS-01" },
    ],
  };
  const { id, xml } = renderDlhdon(computed.draft, ctx);
  const qr = lookupQr({
    sellerTaxCode: ctx.seller.taxCode,
    khmshdon: ctx.khmshdon,
    khhdon: ctx.khhdon,
    shdon: ctx.shdon,
    nlap: ctx.nlap,
    total: computed.draft.TgTTTBSo,
  });
  const built = { context, receipt, draft: computed.draft, ctx, id, dlhdon: xml };
  const signature = signer?.signEnveloped({
    refId: id,
    canonical: xml,
    signatureId: `${id}-NBan`,
    signingTime: signingTimeOf({ ...built, hdon: "" }),
  });
  const hdon = assembleHdon({ dlhdon: xml, qr, mccqt: context.mccqt, ...(signature ? { signature } : {}) });
  return { ...built, hdon };
}
