/**
 * The invoice module: receipt → amounts → canonical XML → HDon, and back (facts + arithmetic) for verification.
 * Pure: no I/O, no clock, deterministic (style.md §2.1).
 */
export {
  type ComputeOptions,
  type ComputeResult,
  computeInvoice,
  type DraftBuyer,
  type DraftLine,
  formatScaled6,
  type InvoiceDraft,
  type RateGroup,
  type ReductionGroup,
  type RelatedInvoice,
  type SalesReductionDraft,
  type SalesReductionOptions,
  type TChat,
  vatOf,
  vatRateHundredths,
} from "./compute.js";
export {
  applyRefund,
  type CorrectionOptions,
  type CorrectionResult,
  type FindInvoiceForReceipt,
  type FindIssuedInvoice,
  type InvoiceNumberRef,
  type IssuedInvoice,
  REFUND_NOTE,
  resolveCorrection,
} from "./corrections.js";
export {
  type ArithmeticOptions,
  assembleHdon,
  checkArithmetic,
  type FactLine,
  type FactRate,
  type FactsResult,
  type HdonParts,
  type InvoiceFacts,
  type ReadFactsOptions,
  readInvoiceFacts,
} from "./hdon.js";
export {
  dlhdonId,
  formatKhhdon,
  formatMccqt,
  isValidShdon,
  KHHDON_MTT_RE,
  MCCQT_RE,
  MCCQT_SEQ_MAX,
  parseMccqt,
  SHDON_MAX,
  SHDON_RE,
} from "./numbering.js";
export { InvoiceInvalidError, type Problem } from "./problem.js";
export {
  crc16CcittFalse,
  LOOKUP_GUID,
  type LookupQrFacts,
  type LookupQrInput,
  lookupQr,
  parseLookupQr,
  parseTlv,
  QR_MAX_LENGTH,
  type TlvField,
} from "./qr.js";
export {
  checkRateRules,
  isIsoDate,
  type RateRule,
  type RatesOnDate,
  rateFor,
  ratesOn,
  ruleInForce,
  STATUTORY_RATES,
} from "./rates.js";
export {
  ACTIVITY_RATIOS,
  type ActivityRatio,
  checkReductionRules,
  DEFAULT_REDUCTION_XML,
  groupReduction,
  noteStatesAmount,
  REDUCTION_AMOUNT_FIELD,
  REDUCTION_NOTE_FIELD,
  REDUCTION_NOTE_TEMPLATE,
  type ReductionOnDate,
  type ReductionRule,
  ratioHundredths,
  reductionNote,
  reductionOn,
  type SalesReductionXml,
  STATUTORY_SALES_REDUCTION,
} from "./reduction.js";
export {
  ANONYMOUS_BUYER_TEXT,
  checkRender,
  type ExtraField,
  LINE_VAT_FIELD,
  type RenderContext,
  type RenderedDlhdon,
  renderDlhdon,
  type SellerInfo,
} from "./render.js";
export { checkStructure, type StructureProfile, structureProfileOf } from "./structure.js";
export { type TaxSchedule, type TaxTreatment, treatmentOn } from "./treatment.js";
export { amountInWords, MAX_WORDS_AMOUNT, parseWords, type WordsOptions } from "./words.js";
export { readXmlTree, type XNode } from "./xml-read.js";
