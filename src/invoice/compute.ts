/**
 * Receipt → invoice amounts (spec §2.3 lines and totals, §6.1 rates, §6.4 rounding, §6.5 words). Pure and
 * deterministic: the same receipt and options always give the same draft. Nothing is silently fixed: a receipt
 * whose lines do not add up comes back as problems, never as a corrected invoice.
 */
import type { Receipt, ReceiptLine, VatRate } from "../receipt/model.js";
import { divRound, lineAmount, parseDecimal } from "../shared/money.js";
import { dong as d, type Problem, problem as p } from "./problem.js";
import {
  type ActivityRatio,
  DEFAULT_REDUCTION_XML,
  groupReduction,
  REDUCTION_NOTE_TEMPLATE,
  type ReductionOnDate,
  ratioHundredths,
  reductionNote,
  type SalesReductionXml,
} from "./reduction.js";
import { type TaxSchedule, treatmentOn } from "./treatment.js";
import { amountInWords } from "./words.js";

/** How a receipt becomes an invoice; a plain object the composition root maps from config. */
export interface ComputeOptions {
  /** `KHMSHDon`: "1" VAT invoice (credit method), "2" sales invoice (direct method) (spec §3.1). */
  readonly form: "1" | "2";
  /** `TSuat` for a line with no rate of its own and no configured group rate. */
  readonly defaultVatRate: VatRate;
  /** `TSuat` per item group (date-effective rates are resolved by the caller with `ratesOn`, spec §6.1). */
  readonly ratesByGroup?: Readonly<Record<string, VatRate>>;
  /**
   * Rates that are not in force on the invoice date (`ratesOn(…).notInForce`: the reduced 8% after the reduction
   * ends). A line whose register sends one of them is held for review rather than invoiced at a rate the law no
   * longer allows; lines without a rate of their own always get the schedule's rate.
   */
  readonly ratesNotInForce?: readonly VatRate[];
  /** `NLap` (YYYY-MM-DD) when known: a replacement may not replace an invoice of a later date. */
  readonly issueDate?: string;
  /** How far (đồng) the computed total may differ from the printed total before the receipt is refused. */
  readonly toleranceDong: number;
  /**
   * Sales invoices only: how the NQ 204/2025 reduction is computed and shown (spec §6.1). Needed whenever
   * `reductionOn` cuts anything on the invoice date. Ignored on VAT invoices, where the reduced rate is the `TSuat`.
   */
  readonly salesReduction?: SalesReductionOptions;
  /** The sales-invoice reduction in force on the invoice date (`reductionOn` of reduction.ts); absent: none. */
  readonly reductionOn?: ReductionOnDate;
  /**
   * The whole rate and reduction schedule. A replacement (a refund becomes one) re-issues a sale of the replaced
   * invoice's date, so its rates and reduction are resolved for that date rather than taken from the options,
   * which are those of `issueDate`. Absent: every invoice gets the options' treatment.
   */
  readonly schedule?: TaxSchedule;
  /** Amount in words: "north" (nghìn, linh; default) or "south" (ngàn, lẻ). */
  readonly wordsStyle?: "north" | "south";
  /**
   * `DVTinh` for goods lines whose receipt line has no unit. Unset: the element is left out (it is "R-if-any" in
   * 2.1.0, spec §2.4; many registers print no unit) [U].
   */
  readonly defaultUnit?: string;
}

/** How a sales invoice shows the NQ 204/2025 reduction (config `invoice.salesReduction`). */
export interface SalesReductionOptions {
  /** "Tỷ lệ % để tính thuế GTGT" of the shop's main activity: for items whose group has none of its own. */
  readonly ratio: ActivityRatio;
  /** The ratio per item group (`lines[].group`), when the shop has several activities. */
  readonly ratioByGroup?: Readonly<Record<string, ActivityRatio>>;
  /** The note, with `{amount}` (đồng, "1.200") and `{percent}` ("20%"); default {@link REDUCTION_NOTE_TEMPLATE}. */
  readonly note?: string;
  /**
   * Which total the register prints [U]: "reduced" (default: what the customer pays) or "beforeReduction" (the sum
   * of the lines). The printed total is reconciled with that one, within `toleranceDong`.
   */
  readonly registerTotal?: "reduced" | "beforeReduction";
  /** Where the amount and the note go in the XML [U]; default {@link DEFAULT_REDUCTION_XML}. */
  readonly xml?: SalesReductionXml;
}

/** `TChat` (spec §2.3): 1 goods/service, 2 promotion, 3 trade discount, 4 note. */
export type TChat = 1 | 2 | 3 | 4;

