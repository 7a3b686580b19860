/**
 * The sales-invoice reduction of Resolution 204/2025/QH15 (Decree 174/2025; spec §6.1), date-effective like the VAT
 * rates of rates.ts. A direct-method seller (sales invoice, `KHMSHDon` 2) owes revenue × the "tỷ lệ % để tính thuế
 * GTGT" of its activity (Circular 40/2021 Appendix I: 1% distribution/supply of goods, 5% services, 3% production,
 * transport, services tied to goods including food and drink, 2% other). During the reduction that percentage is cut
 * by 20% for everything but the excluded groups (the same as for the 8% rate: excise goods such as beer and alcohol),
 * from 2025-07-01 to 2026-12-31 (Vietnam local `NLap`). The invoice keeps its lines at their full amounts and shows
 * the reduction as an amount and a note; the total payable is the reduced total.
 *
 * A schedule is an ordered list of rules, resolved for one day exactly as rates are (rates.ts): only rules in force
 * that day count; a rule naming the group beats one for every group; among equals the later rule wins — so a shop's
 * rules, appended after {@link STATUTORY_SALES_REDUCTION}, extend, shorten or exclude. Pure.
 */
import { formatDong } from "../shared/i18n.js";
import { divRound } from "../shared/money.js";
import { isIsoDate, ruleInForce, windowProblems } from "./rates.js";

/** "Tỷ lệ % để tính thuế GTGT" of an activity (Circular 40/2021 Appendix I). */
export const ACTIVITY_RATIOS = ["1%", "2%", "3%", "5%"] as const;
export type ActivityRatio = (typeof ACTIVITY_RATIOS)[number];

/** One rule of a reduction schedule. */
export interface ReductionRule {
  /** The item group the register reports (`lines[].group`); absent: every item without a rule of its own. */
  readonly group?: string;
  /** How much of the activity ratio is cut, in whole percent (the law: 20); 0 = no reduction. */
  readonly percent: number;
  /** First day the rule applies, `YYYY-MM-DD` (Vietnam local date of `NLap`); absent: since always. */
  readonly from?: string;
  /** Last day the rule applies, inclusive; absent: until further notice. */
  readonly until?: string;
}

/**
 * The law's schedule, which every shop's rules are appended to: no reduction, except 20% of the ratio from
 * 2025-07-01 to 2026-12-31 (Resolution 204/2025/QH15). The excluded groups are not known to the law by the register's
 * group names, so the shop lists them (config `invoice.salesReduction.excludedGroups`: `{ group, percent: 0 }`).
 */
export const STATUTORY_SALES_REDUCTION: readonly ReductionRule[] = [
  { percent: 0 },
  { percent: 20, from: "2025-07-01", until: "2026-12-31" },
];

/** What {@link reductionOn} finds for one day, in the shape `computeInvoice` takes. */
export interface ReductionOnDate {
  /** The cut (whole percent of the ratio) for an item whose group has no rule in force. */
  readonly defaultPercent: number;
  /** The cut per group that has a rule of its own in force that day. */
  readonly percentByGroup: Readonly<Record<string, number>>;
}

/**
 * The reduction of one day. `rules` is the whole schedule, usually `[...STATUTORY_SALES_REDUCTION, ...shop's]`.
 *
 * @throws RangeError when `date` is not `YYYY-MM-DD`, or no rule for every group is in force that day (impossible
 *   with {@link STATUTORY_SALES_REDUCTION} first)
 */
export function reductionOn(rules: readonly ReductionRule[], date: string): ReductionOnDate {
  if (!isIsoDate(date)) throw new RangeError(`not a date: ${JSON.stringify(date)}`);
  let defaultPercent: number | undefined;
  const percentByGroup: Record<string, number> = {};
  for (const rule of rules) {
    if (!ruleInForce(rule, date)) continue;
    if (rule.group === undefined) defaultPercent = rule.percent;
    else percentByGroup[rule.group] = rule.percent; // later rules overwrite earlier ones
  }
  if (defaultPercent === undefined) throw new RangeError(`no reduction rule for every group is in force on ${date}`);
  return { defaultPercent, percentByGroup };
}

