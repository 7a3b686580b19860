/**
 * InvoiceDraft → canonical `<DLHDon Id=…>` (spec §2.2–2.3, addendum §1). Written with the canonical writer, so the
 * returned string is already C14N 1.0 and is exactly what gets hashed and signed (signing.md §2). Element order and
 * requiredness follow spec §2.3 (2.0.1 cash-register profile) and the 2.1.0 tables (spec §2.4, addendum §1b).
 */
import { cleanText } from "../receipt/model.js";
import { el, textEl as escapedTextEl, isSafeId } from "../xml/canonical.js";
import type { DraftBuyer, DraftLine, InvoiceDraft } from "./compute.js";
import { dlhdonId, KHHDON_MTT_RE, SHDON_MAX } from "./numbering.js";
import { InvoiceInvalidError, type Problem, problem } from "./problem.js";

/** The seller as registered with the tax authority (`NBan`). */
export interface SellerInfo {
  /** `Ten`, ≤ 400. */
  readonly name: string;
  /** `MST`: 10 digits, or 10-3 for a branch. */
  readonly taxCode: string;
  /** `DChi`, ≤ 400. */
  readonly address: string;
  /** `SDThoai`, ≤ 20. */
  readonly phone?: string;
  /** `DCTDTu`, ≤ 50. */
  readonly email?: string;
  /** `MCHang` (2.1.0), ≤ 50. */
  readonly storeCode?: string;
  /** `TCHang` (2.1.0), ≤ 400. */
  readonly storeName?: string;
}

/** One `TTKhac/TTin` entry (spec §2.2: `TTruong`, `KDLieu`, `DLieu`). */
export interface ExtraField {
  readonly name: string;
  readonly type: "string" | "numeric" | "dateTime" | "date";
  readonly value: string | number;
}

/** What the invoice needs besides the sale: numbering, seller, profile. */
export interface RenderContext {
  /**
   * "2.1" (default in config, addendum §1b): `HDCTTChinh` (VAT form), `DVTTe`, `HTTToan`, `MSTTCGP` in `TTChung`.
   * "2.0.1": the QĐ 1510 cash-register profile; those facts go to `TTChung/TTKhac/TTin` [U].
   */
  readonly profile: "2.1" | "2.0.1";
  /** `PBan`, e.g. "2.1.0" (≤ 6). */
  readonly pban: string;
  /** `KHMSHDon`: must equal the draft's form. */
  readonly khmshdon: string;
  /** `KHHDon`, e.g. "C26MAB" (cash register: 4th character M, spec §3.2). */
  readonly khhdon: string;
  /** `SHDon`, 1 … 99 999 999. */
  readonly shdon: number;
  /** `NLap`, YYYY-MM-DD, Vietnam local date; its year must match `KHHDon`. */
  readonly nlap: string;
  /** `DLHDon/@Id`; default {@link dlhdonId}. Must be a safe NCName. */
  readonly id?: string;
  readonly seller: SellerInfo;
  /** `MSTTCGP`: tax code of the invoicing-solution provider. */
  readonly providerTaxCode: string;
  /**
   * `NMua` when the buyer gave no data [U] (addendum §6): "omit" leaves `NMua` out, "empty" writes
   * `<NMua></NMua>`, "name" writes `text` (default {@link ANONYMOUS_BUYER_TEXT}) into `field` (default `Ten`).
   */
  readonly anonymousBuyer: {
    readonly mode: "omit" | "empty" | "name";
    readonly text?: string;
    readonly field?: "Ten" | "HVTNMHang";
  };
  /** Seller-defined `TTin` entries, e.g. the register's time of sale and its id. */
  readonly extra?: readonly ExtraField[];
  /** Where `extra` goes: `DLHDon/TTKhac` (default, as the spec sample) or `TTChung/TTKhac`. */
  readonly extraIn?: "DLHDon" | "TTChung";
  /** `THDon` override; default "Hóa đơn giá trị gia tăng" (form 1) / "Hóa đơn bán hàng" (form 2). */
  readonly thdon?: string;
}

