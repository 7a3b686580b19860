/**
 * Corrections (spec §7.3): an erroneous cash-register invoice can only be *replaced* — a new invoice whose
 * `TTHDLQuan` (`TCHDon` 1) names the old one (Circular 91/2026 Art. 10(1)(c)); it is never adjusted, cancelled or
 * rewritten, and the old invoice stays as it was stored.
 *
 * Registers report two kinds of correction:
 *
 * - `replacement`: the full corrected content. It becomes the replacement invoice as it is; when this box issued the
 *   replaced invoice, its date is taken from the store and a second replacement of the same invoice is refused (the
 *   register must replace the newest one).
 * - `refund` (return or storno): the lines are the returned items and the total is the money given back (no lines:
 *   everything came back, a void after the invoice was made; its total must then be the invoice's). The
 *   replacement invoice holds what the customer kept: the content of the newest invoice of that sale (following
 *   earlier replacements) minus the returned items, each returned line matched to a line of that content. Nothing is
 *   guessed: an unmatched or excessive return is a problem, and the remaining lines are checked like any sale.
 *   A refund of everything [U] becomes a replacement invoice with one note line and total 0 (`fullRefund: "replace"`),
 *   or is held for review (`"hold"`) for shops whose T-VAN wants an error notice (04/SS-HĐĐT, message 303) instead.
 *
 * The corrected invoice is named by its number, or by the register's id of the original sale (`replaces.receiptId`:
 * a Datecs storno, an ndjson `refund` with `ref`); that id is resolved to the invoice made from that receipt of the
 * same register, and a refund or replacement then applies to the newest invoice of that sale.
 *
 * Pure: the store lookups come in as functions.
 */
import { Receipt, type ReceiptLine, type ReplacesInvoice } from "../receipt/model.js";
import { parseDecimal } from "../shared/money.js";
import { formatScaled6 } from "./compute.js";
import { dong as d, type Problem, problem as p } from "./problem.js";

/** The number of an invoice: form, symbol and number. */
export interface InvoiceNumberRef {
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly shdon: number;
}

/** An invoice this box issued, as far as a correction needs it. */
export interface IssuedInvoice extends InvoiceNumberRef {
  /** Its `NLap`, YYYY-MM-DD. */
  readonly nlap: string;
  /** The receipt it was made from, as stored (for a replacement: the full content it was made from). */
  readonly receiptJson: string;
  /** The invoice that already replaced it, if any. */
  readonly replacedBy?: InvoiceNumberRef;
}

/** Finds an invoice this box issued by its number; undefined when it did not issue it. */
export type FindIssuedInvoice = (ref: InvoiceNumberRef) => IssuedInvoice | undefined;

/**
 * Finds the invoice made from a receipt of the register the correction came from, by the register's receipt id;
 * undefined when none was (the write path: `store.findInvoiceForReceipt(registerId, receiptId)`).
 */
export type FindInvoiceForReceipt = (receiptId: string) => InvoiceNumberRef | undefined;

/** How corrections are made; from config (`invoice.fullRefund`). */
export interface CorrectionOptions {
  /** A refund of everything [U]: "replace" (zero-total replacement with a note line) or "hold" (quarantine). */
  readonly fullRefund: "replace" | "hold";
}

/** A correction resolved into the replacement receipt the invoice is made from, or why it cannot be. */
export type CorrectionResult =
  | {
      readonly ok: true;
      /** `kind: "replacement"` with `replaces` complete (date included), ready for `computeInvoice`. */
      readonly receipt: Receipt;
      /** The invoice it replaces, when this box issued it. */
      readonly replaced?: IssuedInvoice;
    }
  | { readonly ok: false; readonly problems: readonly Problem[] };

/** `GChu` of a refund's replacement when the register gives no reason. */
export const REFUND_NOTE = "Thay thế do người mua trả lại hàng";

