/**
 * Receipt templates (README "Templates"): per shop layout, regular expressions with named groups that find the item
 * lines, the total, the receipt number, the time and the payments in a receipt's text. The extracted lines must add
 * up to the printed total; when they do not, the receipt is a problem for a person to look at, never a guess.
 */
import { z } from "zod";
import type { ReceiptInput } from "../../src/driver-api/index.js";
import { stripDiacritics } from "./codepages.js";
import { formatDong, lineAmount, parseDong, parseQuantity } from "./numbers.js";

/** Flags every template regex gets: `m` (^ and $ at line ends) and `u`. */
const BASE_FLAGS = "mu";

const namedGroups = (source: string): Set<string> =>
  new Set([...source.matchAll(/\(\?<([A-Za-z][A-Za-z0-9]*)>/g)].map((m) => m[1]!));

/** A regular expression from config: it must compile and have the named groups listed. */
const pattern = (groups: readonly string[] = []) =>
  z
    .string()
    .min(1)
    .max(4_000)
    .superRefine((source, ctx) => {
      try {
        new RegExp(source, BASE_FLAGS);
      } catch (error) {
        ctx.addIssue({
          code: "custom",
          message: `Biểu thức chính quy sai / invalid regular expression: ${(error as Error).message}`,
        });
        return;
      }
      const have = namedGroups(source);
      for (const g of groups) {
        if (!have.has(g))
          ctx.addIssue({ code: "custom", message: `thiếu nhóm (?<${g}>…) / needs a named group (?<${g}>…)` });
      }
    });

const PaymentMethod = z.enum(["cash", "card", "transfer", "ewallet", "other"]);

/** One shop layout. */
export const ReceiptTemplate = z.object({
  /** A name for logs and problem messages. */
  id: z.string().regex(/^[A-Za-z0-9_-]{1,40}$/),
  /** The template applies only to texts this matches (the shop name, a header line). Default: any text. */
  match: pattern().optional().describe("Only texts this matches use the template (a header line)."),
  items: z
    .object({
      /** Items are searched after the first match of `start` … */
      start: pattern().optional(),
      /** … and before the first match of `end` after it. */
      end: pattern().optional(),
      /** One item (may span lines): groups name, amount; optional qty, unitPrice, discount, unit, vat, code. */
      line: pattern(["name", "amount"]),
    })
    .describe("Where the item lines are and what one looks like."),
  /** The printed total: group amount. */
  total: pattern(["amount"]),
  /** The receipt number: group number. */
  number: pattern(["number"]).optional(),
  /** Date and time: groups day, month, year; optional hour, minute, second. */
  datetime: pattern(["day", "month", "year"]).optional(),
  /** Each payment line: group amount, optional method (mapped with `paymentMethods`). */
  payment: pattern(["amount"]).optional(),
  /** Change given back (cash tendered − total): group amount; taken off the cash payment. */
  change: pattern(["amount"]).optional(),
  /** Each receipt-level discount line: group amount, optional name. */
  discount: pattern(["amount"]).optional(),
  /** Buyer fields, each with group value. */
  buyer: z
    .object({
      name: pattern(["value"]).optional(),
      taxCode: pattern(["value"]).optional(),
      address: pattern(["value"]).optional(),
      personName: pattern(["value"]).optional(),
      citizenId: pattern(["value"]).optional(),
    })
    .prefault({}),
  /** Payment words → methods, checked before the built-in Vietnamese words ("Tiền mặt", "Thẻ", "CK", "Momo" …). */
  paymentMethods: z.record(z.string(), PaymentMethod).prefault({}),
  /** The decimal separator of quantities (Vietnamese: comma). */
  decimalSeparator: z.enum([",", "."]).default(","),
  /** Compare letters case-insensitively. */
  ignoreCase: z.boolean().default(false),
  /** `number`: the printed number is the receipt id; `date-number`: date + number (numbers restart each day). */
  receiptId: z.enum(["number", "date-number"]).default("number"),
  pricesIncludeVat: z.boolean().default(true),
  /** How far a line may be from quantity × unit price − discount (the write path allows 1 đồng). */
  lineToleranceDong: z.number().int().min(0).max(1_000).default(1),
  /** How far the lines − discounts may be from the printed total. */
  toleranceDong: z.number().int().min(0).max(100_000).default(0),
});
export type ReceiptTemplate = z.infer<typeof ReceiptTemplate>;

const SEP = "^-{10,}$";

/**
 * Built-in templates. `hoadon-sim` is the layout `hoadon simulate register --protocol escpos` prints (and a worked
 * example for writing one); `vn-basic` reads the common one-line layout "name  qty x price  amount" with a
 * "Tổng cộng" / "Thanh toán" total.
 */
export const BUILTIN_TEMPLATES: Readonly<Record<"hoadon-sim" | "vn-basic", z.input<typeof ReceiptTemplate>>> = {
  "hoadon-sim": {
    id: "hoadon-sim",
    match: "^PHIẾU TÍNH TIỀN$",
    items: {
      start: SEP,
      end: SEP,
      line:
        "^(?<name>\\S[^\\n]*)\\n {2}(?<qty>\\d+(?:,\\d+)?)(?: (?<unit>[^\\d\\s][^\\n]*?))? x (?<unitPrice>[\\d.]+)" +
        "(?: \\((?<vat>[^)\\n]+)\\))? +(?<amount>[\\d.]+)(?:\\n {2}Giảm giá +-(?<discount>[\\d.]+))?$",
    },
    total: "^TỔNG CỘNG: +(?<amount>[\\d.]+)$",
    number: "^Số: (?<number>\\S+)$",
    datetime:
      "^Ngày: (?<day>\\d{2})/(?<month>\\d{2})/(?<year>\\d{4}) (?<hour>\\d{2}):(?<minute>\\d{2}):(?<second>\\d{2})$",
    payment: "^(?<method>Tiền mặt|Thẻ|Chuyển khoản|Ví điện tử|Khác): +(?<amount>[\\d.]+)$",
    discount: "^(?<name>Chiết khấu[^:\\n]*): +-(?<amount>[\\d.]+)$",
    buyer: {
      name: "^Đơn vị: (?<value>.+)$",
      taxCode: "^MST người mua: (?<value>[\\d-]+)$",
      address: "^Địa chỉ: (?<value>.+)$",
      personName: "^Người mua: (?<value>.+)$",
      citizenId: "^CCCD: (?<value>\\d{12})$",
    },
  },
  "vn-basic": {
    id: "vn-basic",
    items: {
      line:
        "^(?<name>\\S.*?)\\s+(?<qty>\\d+(?:[.,]\\d+)?)\\s*[xX×*]\\s*(?<unitPrice>\\d{1,3}(?:[.,]\\d{3})+|\\d+)\\s+" +
        "(?<amount>\\d{1,3}(?:[.,]\\d{3})+|\\d+)\\s*(?:đ|₫|VNĐ|VND)?$",
    },
    total:
      "^\\s*(?:TỔNG CỘNG|Tổng cộng|TỔNG TIỀN|Tổng tiền|THANH TOÁN|Thanh toán|TỔNG|Tổng)\\s*(?:\\(VNĐ\\))?\\s*:?\\s*" +
      "(?<amount>\\d{1,3}(?:[.,]\\d{3})+|\\d+)\\s*(?:đ|₫|VNĐ|VND)?\\s*$",
    number:
      "(?:^|\\s)(?:Số HĐ|Số hóa đơn|Số phiếu|Số CT|Số|HĐ số|HD|No\\.?)\\s*:\\s*(?<number>[A-Za-z0-9][A-Za-z0-9/_.-]*)",
    datetime:
      "(?<day>\\d{1,2})[/-](?<month>\\d{1,2})[/-](?<year>\\d{4}|\\d{2})(?:\\s+(?<hour>\\d{1,2}):(?<minute>\\d{2})(?::(?<second>\\d{2}))?)?",
    payment:
      "^\\s*(?<method>Tiền mặt|TIỀN MẶT|Thẻ|THẺ|Chuyển khoản|CHUYỂN KHOẢN|CK|Momo|MoMo|ZaloPay|VNPay|Ví điện tử)\\s*:?\\s*" +
      "(?<amount>\\d{1,3}(?:[.,]\\d{3})+|\\d+)\\s*(?:đ|₫|VNĐ|VND)?\\s*$",
    change:
      "^\\s*(?:Tiền thối|Tiền thừa|Trả lại|Tiền trả lại)\\s*:?\\s*(?<amount>\\d{1,3}(?:[.,]\\d{3})+|\\d+)\\s*(?:đ|₫|VNĐ|VND)?\\s*$",
    discount:
      "^\\s*(?<name>Chiết khấu|Giảm giá|CHIẾT KHẤU|GIẢM GIÁ)\\s*:?\\s*-?(?<amount>\\d{1,3}(?:[.,]\\d{3})+|\\d+)\\s*(?:đ|₫|VNĐ|VND)?\\s*$",
  },
};
export type BuiltinTemplateName = keyof typeof BUILTIN_TEMPLATES;

/** A template with its regular expressions compiled. */
export interface CompiledTemplate {
  readonly template: ReceiptTemplate;
  readonly match?: RegExp;
  readonly itemsStart?: RegExp;
  readonly itemsEnd?: RegExp;
  readonly item: RegExp;
  readonly total: RegExp;
  readonly number?: RegExp;
  readonly datetime?: RegExp;
  readonly payment?: RegExp;
  readonly change?: RegExp;
  readonly discount?: RegExp;
  readonly buyer: readonly (readonly [keyof NonNullable<ReceiptInput["buyer"]>, RegExp])[];
}

/** Compile a validated template. */
export function compileTemplate(template: ReceiptTemplate): CompiledTemplate {
  const flags = BASE_FLAGS + (template.ignoreCase ? "i" : "");
  const re = (source: string | undefined, global = false): RegExp | undefined =>
    source === undefined ? undefined : new RegExp(source, global ? `${flags}g` : flags);
  const buyer: [keyof NonNullable<ReceiptInput["buyer"]>, RegExp][] = [];
  for (const key of ["name", "taxCode", "address", "personName", "citizenId"] as const) {
    const r = re(template.buyer[key]);
    if (r) buyer.push([key, r]);
  }
  const optional = <K extends string>(key: K, value: RegExp | undefined): { [P in K]?: RegExp } =>
    (value === undefined ? {} : { [key]: value }) as { [P in K]?: RegExp };
  return {
    template,
    ...optional("match", re(template.match)),
    ...optional("itemsStart", re(template.items.start)),
    ...optional("itemsEnd", re(template.items.end)),
    item: re(template.items.line, true)!,
    total: re(template.total)!,
    ...optional("number", re(template.number)),
    ...optional("datetime", re(template.datetime)),
    ...optional("payment", re(template.payment, true)),
    ...optional("change", re(template.change)),
    ...optional("discount", re(template.discount, true)),
    buyer,
  };
}

/** What extraction found: a receipt, a reason it is not one, or "not this template". */
export type Extraction =
  | { readonly ok: true; readonly receipt: ReceiptInput }
  | { readonly ok: false; readonly code: "NO_TEMPLATE" | "TOTAL_MISMATCH" | "FIELD_INVALID"; readonly detail: string };

/** Context from the decoder. */
export interface ExtractContext {
  /** Our clock at the first byte of the print job: the issue time when the receipt prints none. */
  readonly startedAt: number;
  /** Used as the receipt id when the receipt prints no number (a hash of the raw bytes). */
  readonly fallbackId: string;
}

const DEFAULT_METHODS: readonly (readonly [string, z.infer<typeof PaymentMethod>])[] = [
  ["chuyen khoan", "transfer"],
  ["vi dien tu", "ewallet"],
  ["tien mat", "cash"],
  ["zalopay", "ewallet"],
  ["shopeepay", "ewallet"],
  ["vnpay", "ewallet"],
  ["momo", "ewallet"],
  ["vietqr", "transfer"],
  ["cash", "cash"],
  ["card", "card"],
  ["visa", "card"],
  ["the", "card"],
  ["atm", "card"],
  ["ck", "transfer"],
  ["tm", "cash"],
  ["vi", "ewallet"],
];

const fold = (s: string): string => stripDiacritics(s).toLowerCase().replace(/\s+/g, " ").trim();

function paymentMethod(text: string | undefined, own: Readonly<Record<string, string>>): ReceiptPaymentMethod {
  if (text === undefined) return "other";
  const t = fold(text);
  const table = [
    ...Object.entries(own).map(([k, v]) => [fold(k), v] as const),
    ...DEFAULT_METHODS,
  ] as readonly (readonly [string, string])[];
  for (const [k, v] of table) if (t === k) return v as ReceiptPaymentMethod;
  for (const [k, v] of table) {
    if (new RegExp(`(^|[^a-z0-9])${k.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}($|[^a-z0-9])`).test(t))
      return v as ReceiptPaymentMethod;
  }
  return "other";
}
type ReceiptPaymentMethod = z.infer<typeof PaymentMethod>;

const VAT_CODES = new Set(["0%", "5%", "8%", "10%", "KCT", "KKKNT", "KHAC"]);
function vatRate(text: string): string {
  const t = text.trim().toUpperCase().replace(/\s+/g, "");
  if (/^\d+(\.\d+)?$/.test(t)) return `${t}%`;
  return VAT_CODES.has(t) ? t : t;
}

const pad2 = (n: number): string => String(n).padStart(2, "0");

/** Vietnam local date-time (UTC+7, no DST) of an epoch ms. */
export function vnIso(ms: number): string {
  const d = new Date(ms + 7 * 3_600_000);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())}T${pad2(d.getUTCHours())}:${pad2(
    d.getUTCMinutes(),
  )}:${pad2(d.getUTCSeconds())}+07:00`;
}

/** Receipt ids are printable ASCII without spaces (the write path's rule): keep what fits, else the fallback. */
function receiptIdFrom(text: string): string | undefined {
  const id = stripDiacritics(text.trim()).replace(/\s+/g, "");
  return /^[\x21-\x7e]{1,64}$/.test(id) ? id : undefined;
}

const invalid = (detail: string): Extraction => ({ ok: false, code: "FIELD_INVALID", detail });

/**
 * Find a receipt in `text` with one template. `NO_TEMPLATE` means the template does not apply (no header match, no
 * total, no item lines); the other codes mean it applies but the receipt cannot be trusted.
 */
export function extractReceipt(text: string, t: CompiledTemplate, ctx: ExtractContext): Extraction {
  const tid = t.template.id;
  if (t.match && !t.match.test(text))
    return { ok: false, code: "NO_TEMPLATE", detail: `Không khớp mẫu ${tid} / does not match template ${tid}` };
  const totalMatch = t.total.exec(text);
  if (!totalMatch)
    return {
      ok: false,
      code: "NO_TEMPLATE",
      detail: `Mẫu ${tid}: không thấy dòng tổng tiền / template ${tid}: no total line`,
    };
  const total = parseDong(totalMatch.groups!["amount"]!);
  if (total === undefined || total < 0)
    return invalid(`Tổng tiền "${totalMatch.groups!["amount"]}" không đọc được / cannot read the total`);

  // The item region.
  let from = 0;
  let to = text.length;
  if (t.itemsStart) {
    const s = t.itemsStart.exec(text);
    if (s) from = s.index + s[0].length;
  }
  if (t.itemsEnd) {
    const rest = text.slice(from);
    const e = t.itemsEnd.exec(rest.startsWith("\n") ? rest.slice(1) : rest);
    if (e) to = from + (rest.startsWith("\n") ? 1 : 0) + e.index;
  }
  const region = text.slice(from, to);

  const lines: NonNullable<ReceiptInput["lines"]>[number][] = [];
  const decimal = t.template.decimalSeparator;
  t.item.lastIndex = 0;
  for (const m of region.matchAll(t.item)) {
    const g = m.groups!;
    const n = lines.length + 1;
    const name = g["name"]!.trim();
    const amount = parseDong(g["amount"]!);
    if (amount === undefined || amount < 0)
      return invalid(`Dòng ${n}: thành tiền "${g["amount"]}" / line ${n}: amount`);
    const line: NonNullable<ReceiptInput["lines"]>[number] = { name };
    if (g["code"] !== undefined) line.code = g["code"].trim();
    if (g["unit"] !== undefined && g["unit"].trim() !== "") line.unit = g["unit"].trim();
    if (g["qty"] !== undefined) {
      const q = parseQuantity(g["qty"], decimal);
      if (q === undefined || /^0+(\.0+)?$/.test(q))
        return invalid(`Dòng ${n}: số lượng "${g["qty"]}" / line ${n}: quantity`);
      line.quantity = q;
    }
    if (g["unitPrice"] !== undefined) {
      const p = parseDong(g["unitPrice"]);
      if (p === undefined || p < 0) return invalid(`Dòng ${n}: đơn giá "${g["unitPrice"]}" / line ${n}: unit price`);
      line.unitPrice = p;
    }
    let discount = 0;
    if (g["discount"] !== undefined) {
      const d = parseDong(g["discount"]);
      if (d === undefined) return invalid(`Dòng ${n}: giảm giá "${g["discount"]}" / line ${n}: discount`);
      discount = Math.abs(d);
      if (discount > 0) line.discount = discount;
    }
    line.amount = amount;
    if (g["vat"] !== undefined) line.vatRate = vatRate(g["vat"]) as NonNullable<typeof line.vatRate>;
    if (line.quantity !== undefined && line.unitPrice !== undefined) {
      const expected = lineAmount(line.quantity, line.unitPrice) - discount;
      if (Math.abs(expected - amount) > t.template.lineToleranceDong)
        return {
          ok: false,
          code: "TOTAL_MISMATCH",
          detail:
            `Dòng ${n} "${name}": ${line.quantity} × ${formatDong(line.unitPrice)} − ${formatDong(discount)} = ` +
            `${formatDong(expected)}, in trên phiếu ${formatDong(amount)} / line ${n}: quantity × price − discount ≠ amount`,
        };
    }
    lines.push(line);
  }
  if (lines.length === 0)
    return {
      ok: false,
      code: "NO_TEMPLATE",
      detail: `Mẫu ${tid}: không thấy dòng hàng / template ${tid}: no item lines`,
    };

  let discounts = 0;
  if (t.discount) {
    t.discount.lastIndex = 0;
    for (const m of text.matchAll(t.discount)) {
      const d = parseDong(m.groups!["amount"]!);
      if (d === undefined) return invalid(`Chiết khấu "${m.groups!["amount"]}" / discount`);
      discounts += Math.abs(d);
      lines.push({ kind: "discount", name: m.groups!["name"]?.trim() || "Chiết khấu", amount: Math.abs(d) });
    }
  }

  const goods = lines.reduce((s, l) => s + (l.kind === "discount" ? 0 : (l.amount ?? 0)), 0);
  if (Math.abs(goods - discounts - total) > t.template.toleranceDong)
    return {
      ok: false,
      code: "TOTAL_MISMATCH",
      detail:
        `Tổng các dòng ${formatDong(goods)}${discounts ? ` − chiết khấu ${formatDong(discounts)} = ${formatDong(goods - discounts)}` : ""}` +
        `, tổng in trên phiếu ${formatDong(total)} / the lines add up to ${goods - discounts}, the printed total is ${total}`,
    };

  // Time.
  let issuedAt = vnIso(ctx.startedAt);
  let datePart = issuedAt.slice(0, 10).replaceAll("-", "");
  if (t.datetime) {
    const m = t.datetime.exec(text);
    if (m) {
      const g = m.groups!;
      let year = Number(g["year"]);
      if (g["year"]!.length === 2) year += 2000;
      const month = Number(g["month"]);
      const day = Number(g["day"]);
      const hour = Number(g["hour"] ?? 0);
      const minute = Number(g["minute"] ?? 0);
      const second = Number(g["second"] ?? 0);
      const d = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
      if (
        d.getUTCFullYear() !== year ||
        d.getUTCMonth() !== month - 1 ||
        d.getUTCDate() !== day ||
        hour > 23 ||
        minute > 59 ||
        second > 59
      )
        return invalid(`Ngày giờ "${m[0]}" không tồn tại / no such date-time`);
      issuedAt = `${year}-${pad2(month)}-${pad2(day)}T${pad2(hour)}:${pad2(minute)}:${pad2(second)}+07:00`;
      datePart = `${year}${pad2(month)}${pad2(day)}`;
    }
  }

  // Receipt id.
  let receiptId = ctx.fallbackId;
  if (t.number) {
    const m = t.number.exec(text);
    const id = m ? receiptIdFrom(m.groups!["number"]!) : undefined;
    if (id !== undefined) receiptId = t.template.receiptId === "date-number" ? `${datePart}-${id}`.slice(0, 64) : id;
  }

  // Payments: as printed, less the change; kept only when they account for the total.
  const payments: { method: ReceiptPaymentMethod; amount: number }[] = [];
  if (t.payment) {
    t.payment.lastIndex = 0;
    for (const m of text.matchAll(t.payment)) {
      const amount = parseDong(m.groups!["amount"]!);
      if (amount === undefined || amount < 0) return invalid(`Thanh toán "${m.groups!["amount"]}" / payment amount`);
      payments.push({ method: paymentMethod(m.groups!["method"], t.template.paymentMethods), amount });
    }
  }
  if (t.change && payments.length > 0) {
    const m = t.change.exec(text);
    const change = m ? parseDong(m.groups!["amount"]!) : undefined;
    if (change !== undefined && change > 0) {
      const cash = [...payments].reverse().find((p) => p.method === "cash") ?? payments[payments.length - 1]!;
      cash.amount -= change;
    }
  }
  const paid = payments.reduce((s, p) => s + p.amount, 0);
  let keptPayments = payments.filter((p) => p.amount > 0);
  if (paid !== total) {
    // Cash handed over without a printed change line: one payment, more than the total → the total was paid.
    if (payments.length === 1 && paid > total) keptPayments = [{ method: payments[0]!.method, amount: total }];
    else keptPayments = [];
  }

  const receipt: ReceiptInput = {
    receiptId,
    issuedAt,
    pricesIncludeVat: t.template.pricesIncludeVat,
    lines,
    payments: keptPayments,
    total,
  };
  const buyer: Record<string, string> = {};
  for (const [key, re] of t.buyer) {
    const m = re.exec(text);
    if (m) buyer[key] = m.groups!["value"]!.trim();
  }
  if (Object.keys(buyer).length > 0) receipt.buyer = buyer;
  return { ok: true, receipt };
}
