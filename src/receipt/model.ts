/**
 * The vendor-neutral receipt every driver produces (design.md "Receipt"). Money is integer đồng; quantities are
 * decimal strings exactly as the register printed them; text is NFC with XML-illegal characters removed, so the
 * same sale always builds the same bytes.
 */
import { z } from "zod";

/** Strip characters XML 1.0 cannot carry, fold CR/CRLF to LF, and compose Vietnamese to NFC (signing.md §2). */
export function cleanText(s: string): string {
  return (
    s
      .normalize("NFC")
      .replace(/\r\n?/g, "\n")
      // biome-ignore lint/suspicious/noControlCharactersInRegex: removing XML-illegal C0 controls is the point
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, "")
      // lone surrogates cannot be encoded in UTF-8
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "")
  );
}

const text = (max: number) =>
  z
    .string()
    .transform(cleanText)
    .pipe(z.string().max(max, { error: `tối đa ${max} ký tự / at most ${max} characters` }));

const requiredText = (max: number) =>
  z
    .string()
    .transform(cleanText)
    .pipe(
      z
        .string()
        .min(1, { error: "không được để trống / must not be empty" })
        .max(max, { error: `tối đa ${max} ký tự / at most ${max} characters` }),
    );

/** Whole đồng, never negative on a receipt (refunds are their own kind, not negative lines). */
export const Dong = z
  .number({ error: "phải là số tiền / must be an amount" })
  .int({ error: "phải là số đồng nguyên / must be a whole number of đồng" })
  .min(0, { error: "không được âm / must not be negative" })
  .max(999_999_999_999_999, { error: "quá lớn / too large" });

/** A quantity as printed: up to 15 integer digits and 6 decimals (spec §2.3 "num 21,6"). */
export const Quantity = z
  .string()
  .regex(/^\d{1,15}(\.\d{1,6})?$/, {
    error: "phải là số như 2 hoặc 0.5 (tối đa 6 chữ số thập phân) / a decimal number like 2 or 0.5",
  })
  .refine((q) => !/^0+(\.0+)?$/.test(q), { error: "không được bằng 0 / must not be zero" });

/**
 * VAT rate codes exactly as `TSuat` writes them (spec §6.1). `KHAC` alone means "other, rate not determined".
 */
export const VatRate = z.union(
  [
    z.enum(["0%", "5%", "8%", "10%", "KCT", "KKKNT", "KHAC"]),
    z.string().regex(/^KHAC:\d{1,2}(\.\d{1,2})?%$/, { error: "thuế suất không hợp lệ / unknown VAT rate" }),
  ],
  { error: "thuế suất không hợp lệ / unknown VAT rate" },
);
export type VatRate = z.infer<typeof VatRate>;

/** Line nature (`TChat`): 1 goods/service, 2 promotion, 3 trade discount, 4 note. */
export const LineKind = z.enum(["goods", "promotion", "discount", "note"]);
export type LineKind = z.infer<typeof LineKind>;

export const ReceiptLine = z.object({
  kind: LineKind.default("goods"),
  /** The register's item code (`MHHDVu`). */
  code: text(50).optional(),
  name: requiredText(500),
  unit: text(50).optional(),
  quantity: Quantity.optional(),
  unitPrice: Dong.optional(),
  /** Discount on this line in đồng, already taken off `amount`. */
  discount: Dong.default(0),
  /** The line amount as the register printed it (VAT included when the receipt's prices include VAT). */
  amount: Dong.default(0),
  /** `TSuat` code. Omitted: the item group's configured rate applies (issue 3), else the config default. */
  vatRate: VatRate.optional(),
  /** Item group for date-effective rates (e.g. "beer" stays at 10% during the 8% reduction). */
  group: text(50).optional(),
});
export type ReceiptLine = z.infer<typeof ReceiptLine>;

export const PaymentMethod = z.enum(["cash", "card", "transfer", "ewallet", "other"]);
export const Payment = z.object({ method: PaymentMethod, amount: Dong });

/** Buyer data only when the buyer asked for it (Decree 254 Art. 10(4)). */
export const Buyer = z.object({
  name: text(400).optional(),
  taxCode: z
    .string()
    .regex(/^\d{10}(-\d{3})?$|^\d{12}$/, {
      error: "mã số thuế gồm 10 chữ số (chi nhánh 10-3) / a tax code has 10 digits (10-3 for a branch)",
    })
    .optional(),
  address: text(400).optional(),
  phone: text(20).optional(),
  citizenId: z
    .string()
    .regex(/^\d{12}$/, { error: "số CCCD gồm 12 chữ số / a citizen ID has 12 digits" })
    .optional(),
  personName: text(100).optional(),
  email: text(50).optional(),
});
export type Buyer = z.infer<typeof Buyer>;

/** The register's own id for a receipt: unique per register, printable ASCII without spaces, ≤ 64. */
export const ReceiptId = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[\x21-\x7e]+$/, { error: "chỉ gồm ký tự ASCII, không dấu cách / printable ASCII without spaces" });

/**
 * The invoice a replacement or refund receipt corrects (`TTHDLQuan`, spec §2.3), named one of two ways:
 *
 * - as printed on the customer's copy: form (`KHMSHDon`), symbol (`KHHDon`) and number (`SHDon`);
 * - by the register's own id of the original sale (`receiptId`), for registers that know their receipts but not
 *   the invoices made from them (a Datecs storno, an ndjson `refund` with `ref`). The write path looks up the
 *   invoice made from that receipt of the same register (src/invoice/corrections.ts).
 */
