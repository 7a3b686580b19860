/**
 * The fiscal printer as a state machine (README.md "Commands"): one command in, an answer or an error out, plus
 * what happened to the receipt. The device role answers the POS with it; the tap role runs it as a shadow of the
 * real printer, fed only with commands the printer accepted. Pure: time comes in as `nowMs`.
 */
import { concatBytes } from "../../src/driver-api/index.js";
import type { Framing } from "./frame.js";
import {
  compactDateTime,
  datecsDateTime,
  decodeText,
  divRound,
  formatDong,
  isQuantity,
  lineGross,
  parseDatecsDateTime,
  parseDong,
  parsePercent,
  type TextEncoding,
  vnIso,
} from "./text.js";

/** Tax group letters A–H (X framing writes them as digits 1–8). */
export const TAX_LETTERS = ["A", "B", "C", "D", "E", "F", "G", "H"] as const;
/** One tax group letter. */
export type TaxLetter = (typeof TAX_LETTERS)[number];

/** `TSuat` codes a tax group may stand for (src/receipt/model.ts `VatRate`). */
export type VatRateCode = string;

/** Payment methods of the vendor-neutral receipt. */
export type PaymentMethod = "cash" | "card" | "transfer" | "ewallet" | "other";

/** Command codes (hex as in the vendor PDFs). */
export const CMD = {
  SERVICE_OPEN: 0x26,
  SERVICE_CLOSE: 0x27,
  SERVICE_TEXT: 0x2a,
  /** Storno (refund) receipt, old framing; X framing uses 2Bh. */
  STORNO_OLD: 0x2e,
  STORNO_X: 0x2b,
  OPEN: 0x30,
  SALE: 0x31,
  SUBTOTAL: 0x33,
  SALE_DISPLAY: 0x34,
  /** Sale of a programmed article (PLU): number and quantity, the rest from the PLU table. */
  PLU_SALE: 0x3a,
  PAYMENT: 0x35,
  TEXT: 0x36,
  CLOSE: 0x38,
  BUYER: 0x39,
  CANCEL: 0x3c,
  SET_TIME: 0x3d,
  GET_TIME: 0x3e,
  DAY_REPORT: 0x45,
  STATUS: 0x4a,
  RECEIPT_STATUS: 0x4c,
  DIAGNOSTICS: 0x5a,
  TAX_ID: 0x63,
  LAST_DOCUMENT: 0x71,
} as const;

/** Storno command code for a framing. */
export const stornoCmd = (framing: Framing): number => (framing === "old" ? CMD.STORNO_OLD : CMD.STORNO_X);

/** Commands a virtual printer can accept without doing anything (display, paper, drawer, beep …). */
const HARMLESS: Readonly<Record<Framing, ReadonlySet<number>>> = {
  old: new Set([0x21, 0x23, 0x2c, 0x2d, 0x2f, 0x3f, 0x47, 0x50, 0x5c, 0x64, 0x6a]),
  x: new Set([0x21, 0x23, 0x2c, 0x2d, 0x2e, 0x2f, 0x3f, 0x47, 0x50, 0x5c, 0x6a]),
};

/** What the printer says about itself (command 5Ah) and the seller tax code (63h). */
export interface DeviceIdentity {
  readonly model: string;
  readonly serial: string;
  readonly fiscalMemory: string;
  /** e.g. `1.00VN`. */
  readonly firmware: string;
  /** `DDMmmYY HHMM`, e.g. `20Nov26 1000`. */
  readonly firmwareDate: string;
  /** The seller's tax code (MST) reported by 63h. */
  readonly taxId: string;
}

/** A programmed article (PLU): what a 3Ah sale of its number means. */
export interface PluArticle {
  readonly name: string;
  /** Gross unit price, whole đồng. */
  readonly price: bigint;
  readonly letter: TaxLetter;
  readonly unit?: string;
}

/** Everything the engine needs from the driver options. */
export interface EngineConfig {
  readonly framing: Framing;
  readonly encoding: TextEncoding;
  /** Tax group → `TSuat` code; `null` for a group that is not set up (a sale in it is refused). */
  readonly taxGroups: Readonly<Record<TaxLetter, VatRateCode | null>>;
  /** Department number → tax group, for sales by department. */
  readonly departments: Readonly<Record<string, TaxLetter>>;
  /** PaidMode character → payment method (old framing: letters, X framing: digits). */
  readonly paymentModes: Readonly<Record<string, PaymentMethod>>;
  readonly device: DeviceIdentity;
  /** Programmed articles (PLU number without leading zeros → article), for 3Ah sales. */
  readonly plu: ReadonlyMap<string, PluArticle>;
  /**
   * `refund`: a storno receipt naming its original sale becomes a `refund` receipt (`replaces.receiptId`);
   * `quarantine`: take the storno receipt and report it for a person; `refuse`: answer 1.1 to the storno open.
   */
  readonly storno: "refund" | "quarantine" | "refuse";
}

/** Why a command was not executed; each maps to status bits and an X error code. */
export type CommandError = "syntax" | "unknown" | "not-allowed" | "general";

/** Status bits to set: [byte, bit]. */
const ERROR_BITS: Readonly<Record<CommandError, readonly (readonly [number, number])[]>> = {
  syntax: [
    [0, 0],
    [0, 5],
  ],
  unknown: [
    [0, 1],
    [0, 5],
  ],
  "not-allowed": [
    [1, 1],
    [0, 5],
  ],
  general: [[0, 5]],
};

/** X framing error codes. The X PDF (v2.02) does not list them; these are hoadon's, documented in README.md. */
export const X_ERROR_CODES: Readonly<Record<CommandError, string>> = {
  syntax: "-100001",
  unknown: "-100002",
  "not-allowed": "-100003",
  general: "-100005",
};

/** A receipt line as assembled (money in đồng). */
interface Line {
  readonly name: string;
  readonly letter: TaxLetter;
  readonly unitPrice: bigint;
  readonly quantity?: string;
  readonly unit?: string;
  readonly discount: bigint;
  readonly amount: bigint;
}

interface Buyer {
  name?: string;
  taxCode?: string;
  address?: string;
  personName?: string;
  citizenId?: string;
}

/** The original document a storno receipt reverses. */
interface StornoRef {
  readonly reason: string;
  readonly docNo: string;
  readonly unp?: string;
  readonly dateTime?: string;
  readonly fiscalMemory?: string;
  readonly note?: string;
}