/** The canonical `DLHDon` and its Id (the signing anchor). */
export interface RenderedDlhdon {
  readonly id: string;
  readonly xml: string;
}

/** Characters C14N escapes in text (src/xml/canonical.ts `escText`). */
const NEEDS_ESCAPE = /[&<>\r]/;

/**
 * `textEl` of the canonical writer, with a fast path: most values (numbers, codes, plain names) need no escaping, and
 * skipping the escaping regex replace is a large part of the render time (bench/build-sign.ts). Same bytes.
 */
function textEl(name: string, value: string | number): string {
  const s = typeof value === "number" ? String(value) : value;
  return typeof value === "number" || !NEEDS_ESCAPE.test(s) ? `<${name}>${s}</${name}>` : escapedTextEl(name, s);
}

/** `optEl` with the same fast path. */
function optEl(name: string, value: string | number | undefined): string {
  return value === undefined || value === "" ? "" : textEl(name, value);
}

const THDON: Readonly<Record<string, string>> = { "1": "Hóa đơn giá trị gia tăng", "2": "Hóa đơn bán hàng" };

/**
 * Default anonymous-buyer wording [U]: of the two conventions in use (addendum §6) this is the one seen on
 * cash-register invoices in the tax portal's data and reportedly in Decree 254's appendix (spec §2.3).
 */
export const ANONYMOUS_BUYER_TEXT = "Bán cho người tiêu dùng";

/** `TTruong` of the line VAT entry, as on the real 2.1.0 cash-register invoice (addendum §1a). */
export const LINE_VAT_FIELD = "Tiền thuế";

/** The profile's `NBan`/`NMua` elements in schema order; anything else goes to that element's `TTKhac`. */
const PARTY_ELEMENTS = {
  "2.1": {
    // 2.1.0 table (spec §2.4): Ten, MST, DChi, MCHang, TCHang, SDThoai, DCTDTu …
    NBan: ["Ten", "MST", "DChi", "MCHang", "TCHang", "SDThoai", "DCTDTu"],
    // … Ten, MST, MDVQHNSach, DChi, MKHang, SDThoai, CCCDan, SHChieu, DCTDTu, HVTNMHang …
    NMua: ["Ten", "MST", "DChi", "SDThoai", "CCCDan", "DCTDTu", "HVTNMHang"],
  },
  "2.0.1": {
    // QĐ 1510 cash-register profile (spec §2.3).
    NBan: ["Ten", "MST", "DChi", "SDThoai"],
    NMua: ["Ten", "MST", "DChi", "SDThoai", "CCCDan", "HVTNMHang"],
  },
} as const;

/** Maximum lengths of the string elements we write (spec §2.3/§2.4 tables). */
const MAX: Readonly<Record<string, number>> = {
  PBan: 6,
  THDon: 100,
  HTTToan: 50,
  MSTTCGP: 14,
  Ten: 400,
  MST: 14,
  DChi: 400,
  SDThoai: 20,
  DCTDTu: 50,
  MCHang: 50,
  TCHang: 400,
  CCCDan: 12,
  HVTNMHang: 100,
  MHHDVu: 50,
  THHDVu: 500,
  DVTinh: 50,
  TSuat: 11,
  TgTTTBChu: 255,
  KHMSHDCLQuan: 11,
  KHHDCLQuan: 8,
  SHDCLQuan: 8,
  GChu: 255,
};

const TAX_CODE_RE = /^\d{10}(-\d{3})?$/;
/** `Số 21,6`: up to 15 integer digits and 6 decimals. */
const NUM_21_6_RE = /^\d{1,15}(\.\d{1,6})?$/;
/** `Số 6,4`. */
const NUM_6_4_RE = /^\d{1,2}(\.\d{1,4})?$/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

function isRealDate(s: string): boolean {
  if (!DATE_RE.test(s)) return false;
  const t = Date.parse(`${s}T00:00:00Z`);
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
}

/** Collects problems with one message style. */
class Checker {
  readonly problems: Problem[] = [];