export const Replaces = z
  .object({
    receiptId: ReceiptId.optional(),
    khmshdon: z
      .string()
      .regex(/^[1-9]$/, { error: "mẫu số là 1 chữ số / form is one digit" })
      .optional(),
    khhdon: z
      .string()
      .regex(/^[CK]\d{2}[A-Z][A-Z0-9]{2}$/, { error: "ký hiệu dạng C26MAB / a symbol like C26MAB" })
      .optional(),
    /** `SHDon`; leading zeros as some receipts print it ("00000123") are dropped. */
    shdon: z
      .string()
      .regex(/^\d{1,8}$/, { error: "số hóa đơn 1–8 chữ số / number of 1–8 digits" })
      .transform((s) => s.replace(/^0+(?=\d)/, ""))
      .refine((s) => s !== "0", { error: "số hóa đơn bắt đầu từ 1 / numbers start at 1" })
      .optional(),
    /**
     * Issue date (`NLap`) of the corrected invoice, YYYY-MM-DD. May be left out when this box issued that invoice:
     * the write path then takes it from the store. Not with `receiptId` (the store knows it).
     */
    date: z.iso.date().optional(),
    /** `GChu`: why the invoice is replaced (≤ 255). */
    note: text(255).optional(),
  })
  .superRefine((r, ctx) => {
    const numbered = [r.khmshdon, r.khhdon, r.shdon].filter((v) => v !== undefined).length;
    if (r.receiptId !== undefined) {
      if (numbered > 0 || r.date !== undefined) {
        ctx.addIssue({
          code: "custom",
          path: ["receiptId"],
          message:
            "ghi mã phiếu gốc hoặc số hóa đơn, không ghi cả hai / name the original receipt or the invoice, not both",
        });
      }
    } else if (numbered < 3) {
      ctx.addIssue({
        code: "custom",
        path: [],
        message:
          "cần mẫu số, ký hiệu và số hóa đơn (khmshdon, khhdon, shdon) hoặc mã phiếu gốc (receiptId) / " +
          "needs the invoice's form, symbol and number, or the original receipt's id",
      });
    }
  })
  .transform((r) => r as ReplacesInvoice | ReplacesReceipt);

/** A corrected invoice named by its number (the form `TTHDLQuan` needs). */
export interface ReplacesInvoice {
  khmshdon: string;
  khhdon: string;
  shdon: string;
  date?: string;
  note?: string;
  receiptId?: undefined;
}

/** A corrected invoice named by the register's id of the sale it was made from. */
export interface ReplacesReceipt {
  receiptId: string;
  note?: string;
  khmshdon?: undefined;
  khhdon?: undefined;
  shdon?: undefined;
  date?: undefined;
}

export type Replaces = ReplacesInvoice | ReplacesReceipt;

/**
 * What the receipt is. `sale`: an ordinary sale. `replacement`: the full corrected content of an earlier invoice
 * (`replaces`), issued as a replacement invoice (`TTHDLQuan/TCHDon` 1) — the only way to correct a cash-register
 * invoice (Circular 91/2026 Art. 10(1)(c), spec §7.3). `refund`: goods taken back (return or storno) from the sale
 * of `replaces`; its lines are the returned items (no lines: the whole sale) and its total the money given back. The
 * write path turns it into a replacement invoice holding what the customer kept (src/invoice/corrections.ts); the
 * original stays untouched.
 */
export const ReceiptKind = z.enum(["sale", "replacement", "refund"]);
export type ReceiptKind = z.infer<typeof ReceiptKind>;

export const Receipt = z
  .object({
    /** The register's own id for this receipt: unique per register, the key that makes resends harmless. */
    receiptId: ReceiptId,
    /** When the register says the sale happened, ISO 8601 with a zone offset. */
    issuedAt: z.iso.datetime({
      offset: true,
      error: "thời điểm ISO có múi giờ, ví dụ 2026-11-20T09:41:07+07:00 / an ISO date-time with zone",
    }),
    kind: ReceiptKind.default("sale"),
    /**
     * The invoice a replacement or refund corrects; required for those kinds, refused on a sale. Named by number, or
     * by the register's id of the original sale (resolved by the write path).
     */
    replaces: Replaces.optional(),
    /** Shops mostly print VAT-inclusive prices. */
    pricesIncludeVat: z.boolean().default(true),
    currency: z.literal("VND").default("VND"),
    /** A refund with no lines takes the whole sale back (a void after the invoice was made: ndjson `void`). */
    lines: z.array(ReceiptLine).max(1000),
    payments: z.array(Payment).default([]),
    buyer: Buyer.optional(),
    /** The total the register printed and took money for (a refund: the money given back). */
    total: Dong,
    /** What the register says about itself, when its protocol reports it. */
    device: z.object({ serial: z.string().max(64).optional(), model: z.string().max(64).optional() }).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.lines.length === 0 && r.kind !== "refund") {
      ctx.addIssue({
        code: "custom",
        path: ["lines"],
        message: "cần ít nhất một dòng hàng / a receipt needs at least one line",
      });
    }
  });
export type Receipt = z.infer<typeof Receipt>;
/** The receipt as written on the wire, before defaults are applied. */
export type ReceiptInput = z.input<typeof Receipt>;