interface OpenReceipt {
  readonly kind: "sale" | "storno";
  readonly invoice: boolean;
  readonly unp?: string;
  readonly storno?: StornoRef;
  readonly lines: Line[];
  /** Trade discounts from subtotal commands, per tax group. */
  readonly discounts: Map<TaxLetter, bigint>;
  readonly payments: { method: PaymentMethod; amount: bigint }[];
  /** Σ applied payments. */
  applied: bigint;
  /** A payment (35h) was executed: no more sales or subtotal discounts. */
  paying: boolean;
  buyer?: Buyer;
  readonly raw: Uint8Array[];
  /** Stream offset of the open frame, when the caller gave one. */
  readonly start?: number;
  readonly allReceipt: number;
  readonly fiscReceipt: number;
  readonly docNo: number;
  /** Printer time of the first close attempt; kept when a failed commit reopens the receipt. */
  closedAt?: number;
}

/** Where a receipt's frames lie in the stream: its first frame's first byte to its last frame's end. */
export interface StreamSpan {
  readonly start: number;
  readonly end: number;
}

/** A closed sale or storno receipt: the vendor-neutral object (ReceiptInput shape) and the bytes it came from. */
export interface ClosedReceipt {
  readonly receipt: Record<string, unknown>;
  readonly raw: Uint8Array;
  /**
   * From the open to the close in the stream, when the caller gave frame offsets ({@link ExecHints.at}). Other
   * frames may lie between (status queries, resends): `raw` holds only the receipt's own.
   */
  readonly span?: StreamSpan;
  /** Pass to {@link Engine.reopen} when the commit failed. */
  readonly token: object;
}

/** A notice for the audit trail (cancelled receipt, storno, day close): a problem event in the driver. */
export interface Notice {
  readonly code: "RECEIPT_CANCELLED" | "STORNO_UNSUPPORTED" | "DAY_CLOSE";
  readonly detail: string;
  readonly raw: Uint8Array;
  /** As {@link ClosedReceipt.span}, for a receipt's notice. */
  readonly span?: StreamSpan;
}

/** What one command did. */
export type ExecResult =
  | {
      readonly ok: true;
      /** Answer DATA (before escaping). */
      readonly answer: Uint8Array;
      readonly closed?: ClosedReceipt;
      readonly notice?: Notice;
      readonly identity?: { readonly serial: string; readonly model: string; readonly firmware: string };
    }
  | { readonly ok: false; readonly error: CommandError; readonly detail: string };

/** Optional facts from outside (tap role: what the real printer answered). */
export interface ExecHints {
  /** The printer's receipt number from its close answer, for receipt ids when the POS sent no UNP. */
  readonly slip?: string;
  /** Where `raw` starts in the stream the caller reads (its first byte's offset), to give receipts a span. */
  readonly at?: number;
}

/** A fiscal printer. */
export interface Engine {
  /** Run one command from the host. `raw` is its frame, kept with the receipt. */
  execute(cmd: number, data: Uint8Array, nowMs: number, raw: Uint8Array, hints?: ExecHints): ExecResult;
  /** Status bytes now, with the bits of `error` set. */
  status(error?: CommandError): Uint8Array;
  /** Answer DATA for an error (old framing: empty; X: `ErrorCode\t`). */
  errorAnswer(error: CommandError): Uint8Array;
  /** The commit of a closed receipt failed: open it again so the POS can send 38h once more. False if too late. */
  reopen(token: object): boolean;
  /**
   * Forget an open receipt (the line closed, or the tap saw the printer move on). Returns what was open, `empty` when
   * nothing had been sold or paid on it yet; `undefined` when no receipt was open.
   */
  abandon(): { readonly detail: string; readonly raw: Uint8Array; readonly empty: boolean } | undefined;
  /** Set the printer clock from a time the real printer reported (tap role). */
  syncClock(printerMs: number, nowMs: number): void;
}

const enc = new TextEncoder();
const ascii = (s: string): Uint8Array => enc.encode(s);
const pad = (n: number, width: number): string => String(n).padStart(width, "0");
const money = (v: bigint): string => formatDong(v);
const signed = (v: bigint): string => (v < 0n ? `-${money(-v)}` : `+${money(v)}`);
const vnd = (v: bigint): string => `${v.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ".")} đ`;

const CYRILLIC_TAX: Readonly<Record<string, TaxLetter>> = {
  А: "A",
  Б: "B",
  В: "C",
  Г: "D",
  Д: "E",
  Е: "F",
  Ж: "G",
  З: "H",
};

const isLetter = (s: string): s is TaxLetter => (TAX_LETTERS as readonly string[]).includes(s);

/** The receipt id rule for POS-supplied unique sale numbers (UNP): printable ASCII, no spaces, ≤ 64. */
const RECEIPT_ID = /^[\x21-\x7e]{1,64}$/;

/** Increment the trailing digits of a UNP, keeping their width (`DT000600-OP01-0001000` → `…-0001001`). */
function nextUnp(unp: string): string | undefined {
  const m = /^(.*?)(\d+)$/.exec(unp);
  if (!m) return undefined;
  const n = (BigInt(m[2]!) + 1n).toString().padStart(m[2]!.length, "0");
  return m[1]! + n;
}

type Err = { ok: false; error: CommandError; detail: string };
const err = (error: CommandError, vi: string, en: string): Err => ({ ok: false, error, detail: `${vi} / ${en}` });

