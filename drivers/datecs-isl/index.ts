/**
 * datecs-isl-v1: the Datecs/ISL fiscal printer protocol, old and X framing (README.md). Device role: hoadon is the
 * fiscal printer a POS talks to. Tap role: hoadon listens between a POS and a real printer.
 */
import { z } from "zod";
import { type Decoder, defineDriver, type TapDecoder } from "../../src/driver-api/index.js";
import { createDeviceDecoder, type DeviceDecoderOptions } from "./device.js";
import { type DeviceIdentity, type PaymentMethod, TAX_LETTERS, type TaxLetter, type VatRateCode } from "./engine.js";
import { type Framing, SYN } from "./frame.js";
import { createTapDecoder } from "./tap.js";

const VatRateCodeSchema = z.union(
  [z.enum(["0%", "5%", "8%", "10%", "KCT", "KKKNT", "KHAC"]), z.string().regex(/^KHAC:\d{1,2}(\.\d{1,2})?%$/)],
  { error: "thuế suất không hợp lệ (0%, 5%, 8%, 10%, KCT, KKKNT, KHAC, KHAC:3.5%) / unknown VAT rate code" },
);
const PaymentMethodSchema = z.enum(["cash", "card", "transfer", "ewallet", "other"]);

/** Default tax groups (README.md "Tax groups"): ascending rates, then the two no-VAT codes; G and H unset. */
export const DEFAULT_TAX_GROUPS: Readonly<Record<TaxLetter, VatRateCode | null>> = {
  A: "0%",
  B: "5%",
  C: "8%",
  D: "10%",
  E: "KCT",
  F: "KKKNT",
  G: null,
  H: null,
};

/** Default PaidMode → method tables per framing (README.md "Payments"). The first key per method is what we send. */
export const DEFAULT_PAYMENT_MODES: Readonly<Record<Framing, Readonly<Record<string, PaymentMethod>>>> = {
  old: {
    P: "cash",
    D: "card",
    N: "card",
    C: "other",
    I: "transfer",
    J: "ewallet",
    K: "other",
    L: "other",
    i: "transfer",
    j: "ewallet",
    k: "other",
    l: "other",
    m: "other",
    n: "other",
    o: "other",
    p: "other",
    q: "other",
    r: "transfer",
    s: "other",
  },
  x: { "0": "cash", "1": "card", "2": "card", "3": "transfer", "4": "ewallet", "5": "other", "6": "other" },
};

