/**
 * Problems are how the invoice module reports what is wrong: a stable code, the path it concerns, and a message in
 * Vietnamese first, then English (what shop staff read first, what operators grep for).
 */
import { DaemonError } from "../shared/errors.js";
import { formatDong } from "../shared/i18n.js";

/** Something wrong with a receipt or an invoice, Vietnamese first then English, with the path it concerns. */
export interface Problem {
  /** Stable upper-case code, e.g. `TOTAL_MISMATCH`. */
  readonly code: string;
  /** Where: `lines[2].amount`, `total`, `options.defaultVatRate`, `NDHDon/NBan/Ten` … */
  readonly path: string;
  /** "Tổng tiền không khớp: … / totals do not add up: …" */
  readonly message: string;
}

/** A problem with its message written as "vi / en". */
export function problem(code: string, path: string, vi: string, en: string): Problem {
  return { code, path, message: `${vi} / ${en}` };
}

/** An amount the way Vietnamese receipts print it: 130400 → "130.400 đ". */
export function dong(n: number | bigint): string {
  return `${formatDong(Number(n))} đ`;
}

/**
 * Thrown by `renderDlhdon` and `assembleHdon` when the invoice would break a rule of the XML format (a length limit,
 * a malformed symbol or date). Code `INVOICE_INVALID`; `problems` lists every violation, not just the first. These
 * come from configuration or from a bug, not from a register's data (the receipt is validated before), so they are
 * exceptions rather than values (style.md §2.4); call `checkRender` first to get the same list as a value.
 */
export class InvoiceInvalidError extends DaemonError {
  readonly problems: readonly Problem[];
  constructor(problems: readonly Problem[]) {
    super(
      "INVOICE_INVALID",
      `Hóa đơn không hợp lệ / invalid invoice: ${problems.map((p) => `${p.path}: ${p.message}`).join("; ")}`,
    );
    this.problems = problems;
  }
}