/** The replacement's reason (`GChu`) after a void (a refund with no lines) when the register gives none. */
export const VOID_NOTE = "Thay thế do hủy giao dịch bán hàng trên máy tính tiền";

/** Follows `replacedBy` links to the newest invoice of a sale (bounded, in case the store holds a cycle). */
function newest(find: FindIssuedInvoice, first: IssuedInvoice): IssuedInvoice | undefined {
  let current = first;
  for (let hops = 0; current.replacedBy && hops < 1000; hops++) {
    const next = find(current.replacedBy);
    if (!next) return undefined;
    current = next;
  }
  return current.replacedBy ? undefined : current;
}

const label = (r: InvoiceNumberRef): string => `${r.khmshdon}${r.khhdon} số ${r.shdon}`;

/**
 * Resolve a correction receipt. A sale passes through unchanged. Without a lookup (`find` undefined, e.g.
 * `hoadon invoice build`), a replacement passes through as the register sent it and a refund is refused.
 * `byReceipt` resolves `replaces.receiptId`; without it such a correction is refused.
 */
export function resolveCorrection(
  receipt: Receipt,
  find: FindIssuedInvoice | undefined,
  opts: CorrectionOptions,
  byReceipt?: FindInvoiceForReceipt,
): CorrectionResult {
  if (receipt.kind === "sale" || receipt.replaces === undefined) return { ok: true, receipt };
  const sent = receipt.replaces;
  let num: InvoiceNumberRef;
  /** Named by the register's receipt id: the register means the sale, so its newest invoice is the one to correct. */
  let bySale = false;
  if (sent.receiptId !== undefined) {
    if (!byReceipt) {
      const vi = `Cần tra kho dữ liệu để tìm hóa đơn lập từ phiếu ${sent.receiptId}`;
      return fail(
        "REFUND_NEEDS_STORE",
        "replaces.receiptId",
        vi,
        "finding the invoice made from that receipt needs the store",
      );
    }
    const found = byReceipt(sent.receiptId);
    if (!found) {
      const vi = `Không tìm thấy hóa đơn lập từ phiếu ${sent.receiptId} của máy tính tiền này`;
      return fail(
        "REFUND_ORIGINAL_UNKNOWN",
        "replaces.receiptId",
        vi,
        "no invoice was made from that receipt of this register",
      );
    }
    num = { khmshdon: found.khmshdon, khhdon: found.khhdon, shdon: Number(found.shdon) };
    bySale = true;
  } else {
    num = { khmshdon: sent.khmshdon, khhdon: sent.khhdon, shdon: Number(sent.shdon) };
  }
  const ref: ReplacesInvoice = {
    khmshdon: num.khmshdon,
    khhdon: num.khhdon,
    shdon: String(num.shdon),
    ...(sent.date === undefined ? {} : { date: sent.date }),
    ...(sent.note === undefined ? {} : { note: sent.note }),
  };
  const issued = find?.(num);

  if (receipt.kind === "replacement") {
    if (bySale) {
      // The register names its sale, not an invoice: replace the newest invoice of that sale.
      const latest = issued && find ? newest(find, issued) : undefined;
      if (!latest) {
        const vi = `Không tìm thấy hóa đơn mới nhất của phiếu ${sent.receiptId}`;
        return fail("REFUND_ORIGINAL_UNKNOWN", "replaces.receiptId", vi, "the newest invoice of that sale is missing");
      }
      const replaces: ReplacesInvoice = {
        ...ref,
        khmshdon: latest.khmshdon,
        khhdon: latest.khhdon,
        shdon: String(latest.shdon),
        date: latest.nlap,
      };
      return { ok: true, receipt: { ...receipt, replaces }, replaced: latest };
    }
    if (!issued) return { ok: true, receipt }; // another system's invoice, or no store: as the register says
    if (issued.replacedBy) {
      const vi = `Hóa đơn ${label(num)} đã được thay thế bởi hóa đơn ${label(issued.replacedBy)}; hãy thay thế hóa đơn mới nhất`;
      return fail("ALREADY_REPLACED", "replaces", vi, "that invoice was already replaced; replace the newest one");
    }
    if (ref.date !== undefined && ref.date !== issued.nlap) {
      const vi = `Ngày hóa đơn bị thay thế ${ref.date} khác ngày lập đã lưu ${issued.nlap}`;
      return fail("REPLACES_DATE_MISMATCH", "replaces.date", vi, "the replaced invoice's date differs from the store");
    }
    return { ok: true, receipt: { ...receipt, replaces: { ...ref, date: issued.nlap } }, replaced: issued };
  }

  // A refund.
  if (!find) {
    const vi = "Phiếu trả hàng cần tra hóa đơn gốc trong kho dữ liệu";
    return fail("REFUND_NEEDS_STORE", "kind", vi, "a refund needs the original invoice from the store");
  }
  if (!issued) {
    const vi = `Không tìm thấy hóa đơn ${label(num)} do máy này lập`;
    return fail("REFUND_ORIGINAL_UNKNOWN", "replaces", vi, "this box did not issue the refunded invoice");
  }
  const latest = newest(find, issued);
  if (!latest) {
    const vi = `Không tìm thấy hóa đơn thay thế mới nhất của ${label(num)}`;
    return fail("REFUND_ORIGINAL_UNKNOWN", "replaces", vi, "the newest replacement of that invoice is missing");
  }
  const stored = Receipt.safeParse(JSON.parse(latest.receiptJson));
  if (!stored.success) {
    const vi = `Dữ liệu phiếu của hóa đơn ${label(latest)} trong kho không đọc được`;
    return fail("REFUND_ORIGINAL_UNREADABLE", "replaces", vi, "the stored receipt of that invoice is unreadable");
  }
  const made = applyRefund(stored.data, receipt, latest, opts);
  return made.ok ? { ...made, replaced: latest } : made;
}