/** One `HHDVu`, as plain data. Money in integer đồng; decimals as strings exactly as they will be written. */
export interface DraftLine {
  readonly STT: number;
  readonly TChat: TChat;
  readonly MHHDVu?: string;
  readonly THHDVu: string;
  readonly DVTinh?: string;
  /** Quantity as printed ("1" when the register printed none). */
  readonly SLuong?: string;
  /** Unit price before VAT, at most 6 decimals, no trailing zeros. */
  readonly DGia?: string;
  /** Discount percentage (6,4); not filled by `computeInvoice` (receipts carry discount amounts only). */
  readonly TLCKhau?: string;
  /** Discount amount before VAT. */
  readonly STCKhau?: number;
  /** Amount before VAT (a trade-discount line: the discount, which reduces its rate group). */
  readonly ThTien?: number;
  /** VAT rate code; VAT invoices only, not on promotion or note lines. */
  readonly TSuat?: VatRate;
  /** The line's VAT, for `HHDVu/TTKhac` "Tiền thuế" (there is no line VAT element, spec §2.3; addendum §1a). */
  readonly TThue?: number;
}

/** One `THTTLTSuat/LTSuat`. */
export interface RateGroup {
  readonly TSuat: VatRate;
  /** Σ goods − Σ trade discounts, before VAT. */
  readonly ThTien: number;
  readonly TThue: number;
}

/** `NMua`, only the fields the buyer gave (Decree 254 Art. 10(4)). */
export interface DraftBuyer {
  readonly Ten?: string;
  readonly MST?: string;
  readonly DChi?: string;
  readonly SDThoai?: string;
  readonly CCCDan?: string;
  readonly DCTDTu?: string;
  readonly HVTNMHang?: string;
}

/** `TTChung/TTHDLQuan` of a replacement invoice (spec §2.3; an erroneous cash-register invoice is only replaced). */
export interface RelatedInvoice {
  /** 1 = replacement. */
  readonly TCHDon: 1;
  /** 1 = an e-invoice under the current decree. */
  readonly LHDCLQuan: 1;
  readonly KHMSHDCLQuan: string;
  readonly KHHDCLQuan: string;
  readonly SHDCLQuan: string;
  /** YYYY-MM-DD */
  readonly NLHDCLQuan: string;
  readonly GChu?: string;
}

/** Everything the invoice says about the sale, as plain data; `renderDlhdon` adds numbering, seller and profile. */
export interface InvoiceDraft {
  readonly form: "1" | "2";
  readonly lines: readonly DraftLine[];
  /** One per `TSuat`, in order of first appearance; empty on a sales invoice. */
  readonly rateGroups: readonly RateGroup[];
  /** VAT invoices only. */
  readonly TgTCThue?: number;
  /** VAT invoices only. */
  readonly TgTThue?: number;
  /** Σ trade-discount lines, when there are any. */
  readonly TTCKTMai?: number;
  readonly TgTTTBSo: number;
  readonly TgTTTBChu: string;
  /** `HTTToan`: "TM", "CK" or "TM/CK" (spec §6.2). */
  readonly HTTToan: string;
  readonly buyer?: DraftBuyer;
  readonly related?: RelatedInvoice;
  /** Sales invoices: the NQ 204/2025 reduction, when it cuts anything; `TgTTTBSo` is already reduced by it. */
  readonly salesReduction?: SalesReductionDraft;
}

/** One activity group of the reduction: the lines with the same ratio and cut. */
export interface ReductionGroup {
  /** The activity ratio, "3%". */
  readonly ratio: ActivityRatio;
  /** The cut, whole percent of the ratio (20). */
  readonly percent: number;
  /** Σ goods − Σ trade discounts of the group, đồng. */
  readonly revenue: number;
  /** round(revenue × ratio × percent), đồng. */
  readonly amount: number;
}

/** The reduction as the invoice shows it. */
export interface SalesReductionDraft {
  /** Σ groups' amounts, đồng (> 0). */
  readonly amount: number;
  /** The note with the amount in it. */
  readonly note: string;
  /** The groups that are cut, in order of first appearance. */
  readonly groups: readonly ReductionGroup[];
  /**
   * Where render puts it; carried in the draft (from the options) so the render call of the write path needs no
   * further context.
   */
  readonly xml: SalesReductionXml;
}

/** What `computeInvoice` returns. `warnings` are differences within tolerance, worth a log line. */
export type ComputeResult =
  | { readonly ok: true; readonly draft: InvoiceDraft; readonly warnings: readonly Problem[] }
  | { readonly ok: false; readonly problems: readonly Problem[] };

const TCHAT: Readonly<Record<ReceiptLine["kind"], TChat>> = { goods: 1, promotion: 2, discount: 3, note: 4 };

/**
 * A `TSuat` code as hundredths of a percent (8% → 800, KHAC:3.5% → 350; KCT, KKKNT and 0% → 0), "undetermined"
 * for a bare `KHAC` (spec §6.1: the rate could not be determined), or undefined for an unknown code.
 */
