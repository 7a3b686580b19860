/**
 * escpos-tap-v1: reads receipts from the ESC/POS print stream between a POS (or cash register) and its receipt
 * printer (README.md; register-protocols.md §1a, §4.1). Roles: bridge (two ports, hoadon in the cable), sink (hoadon
 * is the printer), sniff (receive only).
 */
import { z } from "zod";
import { type Decoder, defineDriver, type Preview, type TapDecoder } from "../../src/driver-api/index.js";
import { ENCODINGS } from "./codepages.js";
import {
  codePageTable,
  createEscposDecoder,
  createEscposTapDecoder,
  type EscposDecoderConfig,
  jobTexts,
} from "./decode.js";
import { renderPng } from "./raster.js";
import { BUILTIN_TEMPLATES, type BuiltinTemplateName, compileTemplate, ReceiptTemplate } from "./template.js";

const builtinNames = Object.keys(BUILTIN_TEMPLATES) as [BuiltinTemplateName, ...BuiltinTemplateName[]];

const regex = z
  .string()
  .min(1)
  .max(2_000)
  .refine(
    (source) => {
      try {
        new RegExp(source, "mu");
        return true;
      } catch {
        return false;
      }
    },
    { error: "biểu thức chính quy sai / invalid regular expression" },
  );

/** Per-register options of escpos-tap-v1. */
export const escposOptions = z.object({
  role: z
    .enum(["bridge", "sink", "sniff"])
    .default("bridge")
    .describe(
      "bridge: hoadon sits in the cable between the POS (port) and the printer (devicePort); sink: no printer, hoadon " +
        "answers its status requests; sniff: receive only (the printer stays wired in parallel and answers itself).",
    ),
  codePages: z
    .record(z.string().regex(/^\d{1,3}$/), z.enum(ENCODINGS))
    .prefault({})
    .describe("ESC t numbers of this printer that differ from Epson's (0 cp437, 16 cp1252, 30/31 TCVN-3, 52 cp1258)."),
  defaultCodePage: z
    .enum(ENCODINGS)
    .default("cp437")
    .describe("The printer's code page at power-up and after ESC @ (utf8 for printers that print UTF-8)."),
  doubleByteDefault: z
    .boolean()
    .default(false)
    .describe("The printer starts in Kanji/double-byte mode (many Chinese-made printers; POS sends FS . first)."),
  idleGapMs: z
    .number()
    .int()
    .min(100)
    .max(600_000)
    .default(3_000)
    .describe("A print job without a cut command ends after this long with nothing new printed."),
  maxReceiptBytes: z
    .number()
    .int()
    .min(4_096)
    .max(64 * 1024 * 1024)
    .default(4 * 1024 * 1024)
    .describe("A print job longer than this without a cut is kept as a TOO_LONG problem."),
  splitOnInit: z.boolean().default(false).describe("ESC @ after printed content starts a new print job."),
  rasterShare: z
    .number()
    .min(0)
    .max(1)
    .default(0.5)
    .describe("A job that fits no template and is at least this share picture bytes is RASTER_ONLY."),
  templates: z
    .array(z.union([z.enum(builtinNames), ReceiptTemplate]))
    .min(1)
    .default(["hoadon-sim", "vn-basic"])
    .describe("Receipt templates tried in order: built-in names or your own (README 'Templates')."),
  ignore: z
    .array(regex)
    .default([])
    .describe("Print jobs whose text matches one of these are not receipts (kitchen tickets, shift reports)."),
  footer: z
    .object({
      enabled: z.boolean().default(true).describe("Bridge: hold the cut, print the invoice code and QR, then cut."),
      qr: z.boolean().default(true).describe("Print the lookup QR (GS ( k model 2)."),
      qrModuleSize: z.number().int().min(1).max(16).default(4),
      lines: z
        .array(z.string().max(64))
        .max(4)
        .default(["HÓA ĐƠN ĐIỆN TỬ", "Mã CQT: {mccqt}", "Tra cứu: hoadondientu.gdt.gov.vn"])
        .describe("Lines above the QR; {mccqt} is the invoice's tax-authority code."),
      withoutCut: z
        .boolean()
        .default(false)
        .describe(
          "Bridge, printers without a cutter: print the footer after a print job that ended on the idle gap (no cut " +
            "to hold). Off by default: the cashier may already have torn the paper; use with a short idleGapMs.",
        ),
    })
    .prefault({}),
  absentPrinter: z
    .enum(["silent", "offline", "online"])
    .default("silent")
    .describe("Bridge, printer unplugged: leave the POS's status requests unanswered, or answer offline/online."),
  printer: z
    .object({
      paper: z.enum(["ok", "near-end", "out"]).default("ok"),
      model: z.string().max(32).default("hoadon"),
    })
    .prefault({})
    .describe("Sink: what hoadon answers as the printer."),
});