function fail(code: string, path: string, vi: string, en: string): CorrectionResult {
  return { ok: false, problems: [p(code, path, vi, en)] };
}

/** Working copy of one line of the content being refunded. */
interface Left {
  readonly line: ReceiptLine;
  quantity: bigint;
  amount: number;
  discount: number;
}

/** Whether a returned line names this line of the sale: same kind, code (or name without codes) and unit price. */
function sameItem(sold: ReceiptLine, back: ReceiptLine): boolean {
  if (sold.kind !== back.kind) return false;
  const sameName =
    sold.code !== undefined && back.code !== undefined ? sold.code === back.code : sold.name === back.name;
  if (!sameName) return false;
  if (sold.unitPrice !== undefined && back.unitPrice !== undefined && sold.unitPrice !== back.unitPrice) return false;
  if (back.vatRate !== undefined && sold.vatRate !== undefined && back.vatRate !== sold.vatRate) return false;
  return true;
}

const ONE = 1_000_000n;

/**
 * The content left after `refund` is taken from `content` (the receipt of invoice `of`), as a replacement receipt.
 * Exported for tests; `resolveCorrection` is the entry point.
 */
export function applyRefund(
  content: Receipt,
  refund: Receipt,
  of: IssuedInvoice,
  opts: CorrectionOptions,
): CorrectionResult {
  const problems: Problem[] = [];
  if (refund.pricesIncludeVat !== content.pricesIncludeVat) {
    const vi = "Phiếu trả hàng và hóa đơn gốc tính giá khác nhau (có/không gồm thuế)";
    problems.push(p("REFUND_PRICE_BASIS", "pricesIncludeVat", vi, "refund and sale differ in VAT-inclusive pricing"));
  }
  const left: Left[] = content.lines.map((line) => ({
    line,
    quantity: parseDecimal(line.quantity ?? "1"),
    amount: line.amount,
    discount: line.discount,
  }));
  if (refund.lines.length === 0) {
    // No lines: the whole sale came back (a void after the invoice was made).
    for (const l of left) {
      l.quantity = 0n;
      l.amount = 0;
      l.discount = 0;
    }
  }
  refund.lines.forEach((back, i) => {
    if (back.kind === "note") return;
    const n = i + 1;
    const q = back.kind === "discount" ? 0n : parseDecimal(back.quantity ?? "1");
    const match = left.find(
      (l) =>
        sameItem(l.line, back) &&
        l.quantity >= q &&
        l.amount >= back.amount &&
        l.discount >= back.discount &&
        (back.kind !== "discount" || l.amount > 0),
    );
    if (!match) {
      const vi = `Dòng trả ${n} (${back.name}) không khớp dòng nào còn lại của hóa đơn ${label(of)}`;
      problems.push(p("REFUND_LINE_UNMATCHED", `lines[${i}]`, vi, `returned line ${n} matches no line of the sale`));
      return;
    }
    match.quantity -= q;
    match.amount -= back.amount;
    match.discount -= back.discount;
  });
  const total = content.total - refund.total;
  if (total < 0) {
    const vi = `Tiền trả lại ${d(refund.total)} lớn hơn tổng hóa đơn ${d(content.total)}`;
    problems.push(p("REFUND_TOTAL_EXCEEDS", "total", vi, "the refund exceeds the invoice total"));
  }

  const lines: ReceiptLine[] = [];
  left.forEach((l, i) => {
    const { line } = l;
    if (line.kind === "note") {
      lines.push(line);
      return;
    }
    const gone = line.kind === "discount" ? l.amount === 0 : l.quantity === 0n;
    if (gone) {
      if (l.amount !== 0 || l.discount !== 0) {
        const vi = `Dòng ${i + 1} (${line.name}) đã trả hết số lượng nhưng còn ${d(l.amount)}`;
        problems.push(p("REFUND_LINE_AMOUNT", `lines[${i}]`, vi, `line ${i + 1}: nothing left but an amount`));
      }
      return;
    }
    const kept: ReceiptLine = { ...line, amount: l.amount, discount: l.discount };
    if (line.kind !== "discount" && (line.quantity !== undefined || l.quantity !== ONE)) {
      kept.quantity = formatScaled6(l.quantity);
    }
    lines.push(kept);
  });
  if (problems.length > 0) return { ok: false, problems };

  const replaces = {
    khmshdon: of.khmshdon,
    khhdon: of.khhdon,
    shdon: String(of.shdon),
    date: of.nlap,
    note: refund.replaces?.note ?? (refund.lines.length === 0 ? VOID_NOTE : REFUND_NOTE),
  };
  const base = {
    ...content,
    receiptId: refund.receiptId,
    issuedAt: refund.issuedAt,
    kind: "replacement" as const,
    replaces,
    ...(refund.device ? { device: refund.device } : {}),
  };
  if (lines.some((l) => l.kind === "goods")) return { ok: true, receipt: { ...base, lines, total } };

  // Everything came back.
  if (opts.fullRefund === "hold") {
    const vi = `Người mua trả lại toàn bộ hóa đơn ${label(of)}: cần xử lý thủ công (thông báo sai sót 04/SS-HĐĐT)`;
    return fail("FULL_REFUND_HELD", "lines", vi, "a refund of everything is held for manual handling");
  }
  if (total !== 0) {
    const vi = `Đã trả lại toàn bộ hàng nhưng tiền trả lại ${d(refund.total)} khác tổng hóa đơn ${d(content.total)}`;
    return fail("REFUND_TOTAL_MISMATCH", "total", vi, "everything was returned but the refund differs from the total");
  }
  const [y, m, day] = of.nlap.split("-");
  const note: ReceiptLine = {
    kind: "note",
    name: `Người mua trả lại toàn bộ hàng hóa, dịch vụ của hóa đơn ${label(of)} ngày ${day}/${m}/${y}`,
    discount: 0,
    amount: 0,
  };
  return { ok: true, receipt: { ...base, lines: [note], payments: [], total: 0 } };
}
