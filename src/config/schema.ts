/**
 * The config file, as one zod schema: the single source of types, defaults and documentation (style.md §2.5).
 * `config/hoadon.schema.json` is generated from it (`hoadon config-schema`), and a test keeps the two in step.
 * Options marked [U] in the spec (things public sources leave uncertain) are settings here, with the default
 * the spec addendum recommends; README "Uncertain points" lists them.
 */
import { z } from "zod";
import { GatewayConfig } from "../forward/config.js";
import {
  ACTIVITY_RATIOS,
  REDUCTION_AMOUNT_FIELD,
  REDUCTION_NOTE_FIELD,
  REDUCTION_NOTE_TEMPLATE,
} from "../invoice/reduction.js";
import { VatRate } from "../receipt/model.js";

const taxCode = z
  .string()
  .regex(/^\d{10}(-\d{3})?$/, { error: "mã số thuế gồm 10 chữ số (chi nhánh: 10-3) / a tax code has 10 digits" });

const secretRef = z
  .object({
    passwordFile: z.string().optional().describe("A file holding the password (one line). Never inline secrets."),
    passwordEnv: z.string().optional().describe("Or: the environment variable holding the password."),
  })
  .refine((s) => s.passwordFile !== undefined || s.passwordEnv !== undefined, {
    error: "cần passwordFile hoặc passwordEnv / set passwordFile or passwordEnv",
  });

export const SellerConfig = z
  .object({
    taxCode: taxCode.describe("Seller tax code (MST), as registered."),
    name: z.string().min(1).max(400).describe("Seller name as registered (NBan/Ten)."),
    address: z.string().min(1).max(400).describe("Seller address (NBan/DChi)."),
    phone: z.string().max(20).optional(),
    email: z.string().max(50).optional(),
  })
  .describe("The shop, as registered with the tax authority.");

/** One rule of the VAT schedule (src/invoice/rates.ts): a rate for an item group, or for everything, for a time. */
export const RateRuleConfig = z
  .object({
    group: z
      .string()
      .min(1)
      .max(50)
      .transform((g) => g.normalize("NFC"))
      .optional()
      .describe("Item group as the register reports it (lines[].group); absent: every item without a rule of its own."),
    rate: VatRate.refine((r) => r !== "KHAC", {
      error: "KHAC không xác định được tiền thuế / a bare KHAC leaves the VAT undetermined",
    }).describe("TSuat: 0% 5% 8% 10% KCT KKKNT KHAC:x%."),
    from: z.iso.date().optional().describe("First day (NLap, Vietnam local date), inclusive; absent: since always."),
    until: z.iso.date().optional().describe("Last day, inclusive; absent: until further notice."),
  })
  .refine((r) => r.from === undefined || r.until === undefined || r.from <= r.until, {
    error: "from phải trước until / from must not be after until",
    path: ["until"],
  });

const itemGroup = z
  .string()
  .min(1)
  .max(50)
  .transform((g) => g.normalize("NFC"));

const ActivityRatioConfig = z
  .enum(ACTIVITY_RATIOS)
  .describe("Tỷ lệ % để tính thuế GTGT: 1% goods, 5% services, 3% production/transport/food and drink, 2% other.");

/** One rule of the sales-invoice reduction schedule (src/invoice/reduction.ts). */
export const ReductionRuleConfig = z
  .object({
    group: itemGroup.optional().describe("Item group (lines[].group); absent: every item without a rule of its own."),
    percent: z
      .number()
      .int()
      .min(0)
      .max(100)
      .describe("How much of the activity ratio is cut, whole percent: 20 under NQ 204/2025; 0 = no reduction."),
    from: z.iso.date().optional().describe("First day (NLap, Vietnam local date), inclusive; absent: since always."),
    until: z.iso.date().optional().describe("Last day, inclusive; absent: until further notice."),
  })
  .refine((r) => r.from === undefined || r.until === undefined || r.from <= r.until, {
    error: "from phải trước until / from must not be after until",
    path: ["until"],
  });