/** Per-register options of datecs-isl-v1 (all have defaults: `{}` is a valid config). */
export const datecsOptions = z
  .object({
    role: z
      .enum(["device", "tap"])
      .default("device")
      .describe(
        "device: hoadon is the fiscal printer the POS talks to (one port); tap: between the POS and a real printer (two ports)",
      ),
    framing: z
      .enum(["old", "x"])
      .default("old")
      .describe("old: FP-800/FP-2000/FP-650/FMP-10 … (1-byte LEN); x: FP-700X/FMP-350X/DP-25X … (4-nibble LEN)"),
    encoding: z
      .enum(["auto", "utf-8", "cp1258"])
      .default("auto")
      .describe("Text in frames: utf-8, cp1258 (Windows Vietnamese) or auto (UTF-8 when valid, else cp1258)"),
    taxGroups: z
      .object(
        Object.fromEntries(TAX_LETTERS.map((l) => [l, VatRateCodeSchema.nullable().optional()])) as Record<
          TaxLetter,
          z.ZodOptional<z.ZodNullable<typeof VatRateCodeSchema>>
        >,
      )
      .strict()
      .default({})
      .describe(
        "Tax group letter → VAT rate code; null switches a group off. Defaults: A 0%, B 5%, C 8%, D 10%, E KCT, F KKKNT",
      ),
    departments: z
      .record(z.string().regex(/^\d{1,2}$/), z.enum(TAX_LETTERS))
      .default({})
      .describe("Department number → tax group letter, for sales by department"),
    paymentModes: z
      .record(z.string().regex(/^[A-Za-z0-9]$/), PaymentMethodSchema)
      .default({})
      .describe("PaidMode → payment method, merged over the framing's defaults"),
    device: z
      .object({
        model: z.string().min(1).max(32).optional(),
        serial: z
          .string()
          .regex(/^[A-Z]{2}\d{6}$/)
          .optional()
          .describe("Two letters and six digits, e.g. DT000001"),
        fiscalMemory: z
          .string()
          .regex(/^\d{8}$/)
          .optional(),
        firmware: z.string().min(1).max(8).optional(),
        taxId: z.string().min(1).max(14).optional().describe("The seller's tax code (MST) answered to 63h"),
      })
      .strict()
      .default({})
      .describe("What the virtual printer reports about itself (5Ah diagnostics, 63h tax code)"),
    plu: z
      .record(
        z.string().regex(/^\d{1,6}$/, { error: "số PLU gồm 1–6 chữ số / a PLU number has 1–6 digits" }),
        z
          .object({
            name: z.string().trim().min(1).max(100).describe("Tên hàng như in trên hóa đơn / the item's name"),
            price: z
              .number()
              .int({ error: "giá là số đồng nguyên / the price is whole đồng" })
              .min(0)
              .max(999_999_999_999)
              .describe("Gross unit price (VAT included), whole đồng"),
            tax: z.enum(TAX_LETTERS).describe("Tax group letter A–H"),
            unit: z
              .string()
              .trim()
              .min(1)
              .max(8)
              .regex(/^[^,;#\t\n]+$/)
              .optional(),
          })
          .strict(),
      )
      .default({})
      .describe("Programmed articles for 3Ah sales: PLU number → name, price, tax group, unit"),
    storno: z
      .enum(["refund", "quarantine", "refuse"])
      .default("refund")
      .describe(
        "refund: a storno naming its original sale becomes a refund of that sale's invoice; quarantine: keep storno receipts for a person; refuse: answer 'not allowed'",
      ),
    maxFrameBytes: z.number().int().min(64).max(4096).default(300).describe("Longest frame accepted, in bytes"),
  })
  .superRefine((o, ctx) => {
    // A PLU in a group without a rate could never be sold: say so at config load, not at the first sale.
    const groups = { ...DEFAULT_TAX_GROUPS, ...o.taxGroups };
    const numbers = new Map<string, string>();
    for (const [n, a] of Object.entries(o.plu)) {
      if (groups[a.tax] === null) {
        ctx.addIssue({
          code: "custom",
          path: ["plu", n, "tax"],
          message: `nhóm thuế ${a.tax} chưa có thuế suất (taxGroups) / tax group ${a.tax} has no VAT rate (taxGroups)`,
        });
      }
      const key = n.replace(/^0+(?=\d)/, "");
      if (numbers.has(key)) {
        ctx.addIssue({
          code: "custom",
          path: ["plu", n],
          message: `PLU ${n} trùng với ${numbers.get(key)} / PLU ${n} is the same number as ${numbers.get(key)}`,
        });
      }
      numbers.set(key, n);
    }
  });

/** Validated options of datecs-isl-v1. */
export type DatecsOptions = z.infer<typeof datecsOptions>;

/** Options with every default filled in, as the decoders take them. */
export function resolveOptions(o: DatecsOptions): DeviceDecoderOptions {
  const taxGroups = { ...DEFAULT_TAX_GROUPS };
  for (const l of TAX_LETTERS) {
    const v = o.taxGroups[l];
    if (v !== undefined) taxGroups[l] = v;
  }
  const device: DeviceIdentity = {
    model: o.device.model ?? (o.framing === "old" ? "FP-800" : "FP-700X"),
    serial: o.device.serial ?? "DT000001",
    fiscalMemory: o.device.fiscalMemory ?? "02000001",
    firmware: o.device.firmware ?? "1.00VN",
    firmwareDate: "20Nov26 1000",
    taxId: o.device.taxId ?? "0000000000",
  };
  return {
    framing: o.framing,
    encoding: o.encoding,
    taxGroups,
    departments: o.departments,
    paymentModes: { ...DEFAULT_PAYMENT_MODES[o.framing], ...o.paymentModes },
    device,
    plu: new Map(
      Object.entries(o.plu).map(([n, a]) => [
        n.replace(/^0+(?=\d)/, ""),
        { name: a.name, price: BigInt(a.price), letter: a.tax, ...(a.unit === undefined ? {} : { unit: a.unit }) },
      ]),
    ),
    storno: o.storno,
    maxFrameBytes: o.maxFrameBytes,
  };
}

/** SYN (16h), what a Datecs printer sends every 60 ms while it is busy (register-protocols.md §1b, §4.2). */
export const BUSY_SIGNAL = { bytes: Uint8Array.of(SYN), everyMs: 60 } as const;

/**
 * What the POS hears while a receipt's commit runs: SYN every 60 ms, as a busy printer does, so the POS keeps
 * waiting instead of resending after its 500 ms timeout (README "Busy while committing"). In both roles: in the tap
 * role the real printer has answered and we hold that answer, so the line from the printer is quiet and the POS is
 * waiting on us alone; the bridge forwards printer frames whole, so a SYN can never land inside one.
 */
function busySignal(_options: DatecsOptions): { readonly bytes: Uint8Array; readonly everyMs: number } {
  return BUSY_SIGNAL;
}

/** The datecs-isl-v1 driver. */
export const datecsIsl = defineDriver<DatecsOptions>({
  id: "datecs-isl-v1",
  title: "Datecs/ISL máy in tài chính, khung cũ và X / Datecs/ISL fiscal printer protocol, old and X framing",
  serial: { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 },
  options: datecsOptions,
  portsFor: (options: DatecsOptions): 1 | 2 => (options.role === "tap" ? 2 : 1),
  busySignalFor: busySignal,
  createDecoder: (options: DatecsOptions): Decoder => createDeviceDecoder(resolveOptions(options)),
  createTapDecoder: (options: DatecsOptions): TapDecoder => createTapDecoder(resolveOptions(options)),
});

export { createDeviceDecoder, type DatecsProblemCode } from "./device.js";
export {
  bareCommand,
  type DeviceAnswer,
  type EncodeOptions,
  type HostCommand,
  hostFrame,
  nextSeq,
  projectReceipt,
  readAnswer,
  receiptCommands,
  setTimeCommand,
  UnencodableReceiptError,
} from "./encode.js";
export { CMD, type PaymentMethod, TAX_LETTERS, type TaxLetter } from "./engine.js";
export { createDeframer, type DeframeEvent, encodeFrame, type Frame, type Framing, NAK, SYN } from "./frame.js";
export { createTapDecoder } from "./tap.js";
export { cp1258Decode, cp1258Encode, type TextEncoding } from "./text.js";
