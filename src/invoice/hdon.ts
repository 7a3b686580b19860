/**
 * The whole `HDon` (spec §2.2): the signed `DLHDon`, the lookup QR, the MCCQT and the signatures — and the way back:
 * reading the facts of an invoice and checking its arithmetic, for the invoice verifier and the sandbox.
 */
import { XMLValidator } from "fast-xml-parser";
import { divRound, parseDecimal } from "../shared/money.js";
import { el, textEl } from "../xml/canonical.js";
import { vatRateHundredths } from "./compute.js";
import { MCCQT_RE } from "./numbering.js";
import { dong, InvoiceInvalidError, type Problem, problem } from "./problem.js";
import { QR_MAX_LENGTH } from "./qr.js";
import { noteStatesAmount, REDUCTION_AMOUNT_FIELD, REDUCTION_NOTE_FIELD } from "./reduction.js";
import { LINE_VAT_FIELD } from "./render.js";
import { parseWords } from "./words.js";
import { childOf, childrenOf, readXmlTree, textOf, type XNode } from "./xml-read.js";

/** The parts of one `HDon`. */
export interface HdonParts {
  /** The canonical `DLHDon` from `renderDlhdon`, byte for byte (it is what the signature covers). */
  readonly dlhdon: string;
  /** `DLQRCode`; an empty string leaves the (optional) element out. */
  readonly qr: string;
  /** The cash-register `MCCQT`, `M1-26-A1B2C-00000000123`. */
  readonly mccqt: string;
  /** The seller's `<Signature …>…</Signature>`, already canonical; absent: `<NBan></NBan>` (not required, §5.1). */
  readonly signature?: string;
  /** Write `DSCKS` (default true). Some T-VANs want cash-register invoices in a batch without it (addendum §1d). */
  readonly dscks?: boolean;
}

/**
 * `<HDon>{DLHDon}<DLQRCode>…</DLQRCode><MCCQT>…</MCCQT><DSCKS><NBan>{signature}</NBan></DSCKS></HDon>`, canonical
 * (the child order of real tax-authority output, spec §2.2; `MCCQT` is a child of `HDon`, not of `TTChung`).
 *
 * @throws InvoiceInvalidError when the MCCQT or the QR breaks the format.
 */
export function assembleHdon(parts: HdonParts): string {
  const problems: Problem[] = [];
  if (!MCCQT_RE.test(parts.mccqt)) {
    problems.push(problem("MCCQT_INVALID", "MCCQT", `MCCQT "${parts.mccqt}" sai dạng`, "MCCQT must match §4"));
  }
  if (parts.qr.length > QR_MAX_LENGTH) {
    problems.push(problem("FIELD_TOO_LONG", "DLQRCode", "DLQRCode dài quá 512 ký tự", "DLQRCode over 512"));
  }
  if (!parts.dlhdon.startsWith("<DLHDon ") || !parts.dlhdon.endsWith("</DLHDon>")) {
    problems.push(problem("DLHDON_INVALID", "DLHDon", "Thiếu DLHDon", "dlhdon is not a DLHDon element"));
  }
  if (problems.length > 0) throw new InvoiceInvalidError(problems);
  return el(
    "HDon",
    parts.dlhdon +
      (parts.qr === "" ? "" : textEl("DLQRCode", parts.qr)) +
      textEl("MCCQT", parts.mccqt) +
      (parts.dscks === false ? "" : el("DSCKS", el("NBan", parts.signature ?? ""))),
  );
}

/** One `HHDVu` as written (numbers as their decimal strings). */
export interface FactLine {
  readonly STT?: string;
  readonly TChat: string;
  readonly MHHDVu?: string;
  readonly THHDVu?: string;
  readonly DVTinh?: string;
  readonly SLuong?: string;
  readonly DGia?: string;
  readonly STCKhau?: string;
  readonly ThTien?: string;
  readonly TSuat?: string;
  /** The line VAT from `TTKhac/TTin` "Tiền thuế", when present. */
  readonly TThue?: string;
}

/** One `LTSuat`. */
export interface FactRate {
  readonly TSuat: string;
  readonly ThTien: string;
  readonly TThue?: string;
}