/** Sales invoices (form 2) under the NQ 204/2025 reduction (spec §6.1). */
export const SalesReductionConfig = z
  .strictObject({
    ratio: ActivityRatioConfig.describe(
      "Tỷ lệ % để tính thuế GTGT of the shop's main activity (1%, 2%, 3%, 5%), for items whose group has none.",
    ),
    ratioByGroup: z
      .record(z.string().min(1).max(50), ActivityRatioConfig)
      .default({})
      .transform((r) => Object.fromEntries(Object.entries(r).map(([g, v]) => [g.normalize("NFC"), v])))
      .describe("The ratio per item group, for a shop with several activities ({ groceries: '1%', food: '3%' })."),
    excludedGroups: z
      .array(itemGroup)
      .default([])
      .describe("Groups the reduction does not cover (as for the 8% rate: excise goods such as beer, wine, tobacco)."),
    rules: z
      .array(ReductionRuleConfig)
      .default([])
      .describe(
        "Dated rules on top of the law's window (20% from 2025-07-01 to 2026-12-31), after excludedGroups: a rule " +
          "naming the group beats one for everything, a later rule beats an earlier one. Extend: { percent: 20, " +
          "from: '2027-01-01', until: '2027-06-30' }; cut short: { percent: 0, from: '2026-10-01' }.",
      ),
    registerTotal: z
      .enum(["reduced", "beforeReduction"])
      .default("reduced")
      .describe(
        "[U] Which total the register prints, to reconcile within toleranceDong: 'reduced' (what the customer " +
          "pays) or 'beforeReduction' (the sum of the lines). A difference beyond it holds the receipt.",
      ),
    note: z
      .string()
      .min(1)
      .max(400)
      .refine((n) => n.includes("{amount}"), { error: "ghi chú phải có {amount} / the note must contain {amount}" })
      .default(REDUCTION_NOTE_TEMPLATE)
      .describe("The note on the invoice; {amount} = the reduction in đồng (1.200), {percent} = the cut (20%)."),
    placement: z
      .enum(["TTKhac", "TGTKhac"])
      .default("TTKhac")
      .describe(
        "[U] Where the amount goes: 'TTKhac' (note and amount as TToan/TTKhac entries) or 'TGTKhac' (the amount in " +
          "TToan/TGTKhac, as Viettel's AMNOTE writes it; the note in TToan/TTKhac).",
      ),
    noteField: z.string().min(1).max(50).default(REDUCTION_NOTE_FIELD).describe("[U] TTruong of the note."),
    amountField: z
      .string()
      .min(1)
      .max(50)
      .default(REDUCTION_AMOUNT_FIELD)
      .describe("[U] TTruong of the amount (placement TTKhac)."),
  })
  .refine((r) => r.noteField !== r.amountField, {
    error: "noteField và amountField phải khác nhau / noteField and amountField must differ",
    path: ["amountField"],
  })
  .describe(
    "Sales invoices (form 2) during the NQ 204/2025 reduction: the activity ratio is cut by 20%, the invoice shows " +
      "the lines in full, the reduced total and a note with the amount. Required with form 2.",
  );

const REMOVED_INVOICE_KEYS: Readonly<Record<string, string>> = {
  defaultVatRate: "thay bằng invoice.rates: [{ rate }] / replaced by invoice.rates: [{ rate }]",
  ratesByGroup: "thay bằng invoice.rates: [{ group, rate }] / replaced by invoice.rates: [{ group, rate }]",
};

