/**
 * The tax treatment of a sale on a given day: the VAT rates (rates.ts) and the sales-invoice reduction
 * (reduction.ts) of that day, in the shape `computeInvoice` takes. A sale is taxed as of the day it was invoiced;
 * a replacement (or a refund, which becomes one) re-issues that sale, so it keeps the treatment of the replaced
 * invoice's date even when it is issued after a reduction ended (`computeInvoice` resolves it from the schedule).
 */
import type { VatRate } from "../receipt/model.js";
import { type RateRule, ratesOn } from "./rates.js";
import { type ReductionOnDate, type ReductionRule, reductionOn } from "./reduction.js";

/** Both schedules, whole (the law's rules first, then the shop's). */
export interface TaxSchedule {
  readonly rates: readonly RateRule[];
  readonly reduction: readonly ReductionRule[];
  /** Report rates not in force that day (`ratesNotInForce`), so a line still sending one is held. */
  readonly holdRatesNotInForce: boolean;
}

/** The date-dependent options of `computeInvoice`. */
export interface TaxTreatment {
  readonly defaultVatRate: VatRate;
  readonly ratesByGroup: Readonly<Record<string, VatRate>>;
  readonly ratesNotInForce?: readonly VatRate[];
  readonly reductionOn: ReductionOnDate;
}

/**
 * The treatment of `date` (YYYY-MM-DD, Vietnam local).
 *
 * @throws RangeError when `date` is not a date, or a schedule has no rule for everything that day
 */
export function treatmentOn(schedule: TaxSchedule, date: string): TaxTreatment {
  const day = ratesOn(schedule.rates, date);
  return {
    defaultVatRate: day.defaultVatRate,
    ratesByGroup: day.ratesByGroup,
    ...(schedule.holdRatesNotInForce ? { ratesNotInForce: day.notInForce } : {}),
    reductionOn: reductionOn(schedule.reduction, date),
  };
}