  add(code: string, path: string, vi: string, en: string): void {
    this.problems.push(problem(code, path, vi, en));
  }

  /** A string element: required ones must be non-empty; every one within its spec length. */
  text(path: string, name: string, value: string | undefined, required = false): void {
    if (value === undefined || value === "") {
      if (required) this.add("FIELD_MISSING", path, `Thiếu ${name}`, `${name} is required`);
      return;
    }
    const max = MAX[name];
    // Lengths are in characters (UTF-16 code units here; Vietnamese NFC text has no surrogates).
    if (max !== undefined && value.length > max) {
      this.add(
        "FIELD_TOO_LONG",
        path,
        `${name} dài ${value.length} ký tự, tối đa ${max}`,
        `${name} has ${value.length} characters, at most ${max}`,
      );
    }
  }

  /**
   * Text from configuration must already be what the receipt model makes of register text (NFC, no XML-illegal
   * characters, LF only), or the signed bytes would depend on how the config file was typed (signing.md §2).
   */
  clean(path: string, value: string | undefined): void {
    if (value !== undefined && cleanText(value) !== value) {
      this.add("TEXT_NOT_CLEAN", path, "Văn bản chưa chuẩn hóa NFC hoặc có ký tự cấm", "text is not NFC-clean");
    }
  }

  /** A whole-đồng amount written as `Số 21,6`. */
  amount(path: string, name: string, value: number | undefined): void {
    if (value === undefined) return;
    if (!Number.isSafeInteger(value) || value < 0) {
      this.add("NUMBER_INVALID", path, `${name} phải là số đồng nguyên không âm`, `${name} must be whole đồng ≥ 0`);
    }
  }

  decimal(path: string, name: string, value: string | undefined, re: RegExp): void {
    if (value !== undefined && !re.test(value)) {
      this.add("NUMBER_INVALID", path, `${name} "${value}" sai định dạng số`, `${name} is not a valid number`);
    }
  }
}

/**
 * Every rule `renderDlhdon` enforces, as values: lengths of spec §2.3/§2.4, symbols and numbers (§3), dates,
 * tax codes, `TTin` data types. Empty when the invoice can be rendered.
 */