export const InvoiceConfig = z
  .strictObject(
    {
      form: z.enum(["1", "2"]).default("1").describe("KHMSHDon: 1 = VAT invoice (credit method), 2 = sales invoice."),
      symbolSuffix: z
        .string()
        .regex(/^[A-Z0-9]{2}$/, { error: "2 chữ in hoa hoặc số / two upper-case letters or digits" })
        .default("YY")
        .describe("The two seller-chosen characters of KHHDon = C{YY}M{suffix}; a register may override it."),
      mccqtBlock: z
        .string()
        .regex(/^[A-Z0-9]{5}$/, { error: "5 ký tự trong thông báo 01/TB-ĐKĐT / the 5 characters from notice 103" })
        .describe("The 5-character block the tax authority assigned in its acceptance notice (message 103)."),
      mccqtRange: z
        .object({
          start: z.number().int().min(1).max(99_999_999_999).describe("First 11-digit sequence value of this box."),
          end: z.number().int().min(1).max(99_999_999_999).describe("Last value of this box, inclusive."),
        })
        .refine((r) => r.start <= r.end, { error: "start phải ≤ end / start must not exceed end", path: ["end"] })
        .optional()
        .describe(
          "This box's share of the 11-digit MCCQT sequence when several boxes share one block: give each box a " +
            "disjoint range. Absent: the whole sequence. When it is used up, invoicing stops with CONFIG_INVALID; " +
            "a new range must not overlap one this box used before (a range continues where it stopped only when " +
            "its start stays the same).",
        ),
      providerTaxCode: taxCode.describe("MSTTCGP: tax code of the invoicing-solution provider."),
      profile: z
        .enum(["2.1", "2.0.1"])
        .default("2.1")
        .describe("[U] Field profile. 2.1: DVTTe/HTTToan/MSTTCGP/HDCTTChinh in TTChung. 2.0.1: those facts in TTKhac."),
      pban: z.string().max(6).default("2.1.0").describe("[U] PBan written on each invoice."),
      rates: z
        .array(RateRuleConfig)
        .default([])
        .describe(
          "VAT rates per item group and date, applied on top of the law's schedule (10%; 8% from 2025-07-01 to " +
            "2026-12-31). For an invoice date, a rule naming the group beats one for everything, and a later rule " +
            "beats an earlier one. List the groups excluded from the reduction ({ group: beer, rate: '10%' }); " +
            "extend a reduction with a dated rule ({ rate: '8%', from: '2027-01-01', until: '2027-06-30' }).",
        ),
      holdRatesNotInForce: z
        .boolean()
        .default(true)
        .describe(
          "Hold a receipt whose register still sends a rate not in force on the invoice date (8% after the " +
            "reduction ends) instead of invoicing it.",
        ),
      fullRefund: z
        .enum(["replace", "hold"])
        .default("replace")
        .describe(
          "[U] A refund of everything: 'replace' issues a replacement invoice with a note line and total 0; " +
            "'hold' quarantines it for manual handling (error notice 04/SS-HĐĐT).",
        ),
      toleranceDong: z
        .number()
        .int()
        .min(0)
        .default(0)
        .describe("How far the lines may differ from the printed total before the receipt is held for review."),
      salesReduction: SalesReductionConfig.optional(),
      anonymousBuyer: z
        .object({
          mode: z.enum(["omit", "empty", "name"]).default("omit"),
          text: z.string().max(400).optional(),
        })
        .default({ mode: "omit" })
        .describe("[U] NMua for a buyer who gave no data: omit the element, write <NMua></NMua>, or a name text."),
      wordsStyle: z.enum(["north", "south"]).default("north").describe("Amount in words: nghìn/linh or ngàn/lẻ."),
      qrCrc: z.boolean().default(true).describe("[U] Append 6304+CRC to DLQRCode (the GDT portal omits it)."),
    },
    {
      error: (iss) =>
        iss.code === "unrecognized_keys"
          ? iss.keys.map((k) => `${k}: ${REMOVED_INVOICE_KEYS[k] ?? "khóa không biết / unknown key"}`).join("; ")
          : undefined,
    },
  )
  .refine((i) => i.form !== "2" || i.salesReduction !== undefined, {
    error:
      "hóa đơn bán hàng (form 2) cần salesReduction.ratio: tỷ lệ % tính thuế GTGT để giảm 20% theo NQ 204/2025 / " +
      "a sales invoice (form 2) needs salesReduction.ratio, the activity ratio the NQ 204/2025 reduction cuts",
    path: ["salesReduction"],
  })
  // The QĐ 1510 sales profile's TToan has no TGTKhac (spec §2.3): an invoice written so would break its own profile.
  .refine((i) => i.profile !== "2.0.1" || i.salesReduction?.placement !== "TGTKhac", {
    error:
      "hồ sơ 2.0.1 không có TGTKhac: dùng placement TTKhac / the 2.0.1 profile has no TGTKhac: use placement TTKhac",
    path: ["salesReduction", "placement"],
  })
  .describe("How invoices are numbered and written.");

export const SigningConfig = z
  .object({
    keystore: z.string().describe("PKCS#12 (.p12/.pfx) file with the seller's key and certificate."),
  })
  .and(secretRef);

/** Overrides of a driver's serial settings; every field optional. */
const SerialOverrides = z.object({
  baudRate: z.number().int().positive().optional(),
  dataBits: z.union([z.literal(7), z.literal(8)]).optional(),
  parity: z.enum(["none", "even", "odd"]).optional(),
  stopBits: z.union([z.literal(1), z.literal(2)]).optional(),
  flowControl: z
    .enum(["none", "rtscts"])
    .optional()
    .describe(
      "rtscts: hardware flow control by the kernel (a printer that signals busy on CTS). Default none. XON/XOFF needs " +
        "nothing here: on a bridge those bytes pass through as they are.",
    ),
});

export const RegisterConfig = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, { error: "chữ, số, - hoặc _ / letters, digits, - or _" })
    .describe("Our name for the register; it appears in logs, audit and on the ack."),
  driver: z.string().describe("A driver id, e.g. ndjson-v1."),
  port: z
    .string()
    .describe("A serial device (/dev/serial/by-id/… survives replugging), tcp://host:port or tcp-listen://host:port."),
  serial: SerialOverrides.optional().describe("Overrides of the driver's serial settings."),
  options: z.unknown().optional().describe("Driver options, checked by the driver's own schema."),
  devicePort: z
    .string()
    .optional()
    .describe("Two-port roles (escpos-tap bridge, datecs-isl tap): the printer's port; same forms as port."),
  deviceSerial: SerialOverrides.optional().describe("Serial overrides for devicePort (default: as serial)."),
  mirrorLines: z
    .boolean()
    .default(false)
    .describe(
      "Two-port roles: show the POS the printer's control lines as a cable would (printer DSR → our DTR, printer " +
        "CTS → our RTS; both low while the printer is unplugged), for printers that signal busy on them. Off by " +
        "default: many cables do not wire them, and a POS would then see the printer as offline.",
    ),
  symbolSuffix: z
    .string()
    .regex(/^[A-Z0-9]{2}$/)
    .optional()
    .describe("This register's own KHHDon suffix, so several registers never share a sequence."),
});
export type RegisterConfig = z.infer<typeof RegisterConfig>;