/** What an invoice says, as written: the numbering, the totals, the rate groups and the lines. */
export interface InvoiceFacts {
  readonly id?: string;
  readonly PBan?: string;
  readonly KHMSHDon: string;
  readonly KHHDon: string;
  readonly SHDon: string;
  readonly NLap: string;
  /** Seller `NBan/MST`. */
  readonly sellerTaxCode?: string;
  readonly HTTToan?: string;
  readonly MCCQT?: string;
  readonly DLQRCode?: string;
  readonly TgTCThue?: string;
  readonly TgTThue?: string;
  readonly TTCKTMai?: string;
  /** `TToan/TGTKhac` (other deductions): on a sales invoice, where some producers put the NQ 204/2025 reduction. */
  readonly TGTKhac?: string;
  /** The NQ 204/2025 reduction amount from `TToan/TTKhac` (the configured amount field), when present. */
  readonly reductionAmount?: string;
  /** The NQ 204/2025 reduction note from `TToan/TTKhac` (the configured note field), when present. */
  readonly reductionNote?: string;
  readonly TgTTTBSo: string;
  readonly TgTTTBChu: string;
  readonly rates: readonly FactRate[];
  readonly lines: readonly FactLine[];
}

/** `readInvoiceFacts` result: facts, or why the XML could not be read. */
export type FactsResult =
  | { readonly ok: true; readonly facts: InvoiceFacts }
  | { readonly ok: false; readonly problems: readonly Problem[] };

/** Options for {@link readInvoiceFacts}. */
export interface ReadFactsOptions {
  /**
   * `TTruong` names of the NQ 204/2025 reduction in `TToan/TTKhac` (config `invoice.salesReduction.noteField`,
   * `amountField`); default {@link REDUCTION_NOTE_FIELD}, {@link REDUCTION_AMOUNT_FIELD}.
   */
  readonly reductionFields?: { readonly note: string; readonly amount: string };
}

/** Larger than any invoice (a whole 206 batch is ≤ 2 MB, addendum §1d). */
const MAX_XML_CHARS = 2_000_000;

/** Only the keys whose value is defined, so optional fact fields are absent rather than undefined. */
function defined<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/**
 * Read one invoice (`HDon`, or a bare `DLHDon`) into {@link InvoiceFacts}. Safe on outside input: size is capped, a
 * DOCTYPE (and so any entity trick) is refused before parsing (design.md "Security"), well-formedness is checked by
 * fast-xml-parser's validator, and every value stays a string exactly as written (tax codes keep leading zeros).
 */
