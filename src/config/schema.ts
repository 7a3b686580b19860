/**
 * The config file, as one zod schema: the single source of types, defaults and documentation (style.md §2.5).
 * `config/hoadon.schema.json` is generated from it (`hoadon config-schema`), and a test keeps the two in step.
 * Options marked [U] in the spec (things public sources leave uncertain) are settings here, with the default
 * the spec addendum recommends; README "Uncertain points" lists them.
 */
import { z } from "zod";
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

export const InvoiceConfig = z
  .object({
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
    providerTaxCode: taxCode.describe("MSTTCGP: tax code of the invoicing-solution provider."),
    profile: z
      .enum(["2.1", "2.0.1"])
      .default("2.1")
      .describe("[U] Field profile. 2.1: DVTTe/HTTToan/MSTTCGP/HDCTTChinh in TTChung. 2.0.1: those facts in TTKhac."),
    pban: z.string().max(6).default("2.1.0").describe("[U] PBan written on each invoice."),
    defaultVatRate: VatRate.default("8%").describe("TSuat for lines whose item group has no configured rate."),
    ratesByGroup: z
      .record(z.string(), VatRate)
      .default({})
      .describe("TSuat per item group, e.g. { beer: '10%' } (excise goods stay at 10% during the 8% reduction)."),
    toleranceDong: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe("How far the lines may differ from the printed total before the receipt is held for review."),
    anonymousBuyer: z
      .object({
        mode: z.enum(["omit", "empty", "name"]).default("omit"),
        text: z.string().max(400).optional(),
      })
      .default({ mode: "omit" })
      .describe("[U] NMua for a buyer who gave no data: omit the element, write <NMua></NMua>, or a name text."),
    wordsStyle: z.enum(["north", "south"]).default("north").describe("Amount in words: nghìn/linh or ngàn/lẻ."),
    qrCrc: z.boolean().default(true).describe("[U] Append 6304+CRC to DLQRCode (the GDT portal omits it)."),
  })
  .describe("How invoices are numbered and written.");

export const SigningConfig = z
  .object({
    keystore: z.string().describe("PKCS#12 (.p12/.pfx) file with the seller's key and certificate."),
  })
  .and(secretRef);

export const RegisterConfig = z.object({
  id: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, { error: "chữ, số, - hoặc _ / letters, digits, - or _" })
    .describe("Our name for the register; it appears in logs, audit and on the ack."),
  driver: z.string().describe("A driver id, e.g. ndjson-v1."),
  port: z
    .string()
    .describe("A serial device (/dev/serial/by-id/… survives replugging), tcp://host:port or tcp-listen://host:port."),
  serial: z
    .object({
      baudRate: z.number().int().positive().optional(),
      dataBits: z.union([z.literal(7), z.literal(8)]).optional(),
      parity: z.enum(["none", "even", "odd"]).optional(),
      stopBits: z.union([z.literal(1), z.literal(2)]).optional(),
    })
    .optional()
    .describe("Overrides of the driver's serial settings."),
  options: z.unknown().optional().describe("Driver options, checked by the driver's own schema."),
  symbolSuffix: z
    .string()
    .regex(/^[A-Z0-9]{2}$/)
    .optional()
    .describe("This register's own KHHDon suffix, so several registers never share a sequence."),
});
export type RegisterConfig = z.infer<typeof RegisterConfig>;

export const AuthorityConfig = z
  .object({
    gateway: z.enum(["http-xml"]).default("http-xml").describe("Adapter: http-xml (T-VAN REST, bearer login)."),
    url: z.url().describe("Base URL of the T-VAN (or the local sandbox)."),
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
      })
      .default({ maxInvoices: 1000, maxBytes: 2_000_000 }),
  })
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
  store: z.object({ path: z.string().describe("The SQLite file. Keep it on the box's own disk.") }),
  authority: AuthorityConfig,
  registers: z.array(RegisterConfig).min(1, { error: "cần ít nhất một máy tính tiền / at least one register" }),
  capture: z
    .object({ enabled: z.boolean().default(false), dir: z.string().optional() })
    .default({ enabled: false })
    .describe("Raw byte tap into .cap files, for field bug reports."),
  log: z
    .object({ level: z.enum(["fatal", "error", "warn", "info", "debug", "trace"]).default("info") })
    .default({ level: "info" }),
});
export type Config = z.infer<typeof Config>;
