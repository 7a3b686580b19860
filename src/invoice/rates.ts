/**
 * Date-effective VAT rates per item group (spec §6.1). Rates change by law on fixed dates: the 10% → 8% reduction of
 * Resolution 204/2025/QH15 (Decree 174/2025) runs from 2025-07-01 to 2026-12-31 with its excluded groups (excise goods
 * such as beer, wine and tobacco) at 10%, and the rate returns to 10% on 2027-01-01 unless the law — and then the
 * shop's config — extends it. Pure: the schedule and a date in, the rates of that day out.
 *
 * A schedule is an ordered list of rules. For a given invoice date (`NLap`, Vietnam local) and item group:
 *
 * 1. only rules in force that day count (`from` ≤ date ≤ `until`, both inclusive, either may be open);
 * 2. a rule naming the group beats a rule for every group;
 * 3. among equals, the later rule in the list wins — so a shop's rules, appended after {@link STATUTORY_RATES},
 *    override the law's defaults, and a later dated rule can extend or cut short an earlier one.
 */
import { VatRate } from "../receipt/model.js";

/** One rule of a rate schedule. */
export interface RateRule {
  /** The item group the register reports (`lines[].group`); absent: every item without a rule of its own. */
  readonly group?: string;
  /** The `TSuat` code; a bare `KHAC` (undetermined) is not a rate a schedule can give. */
  readonly rate: VatRate;
  /** First day the rule applies, `YYYY-MM-DD` (Vietnam local date of `NLap`); absent: since always. */
  readonly from?: string;
  /** Last day the rule applies, inclusive; absent: until further notice. */
  readonly until?: string;
}

/**
 * The law's schedule, which every shop's rules are appended to: the standard rate of 10% (VAT Law 48/2024/QH15), and
 * the 8% reduction of Resolution 204/2025/QH15 from 2025-07-01 to 2026-12-31. Excluded groups are not known to the law
 * by the register's group names, so the shop lists them (`{ group: beer, rate: "10%" }`).
 */
export const STATUTORY_RATES: readonly RateRule[] = [
  { rate: "10%" },
  { rate: "8%", from: "2025-07-01", until: "2026-12-31" },
];

/** What {@link ratesOn} finds for one day, in the shape `computeInvoice` takes. */
export interface RatesOnDate {
  /** `TSuat` for an item whose group has no rule in force (or that has no group). */
  readonly defaultVatRate: VatRate;
  /** `TSuat` per group that has a rule of its own in force that day. */
  readonly ratesByGroup: Readonly<Record<string, VatRate>>;
  /**
   * Rates the schedule gives only for a time (the reduced 8%) and that are not in force that day. A register that
   * still sends such a rate on a line is selling at a rate the law no longer allows (or not yet).
   */
  readonly notInForce: readonly VatRate[];
}

const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

/** True for a real calendar date written `YYYY-MM-DD`. */
export function isIsoDate(s: string): boolean {
  if (!DATE_RE.test(s)) return false;
  const t = Date.parse(`${s}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
}

/** Whether a dated rule (a rate, a reduction) is in force on `date` (both `YYYY-MM-DD`; string order is date order). */
export function ruleInForce(rule: { readonly from?: string; readonly until?: string }, date: string): boolean {
  return (rule.from === undefined || rule.from <= date) && (rule.until === undefined || date <= rule.until);
}

/** What is wrong with a dated rule's window: malformed dates, `from` after `until` (rates and reduction rules alike). */
export function windowProblems(r: { readonly from?: string; readonly until?: string }): string[] {
  const out: string[] = [];
  for (const k of ["from", "until"] as const) {
    const v = r[k];
    if (v !== undefined && !isIsoDate(v)) out.push(`${k} "${v}" không phải ngày YYYY-MM-DD`);
  }
  if (r.from !== undefined && r.until !== undefined && r.from > r.until) {
    out.push(`from ${r.from} sau until ${r.until} / from is after until`);
  }
  return out;
}

/**
 * The problems of a schedule, as messages with the index of the rule (empty when it is usable): unknown or
 * undetermined rates, malformed dates, `from` after `until`.
 */
export function checkRateRules(rules: readonly RateRule[]): { index: number; message: string }[] {
  const out: { index: number; message: string }[] = [];
  rules.forEach((r, index) => {
    if (!VatRate.safeParse(r.rate).success || r.rate === "KHAC") {
      out.push({ index, message: `thuế suất "${r.rate}" không dùng được / not a usable rate` });
    }
    for (const message of windowProblems(r)) out.push({ index, message });
  });
  return out;
}

/**
 * The rates of one day. `rules` is the whole schedule, usually `[...STATUTORY_RATES, ...config.invoice.rates]`.
 *
 * @throws RangeError when `date` is not `YYYY-MM-DD`, or no rule for every group is in force that day (impossible
 *   with {@link STATUTORY_RATES} first: its 10% has no dates)
 */
export function ratesOn(rules: readonly RateRule[], date: string): RatesOnDate {
  if (!isIsoDate(date)) throw new RangeError(`not a date: ${JSON.stringify(date)}`);
  let defaultVatRate: VatRate | undefined;
  const ratesByGroup: Record<string, VatRate> = {};
  const inForce = new Set<string>();
  const timed = new Set<string>();
  const always = new Set<string>();
  for (const rule of rules) {
    (rule.from === undefined && rule.until === undefined ? always : timed).add(rule.rate);
    if (!ruleInForce(rule, date)) continue;
    inForce.add(rule.rate);
    if (rule.group === undefined) defaultVatRate = rule.rate;
    else ratesByGroup[rule.group] = rule.rate; // later rules overwrite earlier ones
  }
  if (defaultVatRate === undefined) throw new RangeError(`no VAT rule for every group is in force on ${date}`);
  const notInForce = [...timed].filter((r) => !always.has(r) && !inForce.has(r)) as VatRate[];
  return { defaultVatRate, ratesByGroup, notInForce };
}

/** The `TSuat` of one item group on one day ({@link ratesOn} for a single group). */
export function rateFor(rules: readonly RateRule[], date: string, group?: string): VatRate {
  const r = ratesOn(rules, date);
  return group !== undefined && Object.hasOwn(r.ratesByGroup, group)
    ? (r.ratesByGroup[group] as VatRate)
    : r.defaultVatRate;
}