export function checkRender(draft: InvoiceDraft, ctx: RenderContext): Problem[] {
  const c = new Checker();
  const profile = PARTY_ELEMENTS[ctx.profile];
  if (!profile)
    c.add("PROFILE_UNKNOWN", "profile", `Hồ sơ "${ctx.profile}" không hỗ trợ`, "profile must be 2.1 or 2.0.1");
  c.text("TTChung/PBan", "PBan", ctx.pban, true);
  c.text("TTChung/THDon", "THDon", ctx.thdon ?? THDON[draft.form], true);
  if (ctx.khmshdon !== draft.form) {
    c.add(
      "FORM_MISMATCH",
      "TTChung/KHMSHDon",
      `KHMSHDon ${ctx.khmshdon} khác mẫu của hóa đơn (${draft.form})`,
      "KHMSHDon differs from the draft's form",
    );
  }
  if (!KHHDON_MTT_RE.test(ctx.khhdon)) {
    c.add(
      "SYMBOL_INVALID",
      "TTChung/KHHDon",
      `Ký hiệu "${ctx.khhdon}" không phải dạng C{YY}M{XX}`,
      "KHHDon must look like C26MAB (§3.2)",
    );
  }
  if (!Number.isInteger(ctx.shdon) || ctx.shdon < 1 || ctx.shdon > SHDON_MAX) {
    c.add("NUMBER_INVALID", "TTChung/SHDon", `Số hóa đơn ${ctx.shdon} ngoài 1…99999999`, "SHDon must have 1-8 digits");
  }
  if (!isRealDate(ctx.nlap)) {
    c.add("DATE_INVALID", "TTChung/NLap", `Ngày lập "${ctx.nlap}" không hợp lệ`, "NLap must be YYYY-MM-DD");
  } else if (KHHDON_MTT_RE.test(ctx.khhdon) && ctx.khhdon.slice(1, 3) !== ctx.nlap.slice(2, 4)) {
    // §3.3: the number sequence and the year digits of the symbol restart together on 1 January.
    c.add(
      "SYMBOL_YEAR_MISMATCH",
      "TTChung/KHHDon",
      `Năm trong ký hiệu ${ctx.khhdon} khác năm lập ${ctx.nlap}`,
      "the year in KHHDon differs from NLap",
    );
  }
  if (ctx.id !== undefined && !isSafeId(ctx.id)) {
    c.add("ID_INVALID", "DLHDon/@Id", `Id "${ctx.id}" không an toàn`, "Id must match [A-Za-z_][A-Za-z0-9_-]*");
  }
  c.text("TTChung/HTTToan", "HTTToan", draft.HTTToan, true);
  if (!TAX_CODE_RE.test(ctx.providerTaxCode)) {
    c.add("TAX_CODE_INVALID", "TTChung/MSTTCGP", "MST nhà cung cấp giải pháp không hợp lệ", "MSTTCGP is invalid");
  }
  const rel = draft.related;
  if (rel) {
    c.text("TTChung/TTHDLQuan/KHMSHDCLQuan", "KHMSHDCLQuan", rel.KHMSHDCLQuan, true);
    c.text("TTChung/TTHDLQuan/KHHDCLQuan", "KHHDCLQuan", rel.KHHDCLQuan, true);
    c.text("TTChung/TTHDLQuan/SHDCLQuan", "SHDCLQuan", rel.SHDCLQuan, true);
    c.text("TTChung/TTHDLQuan/GChu", "GChu", rel.GChu);
    if (!isRealDate(rel.NLHDCLQuan)) {
      c.add("DATE_INVALID", "TTChung/TTHDLQuan/NLHDCLQuan", "Ngày hóa đơn bị thay thế không hợp lệ", "bad date");
    }
  }

  const s = ctx.seller;
  for (const [k, v] of Object.entries(s)) c.clean(`NBan/${k}`, v);
  c.clean("NMua", ctx.anonymousBuyer.text);
  c.clean("TTChung/THDon", ctx.thdon);
  c.text("NBan/Ten", "Ten", s.name, true);
  c.text("NBan/DChi", "DChi", s.address, true);
  if (!TAX_CODE_RE.test(s.taxCode)) c.add("TAX_CODE_INVALID", "NBan/MST", "MST người bán không hợp lệ", "bad MST");
  c.text("NBan/SDThoai", "SDThoai", s.phone);
  c.text("NBan/DCTDTu", "DCTDTu", s.email);
  c.text("NBan/MCHang", "MCHang", s.storeCode);
  c.text("NBan/TCHang", "TCHang", s.storeName);
  for (const [k, v] of Object.entries(draft.buyer ?? {})) c.text(`NMua/${k}`, k, v);
  if (draft.buyer?.MST !== undefined && !TAX_CODE_RE.test(draft.buyer.MST) && !/^\d{12}$/.test(draft.buyer.MST)) {
    c.add("TAX_CODE_INVALID", "NMua/MST", "MST người mua không hợp lệ", "buyer MST is invalid");
  }
  if (!draft.buyer && ctx.anonymousBuyer.mode === "name") {
    const field = ctx.anonymousBuyer.field ?? "Ten";
    c.text(`NMua/${field}`, field, ctx.anonymousBuyer.text ?? ANONYMOUS_BUYER_TEXT, true);
  }

  draft.lines.forEach((l, i) => {
    const at = `DSHHDVu/HHDVu[${i + 1}]`;
    if (!Number.isInteger(l.STT) || l.STT < 1 || l.STT > 9999) {
      c.add("NUMBER_INVALID", `${at}/STT`, "STT phải có tối đa 4 chữ số", "STT has at most 4 digits");
    }
    c.text(`${at}/MHHDVu`, "MHHDVu", l.MHHDVu);
    c.text(`${at}/THHDVu`, "THHDVu", l.THHDVu, true);
    c.text(`${at}/DVTinh`, "DVTinh", l.DVTinh);
    c.decimal(`${at}/SLuong`, "SLuong", l.SLuong, NUM_21_6_RE);
    c.decimal(`${at}/DGia`, "DGia", l.DGia, NUM_21_6_RE);
    c.decimal(`${at}/TLCKhau`, "TLCKhau", l.TLCKhau, NUM_6_4_RE);
    c.amount(`${at}/STCKhau`, "STCKhau", l.STCKhau);
    c.amount(`${at}/ThTien`, "ThTien", l.ThTien);
    c.amount(`${at}/TTKhac`, LINE_VAT_FIELD, l.TThue);
    c.text(`${at}/TSuat`, "TSuat", l.TSuat);
    if (l.TChat !== 4 && l.TChat !== 2 && l.ThTien === undefined) {
      c.add("FIELD_MISSING", `${at}/ThTien`, "Thiếu ThTien", "ThTien is required");
    }
    if (draft.form === "1" && (l.TChat === 1 || l.TChat === 3) && l.TSuat === undefined) {
      c.add("FIELD_MISSING", `${at}/TSuat`, "Thiếu TSuat", "TSuat is required on a VAT invoice line");
    }
  });
  draft.rateGroups.forEach((g, i) => {
    const at = `TToan/THTTLTSuat/LTSuat[${i + 1}]`;
    c.text(`${at}/TSuat`, "TSuat", g.TSuat, true);
    c.amount(`${at}/ThTien`, "ThTien", g.ThTien);
    c.amount(`${at}/TThue`, "TThue", g.TThue);
  });
  for (const k of ["TgTCThue", "TgTThue", "TTCKTMai", "TgTTTBSo"] as const) c.amount(`TToan/${k}`, k, draft[k]);
  const red = draft.salesReduction;
  if (red) {
    if (draft.form !== "2") {
      const vi = "Chỉ hóa đơn bán hàng mới ghi số tiền giảm theo NQ 204/2025";
      c.add("REDUCTION_NOT_SALES", "TToan/TTKhac", vi, "only a sales invoice carries the NQ 204/2025 reduction");
    }
    c.amount("TToan/TTKhac", "NQ 204", red.amount);
    c.text("TToan/TTKhac", "DLieu", red.note, true);
    c.clean("TToan/TTKhac", red.note);
    const { placement, noteField, amountField } = red.xml;
    if (placement !== "TTKhac" && placement !== "TGTKhac") {
      c.add("OPTION_INVALID", "TToan", `Vị trí "${placement}" không hỗ trợ`, "placement must be TTKhac or TGTKhac");
    }
    for (const f of placement === "TTKhac" ? [noteField, amountField] : [noteField]) {
      if (f === "") c.add("FIELD_MISSING", "TToan/TTKhac/TTin/TTruong", "Thiếu tên trường", "TTruong is required");
      c.clean("TToan/TTKhac/TTin/TTruong", f);
    }
    if (placement === "TTKhac" && noteField === amountField) {
      const vi = "Tên trường ghi chú và số tiền giảm trùng nhau";
      c.add("OPTION_INVALID", "TToan/TTKhac", vi, "the note and the amount need different TTruong names");
    }
  }
  if (draft.form === "1" && (draft.TgTCThue === undefined || draft.TgTThue === undefined)) {
    c.add("FIELD_MISSING", "TToan/TgTCThue", "Thiếu tổng tiền chưa thuế/tiền thuế", "VAT totals are required");
  }
  c.text("TToan/TgTTTBChu", "TgTTTBChu", draft.TgTTTBChu, true);

  (ctx.extra ?? []).forEach((x, i) => {
    const at = `TTKhac/TTin[${i + 1}]`;
    const v = String(x.value);
    if (x.name === "") c.add("FIELD_MISSING", `${at}/TTruong`, "Thiếu tên trường", "TTruong is required");
    c.clean(`${at}/TTruong`, x.name);
    c.clean(`${at}/DLieu`, v);
    const ok =
      x.type === "string"
        ? true
        : x.type === "numeric"
          ? /^-?\d+(\.\d+)?$/.test(v)
          : x.type === "date"
            ? isRealDate(v)
            : x.type === "dateTime"
              ? DATETIME_RE.test(v) && isRealDate(v.slice(0, 10))
              : false;
    if (!ok) c.add("EXTRA_INVALID", `${at}/DLieu`, `"${x.name}" không đúng kiểu ${x.type}`, `not a valid ${x.type}`);
  });
  return c.problems;
}