export const AuthorityConfig = z
  .object({
    url: z
      .url()
      .describe("Base URL of the T-VAN (or the local sandbox; with gateway: sandbox it only names the endpoint)."),
    username: z.string().min(1),
    passwordFile: z.string().optional(),
    passwordEnv: z.string().optional(),
    senderCode: z.string().max(14).describe("MNGui: the sender code your T-VAN expects."),
    receiverCode: z.string().max(14).default("TCT").describe("MNNhan: the receiver code your T-VAN expects."),
    envelopePban: z.string().max(6).default("2.1.1").describe("[U] PBan on the TDiep envelope."),
    timeoutMs: z.number().int().positive().default(15_000),
    pollIntervalMs: z.number().int().positive().default(5_000),
    retry: z
      .object({
        minDelayMs: z.number().int().positive().default(2_000),
        maxDelayMs: z.number().int().positive().default(300_000),
      })
      .default({ minDelayMs: 2_000, maxDelayMs: 300_000 }),
    batch: z
      .object({
        maxInvoices: z.number().int().min(1).max(1000).default(1000),
        maxBytes: z.number().int().min(10_000).max(2_000_000).default(2_000_000),
        lingerMs: z
          .number()
          .int()
          .min(0)
          .max(600_000)
          .default(2_000)
          .describe(
            "A new invoice waits this long for others to share its batch (the law asks for the same day, not the " +
              "same second): one batch, one signature and one exchange for a busy moment's sales instead of one each.",
          ),
        lingerInvoices: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .default(32)
          .describe(
            "Once this many invoices wait, the batch is made without waiting out lingerMs: building and signing a " +
              "batch takes about 0.1 ms per invoice on the store's thread, so a busy shop's receipts never wait " +
              "behind one big batch.",
          ),
      })
      .default({ maxInvoices: 1000, maxBytes: 2_000_000, lingerMs: 2_000, lingerInvoices: 32 }),
  })
  .extend(GatewayConfig.shape)
  .refine((a) => a.passwordFile !== undefined || a.passwordEnv !== undefined, {
    error: "cần passwordFile hoặc passwordEnv / set passwordFile or passwordEnv",
    path: ["passwordFile"],
  });

export const Config = z.object({
  version: z.literal(1, { error: "chỉ hỗ trợ version: 1 / only version: 1 is supported" }),
  lang: z.enum(["vi", "en"]).default("vi").describe("Language of messages shop staff see."),
  seller: SellerConfig,
  invoice: InvoiceConfig,
  signing: SigningConfig,
  store: z.object({
    path: z.string().describe("The SQLite file. Keep it on the box's own disk."),
    writer: z
      .enum(["auto", "thread", "inline"])
      .default("auto")
      .describe(
        "thread: the write path (sign, commit), the forwarder and the journal's rows run in a worker thread, so the " +
          "ports' event loop only moves bytes and a printer behind a bridge never waits for another register's " +
          "commit (about 25 MiB more memory, ~1 ms more per receipt on a 2-core box). inline: all on one thread. " +
          "auto: thread when a register uses a two-port role (escpos-tap bridge, datecs-isl tap), else inline.",
      ),
  }),
  authority: AuthorityConfig,
  registers: z.array(RegisterConfig).min(1, { error: "cần ít nhất một máy tính tiền / at least one register" }),
  capture: z
    .object({ enabled: z.boolean().default(false), dir: z.string().optional() })
    .default({ enabled: false })
    .describe("Raw byte tap into .cap files, for field bug reports."),
  journal: z
    .object({
      enabled: z.boolean().default(true),
      flushMs: z.number().int().min(10).max(10_000).default(250),
      keepDays: z
        .number()
        .int()
        .min(1)
        .max(36_500)
        .optional()
        .describe(
          "Shed journal chunks older than this many days, behind a recorded mark (receipts keep their own bytes). " +
            "Unset: keep every byte for ever.",
        ),
    })
    .default({ enabled: true, flushMs: 250 })
    .describe("Raw capture journal: every byte of every port, hash-chained per stream, linked to each receipt."),
  log: z
    .object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info") })
    .default({ level: "info" }),
});
export type Config = z.infer<typeof Config>;