/** Create a fiscal printer. */
export function createEngine(config: EngineConfig): Engine {
  const { framing } = config;
  const x = framing === "x";
  let receipt: OpenReceipt | undefined;
  let serviceOpen = false;
  let clockOffsetMs = 0;
  let allReceipt = 0;
  let fiscReceipt = 0;
  let docNo = 0;
  let zNumber = 0;
  let lastUnp: string | undefined;
  let lastAmount = 0n;
  let lastPaid = 0n;
  let lastItems = 0;
  /** Sales and storno totals per tax group since the last Z report. */
  const day = { sales: new Map<TaxLetter, bigint>(), storno: new Map<TaxLetter, bigint>() };
  /** The last closed receipt, while a failed commit could still reopen it. */
  let reopenable: { token: object; receipt: OpenReceipt } | undefined;

  const now = (nowMs: number): number => nowMs + clockOffsetMs;

  const status = (error?: CommandError): Uint8Array => {
    const s = new Uint8Array(x ? 8 : 6).fill(0x80);
    s[4] = 0x80 | 0x04 | 0x02; // 4.2 serial and FM number set, 4.1 tax number set
    s[5] = 0x80 | 0x10 | 0x08 | 0x02; // 5.4 VAT rates set, 5.3 fiscalised, 5.1 FM formatted
    if (receipt) s[2]! |= 0x08; // 2.3 fiscal receipt open
    if (receipt?.kind === "storno" && !x) s[1]! |= 0x10; // 1.4 storno receipt open (old framing)
    if (serviceOpen) s[2]! |= 0x20; // 2.5 non-fiscal receipt open
    for (const [byte, bit] of error ? ERROR_BITS[error] : []) s[byte]! |= 1 << bit;
    return s;
  };

  const errorAnswer = (error: CommandError): Uint8Array => (x ? ascii(`${X_ERROR_CODES[error]}\t`) : new Uint8Array());

  /** An X answer: `0\tf1\tf2\t…`; old: the text as given. */
  const answer = (old: string, xFields: readonly (string | number)[]): Uint8Array =>
    ascii(x ? `0\t${xFields.map((f) => `${f}\t`).join("")}` : old);

  const ok = (a: Uint8Array, extra: Partial<Extract<ExecResult, { ok: true }>> = {}): ExecResult => ({
    ok: true,
    answer: a,
    ...extra,
  });

  /** X framing parameters: TAB-terminated fields (a missing final TAB is tolerated). */
  const fields = (text: string): string[] => {
    const parts = text.split("\t");
    if (parts.length > 1 && parts[parts.length - 1] === "") parts.pop();
    return parts;
  };

  const text = (data: Uint8Array): string | undefined => decodeText(data, config.encoding);

  const totals = (
    r: OpenReceipt,
  ): { goods: bigint; discounts: bigint; total: bigint; byLetter: Map<TaxLetter, bigint> } => {
    const byLetter = new Map<TaxLetter, bigint>();
    let goods = 0n;
    for (const l of r.lines) {
      goods += l.amount;
      byLetter.set(l.letter, (byLetter.get(l.letter) ?? 0n) + l.amount);
    }
    let discounts = 0n;
    for (const [letter, d] of r.discounts) {
      discounts += d;
      byLetter.set(letter, (byLetter.get(letter) ?? 0n) - d);
    }
    return { goods, discounts, total: goods - discounts, byLetter };
  };

  const letterTotals = (byLetter: ReadonlyMap<TaxLetter, bigint>): string[] =>
    TAX_LETTERS.map((l) => money(byLetter.get(l) ?? 0n));

  const taxLetterOf = (code: string): TaxLetter | Err => {
    const letter = x
      ? /^[1-8]$/.test(code)
        ? TAX_LETTERS[Number(code) - 1]!
        : undefined
      : (CYRILLIC_TAX[code] ?? code);
    if (letter === undefined || !isLetter(letter)) {
      return err("syntax", `Mã nhóm thuế không hợp lệ "${code}"`, `invalid tax group "${code}"`);
    }
    if (config.taxGroups[letter] === null) {
      return err(
        "syntax",
        `Nhóm thuế ${letter} chưa được gán thuế suất (tùy chọn taxGroups)`,
        `tax group ${letter} has no VAT rate (option taxGroups)`,
      );
    }
    return letter;
  };

  // -------------------------------------------------------------------------------------------------------------
  // Receipt commands

  /** From the receipt's open frame to the end of `raw` (its latest frame), when both offsets are known. */
  const spanOf = (r: OpenReceipt, raw: Uint8Array, hints?: ExecHints): { span?: StreamSpan } =>
    r.start === undefined || hints?.at === undefined ? {} : { span: { start: r.start, end: hints.at + raw.length } };

  const open = (data: Uint8Array, raw: Uint8Array, kind: "sale" | "storno", at?: number): ExecResult => {
    const t = text(data);
    if (t === undefined) return err("syntax", "Văn bản không đọc được", "unreadable text");
    if (kind === "sale" && t === "" && !x) return ok(answer(pad(Number(/\d+$/.exec(lastUnp ?? "")?.[0] ?? 0), 7), []));
    if (receipt || serviceOpen) return err("not-allowed", "Đang có phiếu mở", "a receipt is already open");
    let invoice = false;
    let unp: string | undefined;
    let storno: StornoRef | undefined;
    if (kind === "storno" && config.storno === "refuse") {
      return err(
        "not-allowed",
        "Không nhận phiếu hoàn (storno): hãy xử lý hoàn tiền thủ công (tùy chọn storno)",
        "storno receipts are refused (option storno)",
      );
    }
    if (x) {
      const f = fields(t);
      if (kind === "sale") {
        // Syntax 1: OpCode, OpPwd, TillNmb, Invoice. Syntax 2: OpCode, OpPwd, NSale, TillNmb, Invoice.
        if (f.length !== 4 && f.length !== 5) return err("syntax", "Lệnh mở phiếu sai cú pháp", "bad open syntax");
        if (f.length === 5) unp = f[2];
        invoice = f[f.length - 1] === "I";
      } else {
        // OpCode, OpPwd, TillNmb, Storno, DocNum, DateTime, FMNumber, Invoice, ToInvoice, Reason, NSale
        if (f.length < 7 || !/^[0-2]$/.test(f[3]!) || !/^\d{1,7}$/.test(f[4]!)) {
          return err("syntax", "Lệnh mở phiếu hoàn sai cú pháp", "bad storno open syntax");
        }
        // NSale is the UNP of the sale being reversed (ErpNet.FP sends the original's uniqueSaleNumber there); the
        // storno itself has no UNP in X framing.
        invoice = f[7] === "I";
        storno = {
          reason: ({ "0": "E", "1": "R", "2": "T" } as const)[f[3] as "0" | "1" | "2"],
          docNo: f[4]!,
          ...(f[10] ? { unp: f[10] } : {}),
          ...(f[5] ? { dateTime: f[5] } : {}),
          ...(f[6] ? { fiscalMemory: f[6] } : {}),
          ...(f[9] ? { note: f[9] } : {}),
        };
      }
    } else {
      let body = t;
      let note: string | undefined;
      if (kind === "storno") {
        const hash = body.indexOf("#");
        if (hash >= 0) {
          note = body.slice(hash + 1);
          body = body.slice(0, hash);
        }
      }
      const f = body.split(",");
      if (f.length < 3 || !/^\d{1,2}$/.test(f[0]!) || !/^\d{1,8}$/.test(f[1]!) || !/^\d{1,5}$/.test(f[2]!)) {
        return err("syntax", "Lệnh mở phiếu sai cú pháp", "bad open syntax");
      }
      const rest = f.slice(3);
      if (kind === "sale") {
        if (rest.length > 2) return err("syntax", "Lệnh mở phiếu sai cú pháp", "bad open syntax");
        if (rest[0] === "I") {
          invoice = true;
          rest.shift();
        }
        if (rest.length > 1) return err("syntax", "Lệnh mở phiếu sai cú pháp", "bad open syntax");
        unp = rest[0];
      } else {
        // [,I<InvNum>][,UNP],<StType><DocNo>[,<StUNP>,<StDT>,<StFMIN>]
        const at = rest.findIndex((p) => /^[ERT]\d{1,7}$/.test(p));
        if (at < 0 || at > 2) return err("syntax", "Lệnh mở phiếu hoàn sai cú pháp", "bad storno open syntax");
        const before = rest.slice(0, at);
        if (before[0] !== undefined && /^I\d*$/.test(before[0])) {
          invoice = true;
          before.shift();
        }
        if (before.length > 1) return err("syntax", "Lệnh mở phiếu hoàn sai cú pháp", "bad storno open syntax");
        unp = before[0];
        const after = rest.slice(at + 1);
        if (after.length !== 0 && after.length !== 3) {
          return err("syntax", "Lệnh mở phiếu hoàn sai cú pháp", "bad storno open syntax");
        }
        storno = {
          reason: rest[at]![0]!,
          docNo: rest[at]!.slice(1),
          ...(after[0] ? { unp: after[0] } : {}),
          ...(after[1] ? { dateTime: after[1] } : {}),
          ...(after[2] ? { fiscalMemory: after[2] } : {}),
          ...(note ? { note } : {}),
        };
      }
    }
    if (unp === "" || (unp !== undefined && !RECEIPT_ID.test(unp))) unp = undefined;
    if (unp === undefined && kind === "sale" && lastUnp !== undefined) unp = nextUnp(lastUnp);
    if (unp !== undefined && kind === "sale") lastUnp = unp;
    allReceipt++;
    fiscReceipt++;
    docNo++;
    reopenable = undefined;
    receipt = {
      kind,
      invoice,
      ...(unp === undefined ? {} : { unp }),
      ...(storno === undefined ? {} : { storno }),
      lines: [],
      discounts: new Map(),
      payments: [],
      applied: 0n,
      paying: false,
      raw: [raw],
      ...(at === undefined ? {} : { start: at }),
      allReceipt,
      fiscReceipt,
      docNo,
    };
    return ok(answer(`${pad(allReceipt, 4)},${pad(fiscReceipt, 4)}`, [docNo]));
  };

  /** The parts of a sale command → a line (price, quantity and discount checked), a void, or an error. */
  const finishLine = (parts: {
    name: string;
    letter: TaxLetter;
    sign: string;
    price: string;
    quantity: string | undefined;
    unit: string | undefined;
    discountSpec: { percent: boolean; value: string } | undefined;
  }): Line | { void: Line } | Err => {
    const { letter, sign, price, quantity, unit, discountSpec } = parts;
    let { name } = parts;
    let discount = 0n;
    const unitPrice = parseDong(price);
    if (unitPrice === undefined) {
      return err("syntax", `Giá "${price}" không phải số đồng nguyên`, `price "${price}" is not whole đồng`);
    }
    if (quantity !== undefined && !isQuantity(quantity)) {
      return err("syntax", `Số lượng "${quantity}" không hợp lệ`, `invalid quantity "${quantity}"`);
    }
    const gross = quantity === undefined ? unitPrice : lineGross(quantity, unitPrice);
    if (discountSpec) {
      if (discountSpec.percent) {
        const p = parsePercent(discountSpec.value);
        if (p === undefined || p <= 0n || p > 9_900n) return err("syntax", "Phần trăm giảm sai", "bad percentage");
        discount = divRound(gross * p, 10_000n);
      } else {
        const d = parseDong(discountSpec.value);
        if (d === undefined) return err("syntax", "Số tiền giảm sai", "bad discount amount");
        discount = d;
      }
      if (discount > gross) {
        return err("syntax", "Giảm giá lớn hơn giá trị dòng", "discount larger than the line");
      }
    }
    if (name === "") name = `Hàng hóa nhóm ${letter}`;
    const line: Line = {
      name,
      letter,
      unitPrice,
      ...(quantity === undefined ? {} : { quantity }),
      ...(unit === undefined ? {} : { unit }),
      discount,
      amount: gross - discount,
    };
    return sign === "-" ? { void: line } : line;
  };

  /** Parse a sale (31h/34h) into a line, or an error. */
  const parseSale = (t: string): Line | { void: Line } | Err => {
    let name: string;
    let letter: TaxLetter;
    let sign = "";
    let price: string;
    let quantity: string | undefined;
    let unit: string | undefined;
    let discountSpec: { percent: boolean; value: string } | undefined;
    if (x) {
      const f = fields(t);
      if (f.length < 7 || f.length > 8) return err("syntax", "Lệnh bán hàng sai cú pháp", "bad sale syntax");
      name = f[0]!;
      const l = taxLetterOf(f[1]!);
      if (typeof l !== "string") return l;
      letter = l;
      const pm = /^(-?)(.+)$/.exec(f[2]!)!;
      sign = pm[1]!;
      price = pm[2]!;
      quantity = f[3] || undefined;
      const type = f[4] || "0";
      if (type === "2" || type === "4") discountSpec = { percent: type === "2", value: f[5] ?? "" };
      else if (type !== "0") {
        return err("syntax", "Không hỗ trợ phụ thu trên dòng", "surcharges on a line are not supported");
      } else if (f[5]) return err("syntax", "Có giá trị chiết khấu mà không có loại", "discount value without a type");
      unit = f[7] || undefined;
    } else {
      const tab = t.indexOf("\t");
      if (tab < 0) return err("syntax", "Lệnh bán hàng thiếu TAB", "sale without TAB");
      name = t
        .slice(0, tab)
        .split("\n")
        .map((s) => s.trim())
        .filter(Boolean)
        .join(" ");
      let rest = t.slice(tab + 1);
      const tab2 = rest.indexOf("\t");
      if (tab2 >= 0) {
        const dept = rest.slice(0, tab2);
        const mapped = config.departments[dept.replace(/^0+(?=\d)/, "")];
        if (mapped === undefined) {
          return err(
            "syntax",
            `Quầy/phòng ban ${dept} chưa gán nhóm thuế (tùy chọn departments)`,
            `department ${dept} has no tax group (option departments)`,
          );
        }
        const l = taxLetterOf(mapped);
        if (typeof l !== "string") return l;
        letter = l;
        rest = rest.slice(tab2 + 1);
      } else {
        const l = taxLetterOf(rest.slice(0, 1));
        if (typeof l !== "string") return l;
        letter = l;
        rest = rest.slice(1);
      }
      const m = /^(-?)([0-9.]+)(?:\*([0-9.]+)(?:#([^,;]{1,8}))?)?(?:([,;])([+-]?[0-9.]+))?$/.exec(rest);
      if (!m) return err("syntax", "Giá/số lượng sai cú pháp", "bad price or quantity");
      sign = m[1]!;
      price = m[2]!;
      quantity = m[3];
      unit = m[4];
      if (m[5] !== undefined) {
        const v = m[6]!;
        if (!v.startsWith("-")) {
          return err("syntax", "Không hỗ trợ phụ thu trên dòng", "surcharges on a line are not supported");
        }
        discountSpec = { percent: m[5] === ",", value: v.slice(1) };
      }
    }
    return finishLine({ name, letter, sign, price, quantity, unit, discountSpec });
  };

  /**
   * Parse a PLU sale (3Ah): old `[-]PLU[#Price][*Qty][,-Perc│;-Abs]`, X `[-]PLU␉[Qty]␉[Price]␉[DiscType]␉[DiscVal]␉`.
   * Name, tax group, unit and (unless the POS gives one) price come from the PLU table; an unknown number is refused.
   */
  const parsePlu = (t: string): Line | { void: Line } | Err => {
    let sign: string;
    let number: string;
    let price: string | undefined;
    let quantity: string | undefined;
    let discountSpec: { percent: boolean; value: string } | undefined;
    if (x) {
      const f = fields(t);
      const m = /^(-?)(\d{1,6})$/.exec(f[0] ?? "");
      if (!m || f.length > 5) return err("syntax", "Lệnh bán hàng PLU sai cú pháp", "bad PLU sale syntax");
      [sign, number] = [m[1]!, m[2]!];
      quantity = f[1] || undefined;
      price = f[2] || undefined;
      const type = f[3] || "0";
      if (type === "2" || type === "4") discountSpec = { percent: type === "2", value: f[4] ?? "" };
      else if (type !== "0")
        return err("syntax", "Không hỗ trợ phụ thu trên dòng", "surcharges on a line are not supported");
    } else {
      const m = /^(-?)(\d{1,6})(?:#([0-9.]+))?(?:\*([0-9.]+))?(?:([,;])([+-]?[0-9.]+))?$/.exec(t);
      if (!m) return err("syntax", "Lệnh bán hàng PLU sai cú pháp", "bad PLU sale syntax");
      [sign, number, price, quantity] = [m[1]!, m[2]!, m[3], m[4]];
      if (m[5] !== undefined) {
        if (!m[6]!.startsWith("-")) {
          return err("syntax", "Không hỗ trợ phụ thu trên dòng", "surcharges on a line are not supported");
        }
        discountSpec = { percent: m[5] === ",", value: m[6]!.slice(1) };
      }
    }
    const key = number.replace(/^0+(?=\d)/, "");
    const article = config.plu.get(key);
    if (article === undefined) {
      return err(
        "syntax",
        `Mã hàng PLU ${key} không có trong bảng PLU (tùy chọn plu): không lập dòng hàng đoán mò`,
        `PLU ${key} is not in the PLU table (option plu): no line is guessed`,
      );
    }
    const letter = article.letter;
    if (config.taxGroups[letter] === null) {
      const en = `tax group ${letter} of PLU ${key} has no VAT rate (option taxGroups)`;
      return err("syntax", `Nhóm thuế ${letter} của PLU ${key} chưa được gán thuế suất (tùy chọn taxGroups)`, en);
    }
    return finishLine({
      name: article.name,
      letter,
      sign,
      price: price ?? formatDong(article.price),
      quantity,
      unit: article.unit,
      discountSpec,
    });
  };

  const sale = (data: Uint8Array, raw: Uint8Array, plu = false): ExecResult => {
    const t = text(data);
    if (t === undefined) return err("syntax", "Văn bản không đọc được", "unreadable text");
    if (!receipt) return err("not-allowed", "Chưa mở phiếu", "no receipt is open");
    if (receipt.paying) return err("not-allowed", "Đã thanh toán, không bán thêm", "payment started: no more sales");
    if (receipt.lines.length >= 512) return err("not-allowed", "Quá 512 dòng", "more than 512 sales");
    const parsed = plu ? parsePlu(t) : parseSale(t);
    if ("ok" in parsed) return parsed;
    if ("void" in parsed) {
      // A correction: the same sale with a minus sign takes an earlier identical line off the receipt.
      const v = parsed.void;
      const at = receipt.lines.findLastIndex(
        (l) =>
          l.name === v.name &&
          l.letter === v.letter &&
          l.unitPrice === v.unitPrice &&
          (l.quantity ?? "1") === (v.quantity ?? "1") &&
          l.discount === v.discount,
      );
      if (at < 0) {
        return err("not-allowed", "Không có dòng trùng để hủy", "no identical earlier sale to void");
      }
      receipt.lines.splice(at, 1);
    } else {
      receipt.lines.push(parsed);
    }
    receipt.raw.push(raw);
    return ok(answer("", [receipt.docNo]));
  };

  const subtotal = (data: Uint8Array, raw: Uint8Array): ExecResult => {
    const t = text(data);
    if (t === undefined) return err("syntax", "Văn bản không đọc được", "unreadable text");
    if (!receipt) return err("not-allowed", "Chưa mở phiếu", "no receipt is open");
    let spec: { percent: boolean; value: string } | undefined;
    if (x) {
      const f = fields(t);
      if (f.length > 4) return err("syntax", "Lệnh tạm tính sai cú pháp", "bad subtotal syntax");
      const type = f[2] || "0";
      if (type === "2" || type === "4") spec = { percent: type === "2", value: f[3] ?? "" };
      else if (type !== "0") return err("syntax", "Không hỗ trợ phụ thu", "surcharges are not supported");
    } else {
      const m = /^([01]?)([01]?)(?:([,;])([+-]?[0-9.]+))?$/.exec(t);
      if (!m) return err("syntax", "Lệnh tạm tính sai cú pháp", "bad subtotal syntax");
      if (m[3] !== undefined) {
        if (!m[4]!.startsWith("-")) return err("syntax", "Không hỗ trợ phụ thu", "surcharges are not supported");
        spec = { percent: m[3] === ",", value: m[4]!.slice(1) };
      }
    }
    if (spec) {
      if (receipt.paying) return err("not-allowed", "Đã thanh toán", "payment started");
      const { byLetter, total } = totals(receipt);
      const groups = [...byLetter].filter(([, v]) => v > 0n);
      const shares = new Map<TaxLetter, bigint>();
      if (spec.percent) {
        const p = parsePercent(spec.value);
        if (p === undefined || p <= 0n || p > 9_900n) return err("syntax", "Phần trăm giảm sai", "bad percentage");
        for (const [l, v] of groups) shares.set(l, divRound(v * p, 10_000n));
      } else {
        const d = parseDong(spec.value);
        if (d === undefined || d > total) return err("syntax", "Số tiền giảm sai", "bad discount amount");
        // Proportional to each group's sum, the remainder to the largest fractions (so the shares add up to d).
        const parts = groups.map(([l, v]) => ({ l, q: (d * v) / total, r: (d * v) % total }));
        let left = d - parts.reduce((s, p) => s + p.q, 0n);
        for (const p of [...parts].sort((a, b) => (b.r > a.r ? 1 : b.r < a.r ? -1 : 0))) {
          const add = left > 0n ? 1n : 0n;
          left -= add;
          shares.set(p.l, p.q + add);
        }
      }
      for (const [l, v] of shares) if (v > 0n) receipt.discounts.set(l, (receipt.discounts.get(l) ?? 0n) + v);
      receipt.raw.push(raw);
    }
    const { byLetter, total } = totals(receipt);
    return ok(
      answer([money(total), ...letterTotals(byLetter)].join(","), [
        receipt.docNo,
        money(total),
        ...letterTotals(byLetter),
      ]),
    );
  };

  const payment = (data: Uint8Array, raw: Uint8Array): ExecResult => {
    const t = text(data);
    if (t === undefined) return err("syntax", "Văn bản không đọc được", "unreadable text");
    if (!receipt) return err("not-allowed", "Chưa mở phiếu", "no receipt is open");
    let mode: string;
    let amountText: string | undefined;
    if (x) {
      const f = fields(t);
      if (f.length < 2 || f.length > 3) return err("syntax", "Lệnh thanh toán sai cú pháp", "bad payment syntax");
      mode = f[0]!;
      amountText = f[1];
    } else {
      const tab = t.indexOf("\t");
      if (tab < 0) return err("syntax", "Lệnh thanh toán thiếu TAB", "payment without TAB");
      const m = /^([A-Za-z])?(?:\+?([0-9.]+))?$/.exec(t.slice(tab + 1));
      if (!m) return err("syntax", "Lệnh thanh toán sai cú pháp", "bad payment syntax");
      mode = m[1] ?? "P";
      amountText = m[2];
    }
    const method = config.paymentModes[mode];
    if (method === undefined) {
      return err("syntax", `Hình thức thanh toán "${mode}" không rõ`, `unknown payment mode "${mode}"`);
    }
    const { total } = totals(receipt);
    const due = total - receipt.applied;
    let tendered: bigint;
    if (amountText === undefined || amountText === "") {
      tendered = due > 0n ? due : 0n;
    } else {
      const a = parseDong(amountText);
      if (a === undefined) return err("syntax", `Số tiền "${amountText}" sai`, `bad amount "${amountText}"`);
      tendered = a;
    }
    const applied = due > 0n ? (tendered < due ? tendered : due) : 0n;
    if (applied > 0n) {
      receipt.payments.push({ method, amount: applied });
      receipt.applied += applied;
    }
    receipt.paying = true;
    receipt.raw.push(raw);
    const left = total - receipt.applied;
    const [code, amount] = left > 0n ? ["D", left] : ["R", tendered - applied];
    return ok(answer(`${code}${signed(amount)}`, [code, money(amount)]));
  };

  const buyer = (data: Uint8Array, raw: Uint8Array): ExecResult => {
    const t = text(data);
    if (t === undefined) return err("syntax", "Văn bản không đọc được", "unreadable text");
    if (!receipt) return err("not-allowed", "Chưa mở phiếu", "no receipt is open");
    let personal: boolean;
    let id: string;
    let name: string;
    let address: string;
    const f = x ? fields(t) : t.split("\t");
    if (x) {
      if (f.length < 7) return err("syntax", "Thông tin người mua sai cú pháp", "bad buyer syntax");
      personal = f[5] === "1" || f[5] === "2";
      id = f[6] ?? "";
      name = f[2] || f[1] || f[0] || "";
      address = [f[3], f[4]].filter(Boolean).join(", ");
    } else {
      if (f.length > 6) return err("syntax", "Thông tin người mua sai cú pháp", "bad buyer syntax");
      personal = f[0]!.startsWith("#");
      id = (personal ? f[0]!.slice(1) : f[0]!) || (f[4] ?? "");
      name = f[3] || f[2] || f[1] || "";
      address = (f[5] ?? "")
        .split("\n")
        .map((s) => s.trim())
        .filter(Boolean)
        .join(", ");
    }
    const b: Buyer = {};
    if (personal) {
      if (name) b.personName = name.trim();
      if (id) b.citizenId = id.trim();
    } else {
      if (name) b.name = name.trim();
      if (id) b.taxCode = id.trim();
    }
    if (address) b.address = address;
    receipt.buyer = b;
    receipt.raw.push(raw);
    return ok(answer("", []));
  };

  const freeText = (raw: Uint8Array): ExecResult => {
    if (!receipt) return err("not-allowed", "Chưa mở phiếu", "no receipt is open");
    receipt.raw.push(raw);
    return ok(answer("", []));
  };

  /**
   * The receipt id of the sale a storno reverses: its UNP (StUNP / NSale); without one, the id this printer gave a
   * sale closed without a UNP (`YYYYMMDDThhmmss-<document no.>`), rebuilt from the storno's date and document
   * number — only when the fiscal memory is ours (or not given), since only this printer numbers that way.
   */
  const originalId = (s: StornoRef): string | undefined => {
    if (s.unp !== undefined && RECEIPT_ID.test(s.unp)) return s.unp;
    if (s.fiscalMemory !== undefined && s.fiscalMemory !== config.device.fiscalMemory) return undefined;
    const at = s.dateTime === undefined ? undefined : parseDatecsDateTime(s.dateTime);
    if (at === undefined || !/^\d{1,7}$/.test(s.docNo)) return undefined;
    return `${compactDateTime(at)}-${pad(Number(s.docNo), 7)}`;
  };

  /** `GChu` of the replacement a storno makes, when the POS gave no reason text (R: the corrections default). */
  const STORNO_NOTES: Readonly<Record<string, string>> = {
    E: "Thay thế do nhập sai trên máy tính tiền (phiếu hủy storno)",
    T: "Thay thế do giảm giá sau khi bán (phiếu hủy storno)",
  };

  const receiptObject = (r: OpenReceipt, closedAt: number, hints?: ExecHints): Record<string, unknown> => {
    const fallback = `${compactDateTime(closedAt)}-${hints?.slip ?? pad(r.docNo, 7)}`;
    const lines: Record<string, unknown>[] = r.lines.map((l) => {
      const line: Record<string, unknown> = { name: l.name };
      if (l.unit !== undefined) line["unit"] = l.unit;
      if (l.quantity !== undefined) line["quantity"] = l.quantity;
      line["unitPrice"] = Number(l.unitPrice);
      if (l.discount > 0n) line["discount"] = Number(l.discount);
      line["amount"] = Number(l.amount);
      line["vatRate"] = config.taxGroups[l.letter];
      return line;
    });
    for (const letter of TAX_LETTERS) {
      const d = r.discounts.get(letter);
      if (d === undefined || d === 0n) continue;
      lines.push({
        kind: "discount",
        name: "Chiết khấu thương mại",
        amount: Number(d),
        vatRate: config.taxGroups[letter],
      });
    }
    const original = r.kind === "storno" ? originalId(r.storno!) : undefined;
    // A storno carrying its sale's UNP as its own would look like a resend of that sale (and be answered `dup`
    // without a refund): the printer numbers it then.
    const own = r.unp !== undefined && r.unp !== original ? r.unp : undefined;
    const out: Record<string, unknown> = {
      receiptId: own ?? fallback,
      issuedAt: vnIso(closedAt),
    };
    if (r.kind === "storno") {
      // A storno: the returned items and the money given back, naming the sale it reverses (README "Storno").
      const s = r.storno!;
      const note = s.note?.trim() || STORNO_NOTES[s.reason];
      out["kind"] = "refund";
      out["replaces"] = { receiptId: original, ...(note ? { note } : {}) };
    }
    Object.assign(out, {
      pricesIncludeVat: true,
      lines,
      payments: r.payments.map((p) => ({ method: p.method, amount: Number(p.amount) })),
      total: Number(totals(r).total),
    });
    if (r.buyer && Object.keys(r.buyer).length > 0) out["buyer"] = { ...r.buyer };
    return out;
  };

  const describe = (r: OpenReceipt): string => {
    const { total } = totals(r);
    return `${r.lines.length} dòng, tổng ${vnd(total)} / ${r.lines.length} lines, total ${total} VND`;
  };

  const close = (nowMs: number, raw: Uint8Array, hints?: ExecHints): ExecResult => {
    if (!receipt) return err("not-allowed", "Chưa mở phiếu", "no receipt is open");
    const { total, byLetter } = totals(receipt);
    if (!receipt.paying || receipt.applied < total) {
      return err("not-allowed", "Chưa thanh toán đủ", "the receipt is not fully paid");
    }
    const r = receipt;
    r.raw.push(raw);
    r.closedAt ??= now(nowMs);
    receipt = undefined;
    const target = r.kind === "sale" ? day.sales : day.storno;
    for (const [l, v] of byLetter) target.set(l, (target.get(l) ?? 0n) + v);
    lastAmount = total;
    lastPaid = r.applied;
    lastItems = r.lines.length;
    const a = answer(`${pad(r.allReceipt, 4)},${pad(r.fiscReceipt, 4)}`, [r.docNo]);
    const all = concatBytes(r.raw);
    const span = spanOf(r, raw, hints);
    const s = r.storno;
    const original = s && config.storno === "refund" ? originalId(s) : undefined;
    if (s && r.lines.length > 0 && original === undefined) {
      const ref = [
        `lý do ${s.reason}`,
        `chứng từ số ${s.docNo}`,
        ...(s.unp ? [`mã bán ${s.unp}`] : []),
        ...(s.dateTime ? [`ngày ${s.dateTime}`] : []),
        ...(s.fiscalMemory ? [`bộ nhớ thuế ${s.fiscalMemory}`] : []),
        ...(s.note ? [`ghi chú "${s.note}"`] : []),
      ].join(", ");
      const why =
        config.storno === "refund"
          ? "Phiếu không nêu được phiếu bán gốc (mã bán UNP, hoặc ngày và số chứng từ của máy này) nên không tìm " +
            "được hóa đơn cần thay thế: kế toán cần xử lý / the storno names no sale hoadon can find (no UNP, nor " +
            "the date and document number of a receipt of this printer): kept for a person"
          : "Chưa tự lập hóa đơn điều chỉnh/thay thế: kế toán cần xử lý / storno receipt kept for a person: no " +
            "adjustment or replacement invoice is made automatically (option storno: quarantine)";
      return ok(a, {
        notice: {
          code: "STORNO_UNSUPPORTED",
          detail:
            `Phiếu hoàn/điều chỉnh (storno) ${ref}; ${describe(r)}. ${why} ` +
            `(original document ${s.docNo}${s.unp ? `, sale ${s.unp}` : ""})`,
          raw: all,
          ...span,
        },
      });
    }
    if (r.lines.length === 0) {
      return ok(a, {
        notice: {
          code: "RECEIPT_CANCELLED",
          detail: "Phiếu không có dòng hàng nào được đóng: không lập hóa đơn / an empty receipt was closed: no invoice",
          raw: all,
          ...span,
        },
      });
    }
    const token = {};
    reopenable = { token, receipt: r };
    return ok(a, { closed: { receipt: receiptObject(r, r.closedAt, hints), raw: all, ...span, token } });
  };

  const cancel = (raw: Uint8Array, hints?: ExecHints): ExecResult => {
    if (!receipt) return err("not-allowed", "Chưa mở phiếu", "no receipt is open");
    if (receipt.paying) return err("not-allowed", "Đã thanh toán, không hủy được", "payment started: cannot cancel");
    const r = receipt;
    receipt = undefined;
    r.raw.push(raw);
    return ok(answer("", []), {
      notice: {
        code: "RECEIPT_CANCELLED",
        detail: `Phiếu bị hủy trên máy tính tiền (${describe(r)}): không lập hóa đơn / receipt cancelled at the register: no invoice`,
        raw: concatBytes(r.raw),
        ...spanOf(r, raw, hints),
      },
    });
  };

  const dayReport = (data: Uint8Array, raw: Uint8Array): ExecResult => {
    const t = text(data);
    if (t === undefined) return err("syntax", "Văn bản không đọc được", "unreadable text");
    let reset: boolean;
    if (x) {
      const f = fields(t);
      if (f.length !== 1 || !/^[XZDG]$/.test(f[0]!)) return err("syntax", "Loại báo cáo sai", "bad report type");
      if (f[0] === "D" || f[0] === "G") return ok(answer("", []));
      reset = f[0] === "Z";
    } else {
      const m = /^([02]?)(N?)$/.exec(t);
      if (!m) return err("syntax", "Loại báo cáo sai", "bad report type");
      reset = m[1] !== "2";
    }
    if (receipt || serviceOpen) return err("not-allowed", "Đang có phiếu mở", "a receipt is open");
    const n = zNumber + 1; // the report being made (an X report shows the next Z number)
    const sales = TAX_LETTERS.map((l) => day.sales.get(l) ?? 0n);
    const storno = TAX_LETTERS.map((l) => day.storno.get(l) ?? 0n);
    const total = sales.reduce((s, v) => s + v, 0n);
    const a = answer([pad(n, 4), signed(total), ...sales.map(signed)].join(","), [
      n,
      ...sales.map(money),
      ...storno.map(money),
    ]);
    if (!reset) return ok(a);
    zNumber = n;
    const receipts = fiscReceipt;
    allReceipt = 0;
    fiscReceipt = 0;
    day.sales.clear();
    day.storno.clear();
    const groups = TAX_LETTERS.map((l, i) => [l, sales[i]!] as const)
      .filter(([, v]) => v !== 0n)
      .map(([l, v]) => `${l}=${v}`)
      .join(" ");
    return ok(a, {
      notice: {
        code: "DAY_CLOSE",
        detail:
          `Báo cáo cuối ngày (Z) số ${n}: ${receipts} phiếu, doanh thu ${vnd(total)} / daily Z report no. ${n}: ` +
          `${receipts} receipts, sales ${total} VND${groups ? ` (${groups})` : ""}`,
        raw,
      },
    });
  };

  const setTime = (data: Uint8Array, nowMs: number): ExecResult => {
    const t = text(data);
    const value = t === undefined ? undefined : x ? fields(t)[0] : t;
    const ms = value === undefined ? undefined : parseDatecsDateTime(value);
    if (ms === undefined) return err("syntax", "Ngày giờ sai định dạng DD-MM-YY hh:mm:ss", "bad date and time");
    if (receipt) return err("not-allowed", "Đang có phiếu mở", "a receipt is open");
    clockOffsetMs = ms - nowMs;
    return ok(answer("", []));
  };

  const diagnostics = (data: Uint8Array): ExecResult => {
    const d = config.device;
    const [fwDate, fwTime] = d.firmwareDate.split(" ");
    const tabForm = x && data.includes(0x09);
    const a = tabForm
      ? answer("", [d.model, d.firmware, fwDate ?? "", fwTime ?? "", "FFFF", "00000000", d.serial, d.fiscalMemory])
      : ascii(`${d.model},${d.firmware} ${d.firmwareDate},FFFF,00000000,${d.serial},${d.fiscalMemory}`);
    return ok(a, { identity: { serial: d.serial, model: d.model, firmware: d.firmware } });
  };

  const receiptStatus = (): ExecResult => {
    const r = receipt;
    const open = r ? (r.kind === "sale" ? 1 : 3) : 0;
    const amount = r ? totals(r).total : lastAmount;
    const paid = r ? r.applied : lastPaid;
    const items = r ? r.lines.length : lastItems;
    return ok(
      answer(`${r ? 1 : 0},${pad(items, 4)},${signed(amount)},${signed(paid)}`, [
        open,
        r ? r.docNo : docNo,
        items,
        money(amount),
        money(paid),
      ]),
    );
  };

  return {
    execute(cmd: number, data: Uint8Array, nowMs: number, raw: Uint8Array, hints?: ExecHints): ExecResult {
      if (cmd === stornoCmd(framing)) return open(data, raw, "storno", hints?.at);
      switch (cmd) {
        case CMD.OPEN:
          return open(data, raw, "sale", hints?.at);
        case CMD.SALE:
        case CMD.SALE_DISPLAY:
          return sale(data, raw);
        case CMD.PLU_SALE:
          return sale(data, raw, true);
        case CMD.SUBTOTAL:
          return subtotal(data, raw);
        case CMD.PAYMENT:
          return payment(data, raw);
        case CMD.TEXT:
          return freeText(raw);
        case CMD.BUYER:
          return buyer(data, raw);
        case CMD.CLOSE:
          return close(nowMs, raw, hints);
        case CMD.CANCEL:
          return cancel(raw, hints);
        case CMD.SET_TIME:
          return setTime(data, nowMs);
        case CMD.GET_TIME:
          return ok(answer(datecsDateTime(now(nowMs)), [datecsDateTime(now(nowMs))]));
        case CMD.DAY_REPORT:
          return dayReport(data, raw);
        case CMD.STATUS:
          return ok(x ? concatBytes([ascii("0\t"), status(), ascii("\t")]) : status());
        case CMD.RECEIPT_STATUS:
          return receiptStatus();
        case CMD.DIAGNOSTICS:
          return diagnostics(data);
        case CMD.TAX_ID:
          return ok(answer(`${config.device.taxId},MST`, [config.device.taxId]));
        case CMD.LAST_DOCUMENT:
          return ok(answer(pad(docNo, 7), [docNo]));
        case CMD.SERVICE_OPEN:
          if (receipt || serviceOpen) return err("not-allowed", "Đang có phiếu mở", "a receipt is already open");
          serviceOpen = true;
          allReceipt++;
          docNo++;
          return ok(answer(pad(allReceipt, 4), [docNo]));
        case CMD.SERVICE_TEXT:
          if (!serviceOpen) return err("not-allowed", "Chưa mở phiếu không thuế", "no service receipt is open");
          return ok(answer("", []));
        case CMD.SERVICE_CLOSE:
          if (!serviceOpen) return err("not-allowed", "Chưa mở phiếu không thuế", "no service receipt is open");
          serviceOpen = false;
          return ok(answer(pad(allReceipt, 4), [docNo]));
        default:
          if (HARMLESS[framing].has(cmd)) return ok(answer("", []));
          return err(
            "unknown",
            `Lệnh ${cmd.toString(16).toUpperCase()}h không được hỗ trợ`,
            `command ${cmd.toString(16).toUpperCase()}h is not supported`,
          );
      }
    },
    status,
    errorAnswer,
    reopen(token: object): boolean {
      if (reopenable?.token !== token || receipt || serviceOpen) return false;
      const r = reopenable.receipt;
      reopenable = undefined;
      r.raw.pop(); // the failed close frame; the next 38h adds its own
      const { byLetter } = totals(r);
      const target = r.kind === "sale" ? day.sales : day.storno;
      for (const [l, v] of byLetter) target.set(l, (target.get(l) ?? 0n) - v);
      receipt = r;
      return true;
    },
    abandon() {
      const r = receipt;
      receipt = undefined;
      serviceOpen = false;
      if (!r) return undefined;
      return {
        empty: r.lines.length === 0 && r.payments.length === 0,
        detail: `Phiếu đang mở bị bỏ dở khi đường truyền đóng (${describe(r)}) / receipt left open when the line closed`,
        raw: concatBytes(r.raw),
      };
    },
    syncClock(printerMs: number, nowMs: number): void {
      clockOffsetMs = printerMs - nowMs;
    },
  };
}