export function readInvoiceFacts(xml: string, opts: ReadFactsOptions = {}): FactsResult {
  const fail = (code: string, vi: string, en: string): FactsResult => ({
    ok: false,
    problems: [problem(code, "HDon", vi, en)],
  });
  if (xml.length > MAX_XML_CHARS) return fail("XML_TOO_LARGE", "Tệp XML quá lớn", "XML too large");
  const doc = xml.replace(/^\uFEFF/, "");
  if (/<!DOCTYPE|<!ENTITY/i.test(doc)) return fail("XML_DOCTYPE", "XML có DOCTYPE bị từ chối", "DOCTYPE refused");
  const valid = XMLValidator.validate(doc);
  if (valid !== true) {
    return fail("XML_MALFORMED", `XML sai cú pháp: ${valid.err.msg}`, `malformed XML (line ${valid.err.line})`);
  }
  let root: XNode;
  try {
    root = readXmlTree(doc);
  } catch (e) {
    return fail("XML_MALFORMED", "XML sai cú pháp", `malformed XML (${(e as Error).message})`);
  }
  const hdon = root.name === "HDon" ? root : undefined;
  const dl = hdon ? childOf(hdon, "DLHDon") : root.name === "DLHDon" ? root : undefined;
  if (!dl) return fail("XML_NOT_INVOICE", "Không có HDon/DLHDon", "no HDon/DLHDon element");

  const tt = childOf(dl, "TTChung");
  const nd = childOf(dl, "NDHDon");
  const toan = childOf(nd, "TToan");
  const required = {
    KHMSHDon: textOf(tt, "KHMSHDon"),
    KHHDon: textOf(tt, "KHHDon"),
    SHDon: textOf(tt, "SHDon"),
    NLap: textOf(tt, "NLap"),
    TgTTTBSo: textOf(toan, "TgTTTBSo"),
    TgTTTBChu: textOf(toan, "TgTTTBChu"),
  };
  const missing = Object.entries(required).filter(([, v]) => v === undefined || v === "");
  if (missing.length > 0) {
    return {
      ok: false,
      problems: missing.map(([k]) => problem("FIELD_MISSING", k, `Thiếu ${k}`, `${k} is missing`)),
    };
  }

  const lines = childrenOf(childOf(nd, "DSHHDVu"), "HHDVu").map((h): FactLine => {
    const vat = childrenOf(childOf(h, "TTKhac"), "TTin").find((t) => textOf(t, "TTruong") === LINE_VAT_FIELD);
    return defined({
      STT: textOf(h, "STT"),
      TChat: textOf(h, "TChat") ?? "",
      MHHDVu: textOf(h, "MHHDVu"),
      THHDVu: textOf(h, "THHDVu"),
      DVTinh: textOf(h, "DVTinh"),
      SLuong: textOf(h, "SLuong"),
      DGia: textOf(h, "DGia"),
      STCKhau: textOf(h, "STCKhau"),
      ThTien: textOf(h, "ThTien"),
      TSuat: textOf(h, "TSuat"),
      TThue: textOf(vat, "DLieu"),
    });
  });
  const rates = childrenOf(childOf(toan, "THTTLTSuat"), "LTSuat").map(
    (r): FactRate =>
      defined({ TSuat: textOf(r, "TSuat") ?? "", ThTien: textOf(r, "ThTien") ?? "", TThue: textOf(r, "TThue") }),
  );
  const fields = opts.reductionFields ?? { note: REDUCTION_NOTE_FIELD, amount: REDUCTION_AMOUNT_FIELD };
  const toanKhac = childrenOf(childOf(toan, "TTKhac"), "TTin");
  const entry = (name: string): string | undefined =>
    textOf(
      toanKhac.find((t) => textOf(t, "TTruong") === name),
      "DLieu",
    );
  const facts: InvoiceFacts = defined({
    id: dl.attrs["Id"],
    PBan: textOf(tt, "PBan"),
    KHMSHDon: required.KHMSHDon as string,
    KHHDon: required.KHHDon as string,
    SHDon: required.SHDon as string,
    NLap: required.NLap as string,
    sellerTaxCode: textOf(childOf(nd, "NBan"), "MST"),
    HTTToan: textOf(tt, "HTTToan"),
    MCCQT: textOf(hdon, "MCCQT"),
    DLQRCode: textOf(hdon, "DLQRCode"),
    TgTCThue: textOf(toan, "TgTCThue"),
    TgTThue: textOf(toan, "TgTThue"),
    TTCKTMai: textOf(toan, "TTCKTMai"),
    TGTKhac: textOf(toan, "TGTKhac"),
    reductionAmount: entry(fields.amount),
    reductionNote: entry(fields.note),
    TgTTTBSo: required.TgTTTBSo as string,
    TgTTTBChu: required.TgTTTBChu as string,
    rates,
    lines,
  });
  return { ok: true, facts };
}

/** Options for {@link checkArithmetic}. */
export interface ArithmeticOptions {
  /** How far (đồng) SLuong × DGia − STCKhau may be from ThTien on one line; default 1. */
  readonly lineToleranceDong?: number;
}

const S6 = 1_000_000n;

/** The largest activity ratio (5%, services) in hundredths of a percent: no reduction can exceed that VAT. */
const MAX_RATIO_HUNDREDTHS = 500n;

/**
 * The NQ 204/2025 reduction a sales invoice shows (6-decimal scaled; 0n when none), with its problems: two amounts
 * that differ, a negative amount or one larger than the whole VAT of the highest ratio, a note missing or not
 * stating the amount, an amount missing where the note says there is one.
 */