/** One `TTin`. */
function ttin(name: string, type: ExtraField["type"], value: string | number): string {
  return el("TTin", textEl("TTruong", name) + textEl("KDLieu", type) + textEl("DLieu", value));
}

/** `TTKhac` around entries, or nothing when there are none. */
function ttkhac(entries: string): string {
  return entries === "" ? "" : el("TTKhac", entries);
}

/** A party's elements in the profile's order; values with no element in the profile go to its `TTKhac`. */
function party(
  tag: "NBan" | "NMua",
  order: readonly string[],
  values: Readonly<Record<string, string | undefined>>,
): string {
  let children = "";
  let extra = "";
  for (const name of order) children += optEl(name, values[name]);
  for (const [name, value] of Object.entries(values)) {
    if (value !== undefined && value !== "" && !order.includes(name)) extra += ttin(name, "string", value);
  }
  return el(tag, children + ttkhac(extra));
}

function renderLine(l: DraftLine): string {
  return el(
    "HHDVu",
    textEl("TChat", l.TChat) +
      textEl("STT", l.STT) +
      optEl("MHHDVu", l.MHHDVu) +
      textEl("THHDVu", l.THHDVu) +
      optEl("DVTinh", l.DVTinh) +
      optEl("SLuong", l.SLuong) +
      optEl("DGia", l.DGia) +
      optEl("TLCKhau", l.TLCKhau) +
      optEl("STCKhau", l.STCKhau) +
      optEl("ThTien", l.ThTien) +
      optEl("TSuat", l.TSuat) +
      // Addendum §1a: the line VAT of a real 2.1.0 cash-register invoice is in the line's TTKhac.
      ttkhac(l.TThue === undefined ? "" : ttin(LINE_VAT_FIELD, "numeric", l.TThue)),
  );
}