/** Options as written in config. */
export type EscposOptionsInput = z.input<typeof escposOptions>;
/** Validated options of escpos-tap-v1. */
export type EscposOptions = z.infer<typeof escposOptions>;

const compiled = new WeakMap<EscposOptions, EscposDecoderConfig>();

/** Options → what the decoder needs (templates compiled once per options object). */
export function escposConfig(options: EscposOptions): EscposDecoderConfig {
  let config = compiled.get(options);
  if (!config) {
    config = {
      role: options.role,
      codePages: codePageTable(options.codePages),
      defaultCodePage: options.defaultCodePage,
      doubleByteDefault: options.doubleByteDefault,
      idleGapMs: options.idleGapMs,
      maxReceiptBytes: options.maxReceiptBytes,
      splitOnInit: options.splitOnInit,
      rasterShare: options.rasterShare,
      templates: options.templates.map((t) =>
        compileTemplate(typeof t === "string" ? ReceiptTemplate.parse(BUILTIN_TEMPLATES[t]) : t),
      ),
      ignore: options.ignore.map((r) => new RegExp(r, "mu")),
      footer: options.footer,
      absentPrinter: options.absentPrinter,
      printer: {
        online: true,
        paper: options.printer.paper,
        identity: { maker: "hoadon", model: options.printer.model, firmware: "1", serial: "" },
      },
    };
    compiled.set(options, config);
  }
  return config;
}

/** The escpos-tap-v1 driver. */
export const escposTap = defineDriver<EscposOptions>({
  id: "escpos-tap-v1",
  title:
    "ESC/POS máy in hóa đơn (cầu nối, thay máy in, nghe lén) / ESC/POS receipt printer stream (bridge, sink, sniff)",
  serial: { baudRate: 9_600, dataBits: 8, parity: "none", stopBits: 1 },
  idleMs: 3_000,
  idleMsFor: (options) => options.idleGapMs,
  portsFor: (options) => (options.role === "bridge" ? 2 : 1),
  options: escposOptions,
  createDecoder: (options: EscposOptions): Decoder => createEscposDecoder(escposConfig(options)),
  createTapDecoder: (options: EscposOptions): TapDecoder => createEscposTapDecoder(escposConfig(options)),
  preview(options: EscposOptions, raw: Uint8Array): Preview {
    const text = jobTexts(escposConfig(options), raw).join("\n✂\n");
    const png = renderPng(raw);
    return { ...(text.trim() === "" ? {} : { text }), ...(png ? { png } : {}) };
  },
});

export { decodeText, ENCODINGS, type Encoding, EPSON_CODE_PAGES, encodeChar, stripDiacritics } from "./codepages.js";
export { jobTexts } from "./decode.js";
export {
  CMD,
  type CutStyle,
  cutBytes,
  encodeText,
  footerBytes,
  logoBytes,
  qrBytes,
  type RenderOptions,
  rasterLine,
  receiptLines,
  renderReceipt,
  type ShopHeader,
} from "./encode.js";
export { formatDong, formatQuantity, lineAmount, parseDong, parseQuantity } from "./numbers.js";
export { type Bitmap, bitmapOf, bitmapsToPng, renderPng } from "./raster.js";
export { PRINTER_OK, type PrinterState, statusAnswer } from "./status.js";
export { BUILTIN_TEMPLATES, compileTemplate, extractReceipt, ReceiptTemplate } from "./template.js";
export { createTokenizer, type Token, type TokenKind, tokenize } from "./tokenize.js";