function salesReduction(
  facts: InvoiceFacts,
  before: bigint,
  num: (path: string, v: string | undefined) => bigint | undefined,
  add: (code: string, path: string, vi: string, en: string) => void,
): bigint {
  const inElement = num("TToan/TGTKhac", facts.TGTKhac);
  const inEntry = num("TToan/TTKhac", facts.reductionAmount);
  if (inElement !== undefined && inEntry !== undefined && inElement !== inEntry) {
    const vi = `Số tiền giảm ghi hai nơi khác nhau: TGTKhac ${dong(divRound(inElement, S6))}, TTKhac ${dong(divRound(inEntry, S6))}`;
    add("REDUCTION_MISMATCH", "TToan/TGTKhac", vi, "the reduction amount differs between TGTKhac and TTKhac");
  }
  const amount = inElement ?? inEntry;
  if (amount === undefined || amount === 0n) {
    if (facts.reductionNote !== undefined) {
      const vi = "Có ghi chú giảm thuế theo NQ 204/2025 nhưng không có số tiền giảm (TGTKhac hoặc TTKhac)";
      add("REDUCTION_AMOUNT_MISSING", "TToan/TTKhac", vi, "the reduction note has no amount (TGTKhac or TTKhac)");
    }
    return 0n;
  }
  const at = inElement !== undefined ? "TToan/TGTKhac" : "TToan/TTKhac";
  if (amount < 0n || amount % S6 !== 0n) {
    add("REDUCTION_INVALID", at, "Số tiền giảm phải là số đồng nguyên dương", "the reduction must be whole đồng > 0");
    return amount;
  }
  // Σ round(revenue_g × ratio_g × cut_g) ≤ revenue × 5% (+ ½ đồng of rounding per line).
  const lines = BigInt(facts.lines.length);
  if (amount * 10_000n * 2n > before * MAX_RATIO_HUNDREDTHS * 2n + lines * S6 * 10_000n) {
    const vi = `Số tiền giảm ${dong(divRound(amount, S6))} lớn hơn toàn bộ thuế GTGT theo tỷ lệ cao nhất (5%) của ${dong(divRound(before, S6))}`;
    add("REDUCTION_TOO_LARGE", at, vi, "the reduction exceeds the whole VAT at the highest ratio (5%)");
  }
  if (facts.reductionNote === undefined) {
    const vi = "Thiếu ghi chú số tiền đã giảm theo NQ 204/2025 (TToan/TTKhac)";
    add("REDUCTION_NOTE_MISSING", "TToan/TTKhac", vi, "the NQ 204/2025 reduction note is missing");
  } else if (!noteStatesAmount(facts.reductionNote, amount / S6)) {
    const vi = `Ghi chú giảm thuế không ghi đúng số tiền đã giảm ${dong(amount / S6)}`;
    add("REDUCTION_NOTE_MISMATCH", "TToan/TTKhac", vi, "the reduction note does not state the reduction amount");
  }
  return amount;
}

/**
 * Check an invoice's arithmetic (spec §6.4): each goods line SLuong × DGia − STCKhau ≈ ThTien; per `TSuat`, the lines
 * (goods − trade discounts) add up to `LTSuat/ThTien`, line VATs (when written) to `TThue`, and `TThue` is
 * round(ThTien × r) within 1 đồng (the VAT-inclusive split may differ by that much); the groups add up to
 * `TgTCThue`/`TgTThue`, and those to `TgTTTBSo` (sales invoices: the lines do, less the NQ 204/2025 reduction when
 * the invoice shows one — its amount in `TGTKhac` or `TToan/TTKhac`, at most 5% of the lines (the whole VAT of the
 * highest activity ratio), and the note stating that amount); `TTCKTMai` is the sum of the trade discounts; and
 * `TgTTTBChu` spells `TgTTTBSo`. Fees and other deductions on a VAT invoice (`DSLPhi`, `TGTKhac`) are not supported
 * and count as a mismatch.
 */