function renderBuyer(buyer: DraftBuyer | undefined, ctx: RenderContext, order: readonly string[]): string {
  if (buyer) return party("NMua", order, buyer as Record<string, string | undefined>);
  const anon = ctx.anonymousBuyer;
  switch (anon.mode) {
    case "omit":
      return "";
    case "empty":
      return el("NMua", "");
    case "name":
      return party("NMua", order, { [anon.field ?? "Ten"]: anon.text ?? ANONYMOUS_BUYER_TEXT });
    default: {
      const never: never = anon.mode;
      throw new TypeError(`unknown anonymousBuyer mode ${String(never)}`);
    }
  }
}

/**
 * Render the canonical `DLHDon` of an invoice. Pure: the same draft and context give the same bytes.
 *
 * @throws InvoiceInvalidError (code `INVOICE_INVALID`) with every problem {@link checkRender} finds.
 */
export function renderDlhdon(draft: InvoiceDraft, ctx: RenderContext): RenderedDlhdon {
  const problems = checkRender(draft, ctx);
  if (problems.length > 0) throw new InvoiceInvalidError(problems);
  const id = ctx.id ?? dlhdonId(ctx.khmshdon, ctx.khhdon, ctx.shdon);
  const vatForm = draft.form === "1";
  const order = PARTY_ELEMENTS[ctx.profile];

  // 2.1.x: these are TTChung elements (addendum §1b); 2.0.1: the QĐ 1510 profile has no such elements, so they go
  // to TTChung/TTKhac as named entries (WeTax, addendum §1b).
  const facts: ExtraField[] = [
    ...(vatForm ? [{ name: "HDCTTChinh", type: "numeric", value: "0" } as const] : []),
    { name: "DVTTe", type: "string", value: "VND" },
    { name: "HTTToan", type: "string", value: draft.HTTToan },
    { name: "MSTTCGP", type: "string", value: ctx.providerTaxCode },
  ];
  const extras = (ctx.extra ?? []).map((x) => ttin(x.name, x.type, x.value)).join("");
  const extrasInTTChung = ctx.extraIn === "TTChung";

  const rel = draft.related;
  const tthdlquan = rel
    ? el(
        "TTHDLQuan",
        textEl("TCHDon", rel.TCHDon) +
          textEl("LHDCLQuan", rel.LHDCLQuan) +
          textEl("KHMSHDCLQuan", rel.KHMSHDCLQuan) +
          textEl("KHHDCLQuan", rel.KHHDCLQuan) +
          textEl("SHDCLQuan", rel.SHDCLQuan) +
          textEl("NLHDCLQuan", rel.NLHDCLQuan) +
          optEl("GChu", rel.GChu),
      )
    : "";

  let ttchung =
    textEl("PBan", ctx.pban) +
    textEl("THDon", ctx.thdon ?? (THDON[draft.form] as string)) +
    textEl("KHMSHDon", ctx.khmshdon) +
    textEl("KHHDon", ctx.khhdon) +
    textEl("SHDon", ctx.shdon) +
    textEl("NLap", ctx.nlap);
  let ttchungKhac = "";
  if (ctx.profile === "2.1") {
    ttchung += facts.map((f) => textEl(f.name, f.value)).join("");
  } else {
    ttchungKhac += facts.map((f) => ttin(f.name, f.type, f.value)).join("");
  }
  if (extrasInTTChung) ttchungKhac += extras;
  ttchung += tthdlquan + ttkhac(ttchungKhac);

  const s = ctx.seller;
  const nban = party("NBan", order.NBan, {
    Ten: s.name,
    MST: s.taxCode,
    DChi: s.address,
    MCHang: s.storeCode,
    TCHang: s.storeName,
    SDThoai: s.phone,
    DCTDTu: s.email,
  });

  let ttoan = "";
  if (vatForm) {
    // A replacement for a full refund has no taxable line, hence no rate group: the list is left out, not empty.
    if (draft.rateGroups.length > 0) {
      ttoan += el(
        "THTTLTSuat",
        draft.rateGroups
          .map((g) => el("LTSuat", textEl("TSuat", g.TSuat) + textEl("ThTien", g.ThTien) + textEl("TThue", g.TThue)))
          .join(""),
      );
    }
    ttoan += textEl("TgTCThue", draft.TgTCThue as number) + textEl("TgTThue", draft.TgTThue as number);
  }
  // Sales invoices under NQ 204/2025 (spec §6.1): lines at their full amounts, TgTTTBSo already reduced, and the
  // reduction as a note and an amount; where the amount goes is not settled by public sources [U].
  const red = draft.salesReduction;
  ttoan +=
    optEl("TTCKTMai", draft.TTCKTMai) +
    (red?.xml.placement === "TGTKhac" ? textEl("TGTKhac", red.amount) : "") +
    textEl("TgTTTBSo", draft.TgTTTBSo) +
    textEl("TgTTTBChu", draft.TgTTTBChu);
  if (red) {
    ttoan += ttkhac(
      ttin(red.xml.noteField, "string", red.note) +
        (red.xml.placement === "TTKhac" ? ttin(red.xml.amountField, "numeric", red.amount) : ""),
    );
  }

  const ndhdon =
    nban +
    renderBuyer(draft.buyer, ctx, order.NMua) +
    el("DSHHDVu", draft.lines.map(renderLine).join("")) +
    el("TToan", ttoan);

  const xml = el("DLHDon", el("TTChung", ttchung) + el("NDHDon", ndhdon) + (extrasInTTChung ? "" : ttkhac(extras)), {
    Id: id,
  });
  return { id, xml };
}