export function vatRateHundredths(code: string): number | "undetermined" | undefined {
  // The codes of the VatRate schema, checked here without zod: this runs for every line of every sale.
  const fixed = FIXED_RATES[code];
  if (fixed !== undefined) return fixed;
  if (code === "KHAC") return "undetermined";
  const m = /^KHAC:(\d{1,2})(?:\.(\d{1,2}))?%$/.exec(code);
  if (!m) return undefined;
  return Number(m[1]) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

const FIXED_RATES: Readonly<Record<string, number>> = Object.assign(Object.create(null), {
  "0%": 0,
  "5%": 500,
  "8%": 800,
  "10%": 1000,
  KCT: 0,
  KKKNT: 0,
});

/**
 * The one VAT rounding of spec §6.4 (half away from zero, whole đồng), in both directions: VAT contained in a
 * VAT-inclusive amount, round(gross × r / (100 + r)), or VAT on a net amount, round(net × r / 100).
 */
export function vatOf(amount: bigint, hundredths: number, inclusive: boolean): bigint {
  const r = BigInt(hundredths);
  return divRound(amount * r, inclusive ? 10_000n + r : 10_000n);
}

const SCALE6 = 1_000_000n;

/** A non-negative 6-decimal scaled integer as a decimal string without trailing zeros ("23148.148148", "25000"). */
export function formatScaled6(v: bigint): string {
  const neg = v < 0n;
  const abs = neg ? -v : v;
  const int = abs / SCALE6;
  const frac = (abs % SCALE6).toString().padStart(6, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${int}${frac ? `.${frac}` : ""}`;
}

const isDong = (n: unknown): n is number => typeof n === "number" && Number.isSafeInteger(n) && n >= 0;

/** `HTTToan` from the payments (spec §6.2): cash only "TM", non-cash only "CK", both or unknown "TM/CK". */
function paymentText(payments: Receipt["payments"]): string {
  const paid = payments.filter((p) => p.amount > 0);
  const cash = paid.some((p) => p.method === "cash");
  const other = paid.some((p) => p.method !== "cash");
  if (cash && !other) return "TM";
  if (other && !cash) return "CK";
  // Nothing reported: "TM/CK" is what providers write when the payment method is not known.
  return "TM/CK";
}

function buyerOf(b: Receipt["buyer"]): DraftBuyer | undefined {
  if (!b) return undefined;
  const entries: [keyof DraftBuyer, string | undefined][] = [
    ["Ten", b.name],
    ["MST", b.taxCode],
    ["DChi", b.address],
    ["SDThoai", b.phone],
    ["CCCDan", b.citizenId],
    ["DCTDTu", b.email],
    ["HVTNMHang", b.personName],
  ];
  const out: Record<string, string> = {};
  for (const [k, v] of entries) if (v !== undefined && v.trim() !== "") out[k] = v;
  return Object.keys(out).length > 0 ? (out as DraftBuyer) : undefined;
}

/** Per-line working state while the amounts are computed. */
interface Work {
  readonly i: number;
  readonly line: ReceiptLine;
  readonly tchat: TChat;
  /** +1 goods, −1 trade discount, 0 promotion/note. */
  readonly sign: 1 | -1 | 0;
  rate?: VatRate;
  hundredths?: number;
  /** ThTien (before VAT) and the line's VAT, both as positive magnitudes of the line itself. */
  net: bigint;
  vat: bigint;
  discountNet: bigint;
  /** Set by `draftLine` when the derived 6-decimal unit price does not give back the amount within 1 đồng. */
  priceOff?: boolean;
}

/**
 * Work out every amount of the invoice for a validated receipt (spec §6.4):
 *
 * - VAT-inclusive prices (the usual case): per rate group, VAT = round(gross × r/(100+r)), net = gross − VAT; each
 *   line gets its own split, and the rounding remainder goes to the last goods line of the group (see
 *   `carryRemainder`) so line nets add up exactly to the group net and line VATs to the group VAT.
 * - Net prices: `ThTien` = the printed amount; per rate group TThue = round(Σ ThTien × r/100), line VATs allocated
 *   the same way.
 * - Sales invoices (form 2): no rates; amounts as printed; during the NQ 204/2025 reduction the total payable is
 *   Σ lines − Σ trade discounts − the reduction (see `reduce`), with the reduction's amount and note.
 *
 * Checks, each a problem (never silently fixed): every line amount against quantity × unit price − discount (±1 đồng),
 * the computed total against the printed total (± `toleranceDong`; for a reduced sales invoice the reduced total, or
 * the total before the reduction when the register prints that), rate codes, a replacement without its reference.
 * A replacement is taxed as of the replaced invoice's date (`schedule`).
 */
export function computeInvoice(receipt: Receipt, options: ComputeOptions): ComputeResult {
  const problems: Problem[] = [];
  const opts = treatmentOfSale(receipt, options, problems);
  const related = checkHeader(receipt, opts, problems);
  const vatForm = opts.form === "1";
  const work: Work[] = [];
  receipt.lines.forEach((line, i) => {
    const w = readLine(line, i, opts);
    if ("code" in w) problems.push(w);
    else work.push(w);
  });
  if (problems.length > 0) return { ok: false, problems };

  const inclusive = receipt.pricesIncludeVat;
  const rateGroups = vatForm ? splitRateGroups(work, inclusive, problems) : [];
  if (problems.length > 0) return { ok: false, problems };
  const negative = work.find((w) => w.net < 0n);
  if (negative) {
    // Only the fallback of carryRemainder (a group with no goods line to carry it) can get here; refuse it.
    const n = negative.i + 1;
    const vi = `Dòng ${n}: thành tiền trước thuế âm sau khi làm tròn`;
    return { ok: false, problems: [p("LINE_NEGATIVE", `lines[${negative.i}]`, vi, `line ${n}: negative net amount`)] };
  }

  // STT is 1…n in receipt order: every line of the receipt is a line of the invoice.
  const lines = work.map((w, k) => draftLine(w, k + 1, vatForm, inclusive, opts));
  // Only derived unit prices can be off: a printed one was checked against its amount in readLine.
  const imprecise = work.findIndex((w) => w.priceOff === true);
  if (imprecise >= 0) {
    // A unit price derived from a VAT-inclusive price has 6 decimals; times a huge quantity that may not give back
    // ThTien within 1 đồng, and the invoice would fail its own arithmetic check (checkArithmetic). Refuse instead.
    const n = imprecise + 1;
    const vi = `Dòng ${n}: đơn giá trước thuế 6 chữ số thập phân nhân số lượng không ra đúng thành tiền`;
    const en = `line ${n}: a 6-decimal net unit price times the quantity does not give the amount`;
    return { ok: false, problems: [p("UNIT_PRICE_PRECISION", `lines[${imprecise}]`, vi, en)] };
  }
  const sumOf = (tchat: TChat): number => lines.reduce((s, l) => s + (l.TChat === tchat ? (l.ThTien ?? 0) : 0), 0);
  const discounts = sumOf(3);
  const TgTCThue = rateGroups.reduce((s, g) => s + g.ThTien, 0);
  const TgTThue = rateGroups.reduce((s, g) => s + g.TThue, 0);
  const lineTotal = sumOf(1) - discounts;
  if (!vatForm && lineTotal < 0) {
    const vi = `Chiết khấu thương mại lớn hơn tiền hàng (${d(lineTotal)})`;
    return { ok: false, problems: [p("GROUP_NEGATIVE", "lines", vi, `trade discounts exceed the goods`)] };
  }
  const salesReduction = vatForm ? undefined : reduce(work, opts, problems);
  if (problems.length > 0) return { ok: false, problems };
  const TgTTTBSo = vatForm ? TgTCThue + TgTThue : lineTotal - (salesReduction?.amount ?? 0);
  if (TgTTTBSo < 0) {
    const vi = `Chiết khấu thương mại lớn hơn tiền hàng (${d(TgTTTBSo)})`;
    return { ok: false, problems: [p("GROUP_NEGATIVE", "lines", vi, `trade discounts exceed the goods`)] };
  }

  const warnings: Problem[] = [];
  const mismatch = reconcile(receipt, {
    TgTTTBSo,
    lineTotal,
    reduction: salesReduction?.amount ?? 0,
    net: vatForm && !inclusive,
    beforeReduction: opts.salesReduction?.registerTotal === "beforeReduction",
  });
  if (mismatch) {
    if (mismatch.gap > opts.toleranceDong) return { ok: false, problems: [mismatch.problem] };
    // Within tolerance: the invoice keeps its own arithmetic (TgTTTBSo from the lines) and says so.
    warnings.push({ ...mismatch.problem, code: "TOTAL_WITHIN_TOLERANCE" });
  }

  const draft: InvoiceDraft = {
    form: opts.form,
    lines,
    rateGroups,
    ...(vatForm ? { TgTCThue, TgTThue } : {}),
    ...(discounts > 0 ? { TTCKTMai: discounts } : {}),
    TgTTTBSo,
    TgTTTBChu: amountInWords(TgTTTBSo, { style: opts.wordsStyle ?? "north" }),
    HTTToan: paymentText(receipt.payments),
    ...optional("buyer", buyerOf(receipt.buyer)),
    ...optional("related", related),
    ...optional("salesReduction", salesReduction),
  };
  return { ok: true, draft, warnings };
}

/**
 * The options a sale is computed with: as given, except for a replacement of an invoice of another day, which gets
 * the rates and reduction of the replaced invoice's date from `schedule` (the sale's treatment is that of the sale).
 */
function treatmentOfSale(receipt: Receipt, opts: ComputeOptions, problems: Problem[]): ComputeOptions {
  const date = receipt.kind === "replacement" ? receipt.replaces?.date : undefined;
  if (date === undefined || opts.schedule === undefined || date === opts.issueDate) return opts;
  try {
    return { ...opts, ...treatmentOn(opts.schedule, date) };
  } catch (e) {
    const vi = `Không xác định được thuế suất ngày ${date} của hóa đơn bị thay thế`;
    problems.push(p("OPTION_INVALID", "options.schedule", vi, (e as Error).message));
    return opts;
  }
}

/**
 * The NQ 204/2025 reduction of a sales invoice (spec §6.1): the goods and trade-discount lines whose group is cut
 * that day, grouped by (activity ratio, cut); per group round(revenue × ratio × cut); the sum. Undefined when
 * nothing is cut (outside the reduction, only excluded groups, or an amount that rounds to 0).
 */
function reduce(work: readonly Work[], opts: ComputeOptions, problems: Problem[]): SalesReductionDraft | undefined {
  const on = opts.reductionOn;
  if (!on) return undefined;
  const sr = opts.salesReduction;
  const groups = new Map<string, { ratio: ActivityRatio; percent: number; revenue: number }>();
  for (const w of work) {
    if (w.sign === 0) continue;
    const g = w.line.group;
    const percent =
      g !== undefined && Object.hasOwn(on.percentByGroup, g) ? (on.percentByGroup[g] as number) : on.defaultPercent;
    if (percent === 0) continue;
    if (!sr) {
      const vi =
        "Hóa đơn bán hàng trong thời gian giảm thuế theo NQ 204/2025 cần tỷ lệ % tính thuế GTGT (invoice.salesReduction.ratio)";
      const en =
        "a sales invoice under the NQ 204/2025 reduction needs the activity ratio (invoice.salesReduction.ratio)";
      problems.push(p("SALES_REDUCTION_UNCONFIGURED", "options.salesReduction", vi, en));
      return undefined;
    }
    const own = g !== undefined && sr.ratioByGroup !== undefined && Object.hasOwn(sr.ratioByGroup, g);
    const ratio = own ? (sr.ratioByGroup?.[g as string] as ActivityRatio) : sr.ratio;
    if (ratioHundredths(ratio) === undefined) {
      const path = own ? `options.salesReduction.ratioByGroup.${g}` : "options.salesReduction.ratio";
      problems.push(
        p("RATIO_UNKNOWN", path, `Tỷ lệ "${ratio}" không hợp lệ (1%, 2%, 3%, 5%)`, "unknown activity ratio"),
      );
      return undefined;
    }
    const key = `${ratio}|${percent}`;
    const group = groups.get(key) ?? { ratio, percent, revenue: 0 };
    group.revenue += w.sign * w.line.amount;
    groups.set(key, group);
  }
  const out: ReductionGroup[] = [];
  for (const g of groups.values()) {
    if (g.revenue < 0) {
      const vi = `Chiết khấu thương mại nhóm tỷ lệ ${g.ratio} lớn hơn tiền hàng (${d(g.revenue)})`;
      problems.push(p("GROUP_NEGATIVE", "lines", vi, `trade discounts of the ${g.ratio} activity exceed its goods`));
      continue;
    }
    const amount = groupReduction(g.revenue, ratioHundredths(g.ratio) as number, g.percent);
    if (amount > 0) out.push({ ...g, amount });
  }
  const amount = out.reduce((s, g) => s + g.amount, 0);
  if (amount === 0 || !sr || problems.length > 0) return undefined;
  const note = reductionNote(
    sr.note ?? REDUCTION_NOTE_TEMPLATE,
    amount,
    out.map((g) => g.percent),
  );
  return { amount, note, groups: out, xml: sr.xml ?? DEFAULT_REDUCTION_XML };
}

/** The printed total against the invoice's (spec §6.4): the gap and the problem that says it, or undefined. */
function reconcile(
  receipt: Receipt,
  t: { TgTTTBSo: number; lineTotal: number; reduction: number; net: boolean; beforeReduction: boolean },
): { gap: number; problem: Problem } | undefined {
  const printed = receipt.total;
  const compared = t.reduction > 0 && t.beforeReduction ? t.lineTotal : t.TgTTTBSo;
  const gap = Math.abs(compared - printed);
  if (gap === 0) return undefined;
  const head = `Tổng tiền không khớp: máy in ${d(printed)}`;
  const enHead = `totals do not add up: printed ${d(printed)}`;
  if (t.reduction === 0) {
    const vi = `${head}, ${t.net ? "các dòng cộng thuế" : "các dòng cộng lại"} ${d(t.TgTTTBSo)}`;
    const en = `${enHead}, ${t.net ? "lines plus VAT" : "lines add up to"} ${d(t.TgTTTBSo)}`;
    return { gap, problem: p("TOTAL_MISMATCH", "total", vi, en) };
  }
  const r = d(t.reduction);
  let vi: string;
  let en: string;
  if (t.beforeReduction) {
    vi = `${head}, các dòng cộng lại (trước khi giảm ${r} theo NQ 204/2025) ${d(t.lineTotal)}`;
    en = `${enHead}, lines add up to (before the NQ 204/2025 reduction of ${r}) ${d(t.lineTotal)}`;
    if (printed === t.TgTTTBSo) {
      vi += "; máy in tổng đã giảm: nếu đúng vậy, đặt invoice.salesReduction.registerTotal: reduced";
      en +=
        "; the register printed the reduced total: if it always does, set invoice.salesReduction.registerTotal: reduced";
    }
  } else {
    vi = `${head}, các dòng cộng lại ${d(t.lineTotal)} trừ ${r} giảm theo NQ 204/2025 còn ${d(t.TgTTTBSo)}`;
    en = `${enHead}, lines add up to ${d(t.lineTotal)} less the NQ 204/2025 reduction of ${r}: ${d(t.TgTTTBSo)}`;
    if (printed === t.lineTotal) {
      vi += "; máy in tổng trước khi giảm: nếu đúng vậy, đặt invoice.salesReduction.registerTotal: beforeReduction";
      en +=
        "; the register printed the total before the reduction: if it always does, set " +
        "invoice.salesReduction.registerTotal: beforeReduction";
    }
  }
  return { gap, problem: p("TOTAL_MISMATCH", "total", vi, en) };
}

/** Options, currency and the replacement reference; returns `TTHDLQuan` for a replacement. */
function checkHeader(receipt: Receipt, opts: ComputeOptions, problems: Problem[]): RelatedInvoice | undefined {
  if (opts.form !== "1" && opts.form !== "2") {
    problems.push(p("OPTION_INVALID", "options.form", `Mẫu số "${opts.form}" không hỗ trợ`, "form must be 1 or 2"));
  }
  if (!Number.isSafeInteger(opts.toleranceDong) || opts.toleranceDong < 0) {
    const vi = "Dung sai phải là số đồng ≥ 0";
    problems.push(p("OPTION_INVALID", "options.toleranceDong", vi, "tolerance must be whole đồng ≥ 0"));
  }
  if (receipt.currency !== "VND") {
    problems.push(p("CURRENCY_UNSUPPORTED", "currency", "Chỉ hỗ trợ VND", "only VND invoices are supported (§6.3)"));
  }
  const hasGoods = receipt.lines.some((l) => l.kind === "goods");
  const r = receipt.replaces;
  if (receipt.kind === "sale") {
    if (r) {
      const vi = "Có thông tin hóa đơn bị thay thế nhưng loại hóa đơn không phải thay thế";
      problems.push(p("REPLACES_UNEXPECTED", "replaces", vi, "replaces is set but kind is not replacement"));
    }
    if (!hasGoods) {
      const vi = "Phiếu bán hàng không có dòng hàng hóa, dịch vụ nào";
      problems.push(p("NO_GOODS", "lines", vi, "a sale needs at least one goods line"));
    }
    return undefined;
  }
  if (receipt.kind === "refund") {
    // The write path turns a refund into a replacement first (it needs the original, corrections.ts).
    const vi = "Phiếu trả hàng cần hóa đơn gốc để lập hóa đơn thay thế";
    problems.push(p("REFUND_UNRESOLVED", "kind", vi, "a refund must be turned into a replacement first"));
    return undefined;
  }
  if (!r) {
    const vi = "Hóa đơn thay thế thiếu thông tin hóa đơn bị thay thế";
    problems.push(p("REPLACES_MISSING", "replaces", vi, "a replacement needs the invoice it replaces"));
    return undefined;
  }
  if (r.khmshdon !== opts.form) {
    const vi = `Hóa đơn mẫu ${opts.form} không thay thế được hóa đơn mẫu ${r.khmshdon}`;
    problems.push(p("REPLACES_FORM_MISMATCH", "replaces.khmshdon", vi, "a replacement keeps the form it replaces"));
  }
  if (r.date === undefined) {
    const vi = "Thiếu ngày lập của hóa đơn bị thay thế";
    problems.push(p("REPLACES_DATE_MISSING", "replaces.date", vi, "the replaced invoice's date is missing"));
    return undefined;
  }
  if (opts.issueDate !== undefined && r.date > opts.issueDate) {
    const vi = `Hóa đơn bị thay thế lập ngày ${r.date}, sau ngày lập hóa đơn thay thế ${opts.issueDate}`;
    problems.push(p("REPLACES_DATE_AFTER", "replaces.date", vi, "the replaced invoice is dated after its replacement"));
  }
  return {
    TCHDon: 1,
    LHDCLQuan: 1,
    KHMSHDCLQuan: r.khmshdon,
    KHHDCLQuan: r.khhdon,
    SHDCLQuan: r.shdon,
    NLHDCLQuan: r.date,
    ...(r.note ? { GChu: r.note } : {}),
  };
}

/** `TSuat` of a line: its own, else its item group's, else the default (spec §6.1), with where it came from. */
function resolveRate(line: ReceiptLine, i: number, opts: ComputeOptions): { code: string; path: string } {
  if (line.vatRate !== undefined) return { code: line.vatRate, path: `lines[${i}].vatRate` };
  const groups = opts.ratesByGroup;
  if (line.group !== undefined && groups && Object.hasOwn(groups, line.group)) {
    return { code: groups[line.group] as string, path: `options.ratesByGroup.${line.group}` };
  }
  return { code: opts.defaultVatRate, path: "options.defaultVatRate" };
}

/** Check one receipt line and start its working state, or say what is wrong with it. */
function readLine(line: ReceiptLine, i: number, opts: ComputeOptions): Work | Problem {
  const at = `lines[${i}]`;
  const n = i + 1;
  const tchat = TCHAT[line.kind];
  if (tchat === undefined) return p("LINE_KIND_UNKNOWN", `${at}.kind`, `Dòng ${n}: loại dòng không rõ`, "unknown kind");
  for (const field of ["amount", "discount", "unitPrice"] as const) {
    const v = line[field];
    if (v !== undefined && !isDong(v)) {
      const vi = `Dòng ${n}: số tiền phải là số đồng nguyên không âm`;
      return p("AMOUNT_INVALID", `${at}.${field}`, vi, `line ${n}: ${field} must be whole đồng ≥ 0`);
    }
  }
  if (line.quantity !== undefined && !(/^\d+(\.\d{1,6})?$/.test(line.quantity) && parseDecimal(line.quantity) > 0n)) {
    const vi = `Dòng ${n}: số lượng "${line.quantity}" không hợp lệ`;
    return p("QUANTITY_INVALID", `${at}.quantity`, vi, `line ${n}: invalid quantity`);
  }
  if ((tchat === 2 || tchat === 4) && line.amount !== 0) {
    const [code, vi, en] =
      tchat === 2
        ? ["PROMOTION_AMOUNT", "hàng khuyến mại", "a promotion line"]
        : ["NOTE_AMOUNT", "dòng ghi chú", "a note line"];
    const msg = `Dòng ${n}: ${vi} phải có thành tiền 0, máy in ${d(line.amount)}`;
    return p(code, `${at}.amount`, msg, `line ${n}: ${en} must have amount 0`);
  }
  if (tchat === 1 && line.quantity !== undefined && line.unitPrice !== undefined) {
    const expected = lineAmount(line.quantity, line.unitPrice) - line.discount;
    if (Math.abs(expected - line.amount) > 1) {
      return p(
        "LINE_AMOUNT_MISMATCH",
        `${at}.amount`,
        `Dòng ${n}: thành tiền ${d(line.amount)} khác số lượng × đơn giá − chiết khấu = ${d(expected)}`,
        `line ${n}: amount ${d(line.amount)} differs from quantity × unit price − discount = ${d(expected)}`,
      );
    }
  }
  const w: Work = {
    i,
    line,
    tchat,
    sign: tchat === 1 ? 1 : tchat === 3 ? -1 : 0,
    net: BigInt(line.amount),
    vat: 0n,
    discountNet: BigInt(line.discount),
  };
  if (opts.form !== "1" || w.sign === 0) return w;
  const { code, path } = resolveRate(line, i, opts);
  if (line.vatRate !== undefined && opts.ratesNotInForce?.includes(line.vatRate)) {
    const vi = `Dòng ${n}: thuế suất ${code} không còn (hoặc chưa) áp dụng vào ngày lập hóa đơn`;
    return p("RATE_NOT_IN_FORCE", path, vi, `line ${n}: the ${code} rate is not in force on the invoice date`);
  }
  const h = vatRateHundredths(code);
  if (h === undefined) {
    return p("RATE_UNKNOWN", path, `Dòng ${n}: thuế suất "${code}" không hợp lệ`, `line ${n}: unknown VAT rate`);
  }
  if (h === "undetermined") {
    const vi = `Dòng ${n}: thuế suất KHAC không xác định được tiền thuế`;
    return p("RATE_UNDETERMINED", path, vi, `line ${n}: a bare KHAC rate leaves the VAT undetermined`);
  }
  w.rate = code as VatRate;
  w.hundredths = h;
  return w;
}

/**
 * Group goods and trade-discount lines by `TSuat` (first appearance order) and split each group (spec §6.4), filling
 * every line's net and VAT so they add up exactly to their group.
 */
function splitRateGroups(work: readonly Work[], inclusive: boolean, problems: Problem[]): RateGroup[] {
  const byRate = new Map<string, Work[]>();
  for (const w of work) {
    if (w.sign === 0) continue;
    const list = byRate.get(w.rate as string);
    if (list) list.push(w);
    else byRate.set(w.rate as string, [w]);
  }
  const groups: RateGroup[] = [];
  for (const [code, members] of byRate) {
    const h = members[0]?.hundredths as number;
    // Signed sum of the amounts as printed: gross when prices include VAT, net otherwise.
    const printed = members.reduce((s, w) => s + BigInt(w.sign) * BigInt(w.line.amount), 0n);
    if (printed < 0n) {
      const vi = `Chiết khấu thương mại thuế suất ${code} lớn hơn tiền hàng (${d(printed)})`;
      problems.push(p("GROUP_NEGATIVE", "lines", vi, `trade discounts at ${code} exceed the goods`));
      continue;
    }
    const groupVat = vatOf(printed, h, inclusive);
    let lineVats = 0n;
    for (const w of members) {
      w.vat = vatOf(BigInt(w.line.amount), h, inclusive);
      if (inclusive) {
        w.net = BigInt(w.line.amount) - w.vat;
        w.discountNet = BigInt(w.line.discount) - vatOf(BigInt(w.line.discount), h, true);
      }
      lineVats += BigInt(w.sign) * w.vat;
    }
    carryRemainder(members, groupVat - lineVats, inclusive);
    const groupNet = inclusive ? printed - groupVat : printed;
    groups.push({ TSuat: code as VatRate, ThTien: Number(groupNet), TThue: Number(groupVat) });
  }
  return groups;
}

/**
 * Put a group's VAT rounding remainder on its lines (spec §6.4: "to the last line"): the last goods line with an
 * amount takes it, its VAT moving by the remainder and (VAT-inclusive) its net by the opposite. The remainder is
 * usually 0 or ±1; when many lines round the same way it can reach n/2, so it is taken 1 đồng per line backwards
 * from the last, never making a line's VAT negative or larger than its amount. Every line then stays within 1 đồng
 * of its own rounding, and line VATs add up exactly to the group's.
 */
function carryRemainder(members: readonly Work[], diff: bigint, inclusive: boolean): void {
  const carriers = members.filter((w) => w.sign === 1 && w.line.amount > 0).reverse();
  const step = diff > 0n ? 1n : -1n;
  let left = diff;
  while (left !== 0n) {
    let moved = false;
    for (const w of carriers) {
      if (left === 0n) break;
      const vat = w.vat + step;
      if (vat < 0n || (inclusive && vat > BigInt(w.line.amount))) continue;
      w.vat = vat;
      if (inclusive) w.net -= step;
      left -= step;
      moved = true;
    }
    if (!moved) {
      // Nothing can take it (a group of zero-amount or discount lines): the last line does, in its own sign.
      const w = members.at(-1) as Work;
      const own = BigInt(w.sign || 1) * left;
      w.vat += own;
      if (inclusive) w.net -= own;
      return;
    }
  }
}

const optional = <K extends string, V>(k: K, v: V | undefined): { [P in K]?: V } =>
  (v === undefined ? {} : { [k]: v }) as { [P in K]?: V };

/**
 * `DGia`: computed, not as printed, whenever the printed price includes VAT: `ThTien` is before VAT (spec §2.3), so
 * a VAT-inclusive unit price would break SLuong × DGia ≈ ThTien. It is derived from the line's own net
 * ((ThTien + STCKhau) / SLuong, 6 decimals, trailing zeros dropped), so every line is consistent to 6 decimals —
 * including the line that carries its group's rounding remainder. Net prices (and 0%/KCT lines, and sales invoices)
 * keep the unit price the register printed.
 */
function draftLine(w: Work, stt: number, vatForm: boolean, inclusive: boolean, opts: ComputeOptions): DraftLine {
  const { line, tchat } = w;
  // Built by assignment rather than conditional spreads: this runs for every line of every sale (hot path).
  const out: Mutable<DraftLine> = { STT: stt, TChat: tchat, THHDVu: line.name };
  if (line.code) out.MHHDVu = line.code;
  if (tchat === 4) return out;
  if (tchat !== 3) {
    const unit = line.unit || opts.defaultUnit;
    if (unit) out.DVTinh = unit;
  }
  if (tchat === 2) {
    if (line.quantity !== undefined) out.SLuong = line.quantity;
    out.ThTien = 0;
    return out;
  }
  if (tchat === 1) {
    const quantity = line.quantity ?? "1";
    const converted = vatForm && inclusive && (w.hundredths ?? 0) > 0;
    out.SLuong = quantity;
    if (line.unitPrice !== undefined && !converted) out.DGia = String(line.unitPrice);
    else {
      const q = parseDecimal(quantity);
      const target = (w.net + w.discountNet) * SCALE6 * SCALE6;
      const price = divRound(target, q);
      out.DGia = formatScaled6(price);
      // SLuong × DGia must give ThTien + STCKhau back within 1 đồng (checkArithmetic), exact in 10^-12 đồng.
      const off = q * price - target;
      w.priceOff = off > SCALE6 * SCALE6 || -off > SCALE6 * SCALE6;
    }
    if (w.discountNet > 0n) out.STCKhau = Number(w.discountNet);
  }
  out.ThTien = Number(w.net);
  if (vatForm) {
    out.TSuat = w.rate as VatRate;
    out.TThue = Number(w.vat);
  }
  return out;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