export function checkArithmetic(facts: InvoiceFacts, opts: ArithmeticOptions = {}): Problem[] {
  const problems: Problem[] = [];
  const add = (code: string, path: string, vi: string, en: string): void => {
    problems.push(problem(code, path, vi, en));
  };
  /** A written number as 6-decimal scaled bigint, or undefined (with a problem) when it is not a number. */
  const num = (path: string, v: string | undefined): bigint | undefined => {
    if (v === undefined) return undefined;
    try {
      if (!/^-?\d+(\.\d+)?$/.test(v)) throw new RangeError(v);
      return parseDecimal(v);
    } catch {
      add("NUMBER_INVALID", path, `"${v}" không phải là số`, "not a number");
      return undefined;
    }
  };
  const show = (v: bigint): string => dong(divRound(v, S6));
  const tol = BigInt(opts.lineToleranceDong ?? 1) * S6;

  const vatForm = facts.rates.length > 0 || facts.TgTThue !== undefined || facts.TgTCThue !== undefined;
  const byRate = new Map<string, { net: bigint; vat: bigint; vatComplete: boolean }>();
  let goods = 0n;
  let discounts = 0n;

  facts.lines.forEach((l, i) => {
    const at = `DSHHDVu/HHDVu[${i + 1}]`;
    const sign = l.TChat === "1" ? 1n : l.TChat === "3" ? -1n : 0n;
    const thTien = num(`${at}/ThTien`, l.ThTien);
    if (sign === 0n) return;
    if (thTien === undefined) {
      if (l.ThTien === undefined) add("FIELD_MISSING", `${at}/ThTien`, "Thiếu ThTien", "ThTien is missing");
      return;
    }
    if (sign === 1n) goods += thTien;
    else discounts += thTien;
    const qty = num(`${at}/SLuong`, l.SLuong);
    const price = num(`${at}/DGia`, l.DGia);
    const disc = num(`${at}/STCKhau`, l.STCKhau) ?? 0n;
    if (sign === 1n && qty !== undefined && price !== undefined) {
      // In 10^-12 units: exact, no rounding of the product.
      const diff = qty * price - disc * S6 - thTien * S6;
      if (diff > tol * S6 || -diff > tol * S6) {
        add(
          "LINE_AMOUNT_MISMATCH",
          `${at}/ThTien`,
          `Dòng ${i + 1}: SLuong × DGia − STCKhau khác ThTien ${show(thTien)}`,
          `line ${i + 1}: quantity × unit price − discount differs from ThTien`,
        );
      }
    }
    if (!vatForm) return;
    if (l.TSuat === undefined) {
      add("FIELD_MISSING", `${at}/TSuat`, `Dòng ${i + 1}: thiếu TSuat`, `line ${i + 1}: TSuat is missing`);
      return;
    }
    const g = byRate.get(l.TSuat) ?? { net: 0n, vat: 0n, vatComplete: true };
    g.net += sign * thTien;
    const lineVat = num(`${at}/TTKhac`, l.TThue);
    if (lineVat === undefined) g.vatComplete = false;
    else g.vat += sign * lineVat;
    byRate.set(l.TSuat, g);
  });

  const tgTTTBSo = num("TToan/TgTTTBSo", facts.TgTTTBSo);
  const ttcktmai = num("TToan/TTCKTMai", facts.TTCKTMai);
  if (ttcktmai !== undefined && ttcktmai !== discounts) {
    add(
      "DISCOUNT_SUM_MISMATCH",
      "TToan/TTCKTMai",
      `TTCKTMai ${show(ttcktmai)} khác tổng chiết khấu thương mại ${show(discounts)}`,
      "TTCKTMai differs from the sum of the trade-discount lines",
    );
  }

  if (vatForm) {
    let sumNet = 0n;
    let sumVat = 0n;
    const seen = new Set<string>();
    facts.rates.forEach((r, i) => {
      const at = `TToan/THTTLTSuat/LTSuat[${i + 1}]`;
      seen.add(r.TSuat);
      const net = num(`${at}/ThTien`, r.ThTien);
      const vat = num(`${at}/TThue`, r.TThue) ?? 0n;
      if (net === undefined) return;
      sumNet += net;
      sumVat += vat;
      const g = byRate.get(r.TSuat);
      if (!g || g.net !== net) {
        add(
          "RATE_SUM_MISMATCH",
          `${at}/ThTien`,
          `Thuế suất ${r.TSuat}: ThTien ${show(net)} khác tổng các dòng ${show(g?.net ?? 0n)}`,
          `rate ${r.TSuat}: ThTien differs from its lines`,
        );
      }
      if (g?.vatComplete && g.vat !== vat) {
        add(
          "LINE_VAT_MISMATCH",
          `${at}/TThue`,
          `Thuế suất ${r.TSuat}: TThue ${show(vat)} khác tổng tiền thuế các dòng ${show(g.vat)}`,
          `rate ${r.TSuat}: TThue differs from the line VATs`,
        );
      }
      const h = vatRateHundredths(r.TSuat);
      if (h === undefined) {
        add("RATE_UNKNOWN", `${at}/TSuat`, `Thuế suất "${r.TSuat}" không hợp lệ`, "unknown VAT rate");
      } else if (h !== "undetermined") {
        const expected = divRound(net * BigInt(h), 10_000n);
        if (expected - vat > S6 || vat - expected > S6) {
          add(
            "RATE_VAT_MISMATCH",
            `${at}/TThue`,
            `Thuế suất ${r.TSuat}: tiền thuế ${show(vat)}, tính lại được ${show(expected)}`,
            `rate ${r.TSuat}: TThue is not ThTien × rate (±1 đồng)`,
          );
        }
      }
    });
    for (const code of byRate.keys()) {
      if (!seen.has(code)) {
        add("RATE_MISSING", "TToan/THTTLTSuat", `Thiếu tổng hợp thuế suất ${code}`, `no LTSuat for rate ${code}`);
      }
    }
    const tgTCThue = num("TToan/TgTCThue", facts.TgTCThue);
    const tgTThue = num("TToan/TgTThue", facts.TgTThue);
    if (tgTCThue !== sumNet) {
      add("TOTAL_NET_MISMATCH", "TToan/TgTCThue", "TgTCThue khác tổng các thuế suất", "TgTCThue ≠ Σ LTSuat/ThTien");
    }
    if (tgTThue !== sumVat) {
      add("TOTAL_VAT_MISMATCH", "TToan/TgTThue", "TgTThue khác tổng các thuế suất", "TgTThue ≠ Σ LTSuat/TThue");
    }
    if (tgTTTBSo !== undefined && tgTCThue !== undefined && tgTThue !== undefined && tgTTTBSo !== tgTCThue + tgTThue) {
      add(
        "TOTAL_MISMATCH",
        "TToan/TgTTTBSo",
        `TgTTTBSo ${show(tgTTTBSo)} khác TgTCThue + TgTThue = ${show(tgTCThue + tgTThue)}`,
        "TgTTTBSo ≠ TgTCThue + TgTThue",
      );
    }
  } else {
    const reduction = salesReduction(facts, goods - discounts, num, add);
    if (tgTTTBSo !== undefined && reduction === 0n && tgTTTBSo !== goods - discounts) {
      add(
        "TOTAL_MISMATCH",
        "TToan/TgTTTBSo",
        `TgTTTBSo ${show(tgTTTBSo)} khác tổng các dòng ${show(goods - discounts)}`,
        "TgTTTBSo ≠ Σ lines",
      );
    } else if (tgTTTBSo !== undefined && tgTTTBSo !== goods - discounts - reduction) {
      add(
        "TOTAL_MISMATCH",
        "TToan/TgTTTBSo",
        `TgTTTBSo ${show(tgTTTBSo)} khác tổng các dòng ${show(goods - discounts)} trừ số tiền giảm theo NQ 204/2025 ` +
          `${show(reduction)} = ${show(goods - discounts - reduction)}`,
        "TgTTTBSo ≠ Σ lines − the NQ 204/2025 reduction",
      );
    }
  }

  if (tgTTTBSo !== undefined) {
    let spelled: bigint | undefined;
    try {
      spelled = parseWords(facts.TgTTTBChu);
    } catch {
      add("WORDS_UNREADABLE", "TToan/TgTTTBChu", "Không đọc được số tiền bằng chữ", "TgTTTBChu is not an amount");
    }
    if (spelled !== undefined && spelled * S6 !== tgTTTBSo) {
      add(
        "WORDS_MISMATCH",
        "TToan/TgTTTBChu",
        `Số tiền bằng chữ là ${dong(spelled)}, bằng số ${show(tgTTTBSo)}`,
        "TgTTTBChu does not spell TgTTTBSo",
      );
    }
  }
  return problems;
}