/** Where the reduction goes in the XML [U]: public sources do not settle it (README "Uncertain points"). */
export interface SalesReductionXml {
  /**
   * "TTKhac" (default): the note and the amount as two `TToan/TTKhac/TTin` entries (string and numeric).
   * "TGTKhac": the amount in `TToan/TGTKhac` (as Viettel's AMNOTE builder writes it), the note in `TToan/TTKhac`.
   */
  readonly placement: "TTKhac" | "TGTKhac";
  /** `TTruong` of the note (default {@link REDUCTION_NOTE_FIELD}). */
  readonly noteField: string;
  /** `TTruong` of the amount with placement "TTKhac" (default {@link REDUCTION_AMOUNT_FIELD}). */
  readonly amountField: string;
}

/** `TTruong` of the note, as AMNOTE writes it. */
export const REDUCTION_NOTE_FIELD = "NQ204_GTTGT";
/** `TTruong` of the amount (our own name [U]; no public producer writes the amount as a `TTin`). */
export const REDUCTION_AMOUNT_FIELD = "NQ204_SoTienGiam";

/**
 * The note's default wording, after spec §6.1: `{amount}` is the reduction in đồng, Vietnamese style ("1.200"),
 * `{percent}` the cut ("20%").
 */
export const REDUCTION_NOTE_TEMPLATE =
  "Đã giảm {amount} đồng tương ứng {percent} mức tỷ lệ % để tính thuế giá trị gia tăng theo Nghị quyết số 204/2025/QH15";

export const DEFAULT_REDUCTION_XML: SalesReductionXml = {
  placement: "TTKhac",
  noteField: REDUCTION_NOTE_FIELD,
  amountField: REDUCTION_AMOUNT_FIELD,
};

/** The ratio as hundredths of a percent ("3%" → 300), or undefined when it is not one of {@link ACTIVITY_RATIOS}. */
export function ratioHundredths(ratio: string): number | undefined {
  return (ACTIVITY_RATIOS as readonly string[]).includes(ratio) ? Number(ratio.slice(0, -1)) * 100 : undefined;
}

/**
 * The reduction of one activity group: round(revenue × ratio × percent), half away from zero, whole đồng (the one
 * rounding of src/shared/money.ts). `revenue` in đồng, `ratio` in hundredths of a percent, `percent` whole.
 */
export function groupReduction(revenue: number, ratio: number, percent: number): number {
  return Number(divRound(BigInt(revenue) * BigInt(ratio) * BigInt(percent), 1_000_000n));
}

/** The note for `amount` from `template` ({amount}, {percent}; several cuts are listed "20%, 10%"). */
export function reductionNote(template: string, amount: number, percents: readonly number[]): string {
  const percent = [...new Set(percents)].map((p) => `${p}%`).join(", ");
  return template.replaceAll("{amount}", formatDong(amount)).replaceAll("{percent}", percent);
}

/** Whether `note` states `amount` as a whole number ("1.200" not inside "11.200" or "1.2000"). */
export function noteStatesAmount(note: string, amount: bigint): boolean {
  const text = formatDong(Number(amount)).replaceAll(".", "\\.");
  return new RegExp(`(?<![\\d.,])${text}(?![\\d]|[.,]\\d)`).test(note);
}

/**
 * The problems of a schedule, as messages with the index of the rule (empty when it is usable): a percent outside
 * 0–100 or not whole, malformed dates, `from` after `until`.
 */
export function checkReductionRules(rules: readonly ReductionRule[]): { index: number; message: string }[] {
  const out: { index: number; message: string }[] = [];
  rules.forEach((r, index) => {
    if (!Number.isInteger(r.percent) || r.percent < 0 || r.percent > 100) {
      out.push({ index, message: `percent ${r.percent} phải là số nguyên 0–100 / must be a whole 0–100` });
    }
    for (const message of windowProblems(r)) out.push({ index, message });
  });
  return out;
}
