/**
 * The register side of ESC/POS: text in a printer's code page, the invoice footer a bridge prints before the held cut
 * (MCCQT and the lookup QR, `GS ( k` model 2), and whole receipts rendered as a POS would print them (text in
 * cp1258 / TCVN-3 / VISCII / UTF-8, or as raster images) for the simulator and the round-trip tests.
 */
import type { ReceiptInput } from "../../src/driver-api/index.js";
import { concatBytes, fromHex, utf8 } from "../../src/driver-api/index.js";
import { type Encoding, encodeChar, stripDiacritics } from "./codepages.js";
import { formatDong, formatQuantity } from "./numbers.js";

const ESC = 0x1b;
const GS = 0x1d;
const FS = 0x1c;
const LF = 0x0a;

/** Command bytes by name (register-protocols.md §1a). */
export const CMD = {
  init: Uint8Array.of(ESC, 0x40),
  lf: Uint8Array.of(LF),
  codePage: (n: number) => Uint8Array.of(ESC, 0x74, n),
  align: (a: "left" | "center" | "right") => Uint8Array.of(ESC, 0x61, a === "left" ? 0 : a === "center" ? 1 : 2),
  bold: (on: boolean) => Uint8Array.of(ESC, 0x45, on ? 1 : 0),
  size: (n: number) => Uint8Array.of(GS, 0x21, n),
  feed: (n: number) => Uint8Array.of(ESC, 0x64, n),
  kanjiOff: Uint8Array.of(FS, 0x2e),
  kanjiOn: Uint8Array.of(FS, 0x26),
  drawer: Uint8Array.of(ESC, 0x70, 0, 25, 250),
  statusPoll: Uint8Array.of(0x10, 0x04, 1),
} as const;

/** Cut styles a POS may use. */
export type CutStyle = "GS V 0" | "GS V 1" | "GS V 48" | "GS V 49" | "GS V 65" | "GS V 66" | "ESC i" | "ESC m" | "none";

/** The bytes of a cut. */
export function cutBytes(style: CutStyle): Uint8Array {
  switch (style) {
    case "GS V 0":
      return Uint8Array.of(GS, 0x56, 0);
    case "GS V 1":
      return Uint8Array.of(GS, 0x56, 1);
    case "GS V 48":
      return Uint8Array.of(GS, 0x56, 48);
    case "GS V 49":
      return Uint8Array.of(GS, 0x56, 49);
    case "GS V 65":
      return Uint8Array.of(GS, 0x56, 65, 3);
    case "GS V 66":
      return Uint8Array.of(GS, 0x56, 66, 3);
    case "ESC i":
      return Uint8Array.of(ESC, 0x69);
    case "ESC m":
      return Uint8Array.of(ESC, 0x6d);
    case "none":
      return new Uint8Array(0);
    default: {
      const never: never = style;
      throw new TypeError(`unknown cut ${String(never)}`);
    }
  }
}

/** Capitals TCVN-3 page 30 has (VN3 0xA1–0xA7). */
const TCVN3_BASE_CAPS = "ĂÂÊÔƠƯĐ";

/** `ESC t` numbers to use when writing each encoding (Epson's by default). */
export type PageNumbers = Readonly<Partial<Record<Encoding, number>>>;
const EPSON_PAGES: PageNumbers = { cp437: 0, cp1252: 16, tcvn3: 30, "tcvn3-caps": 31, cp1258: 52 };

/**
 * `text` in `encoding` (`\n` and `\t` pass as LF and HT). Characters the code page lacks lose their diacritics, then
 * become `?`. TCVN-3 accented
 * capitals switch to the capital page (`ESC t 31`) and back, as Vietnamese POS software does.
 */
export function encodeText(text: string, encoding: Encoding, pages: PageNumbers = EPSON_PAGES): Uint8Array {
  const s = text.normalize("NFC");
  if (encoding === "utf8") return utf8(s);
  const out: number[] = [];
  const single = encoding === "tcvn3-caps" ? "tcvn3" : encoding;
  let onCaps = false;
  for (const ch of s) {
    if (ch === "\n" || ch === "\t") {
      out.push(ch.charCodeAt(0));
      continue;
    }
    let bytes: number[] | undefined;
    let caps = false;
    if (single === "tcvn3" && ch.codePointAt(0)! >= 0x80 && ch !== ch.toLowerCase() && !TCVN3_BASE_CAPS.includes(ch)) {
      // VN3 has no accented capitals: the capital page draws the lower-case byte as a capital.
      bytes = encodeChar(ch.toLowerCase(), "tcvn3");
      caps = bytes !== undefined;
    } else {
      bytes = encodeChar(ch, single);
    }
    if (bytes === undefined) {
      const plain = stripDiacritics(ch);
      bytes = plain.length === 1 ? encodeChar(plain, single) : undefined;
    }
    if (single === "tcvn3" && caps !== onCaps && (caps || ch.codePointAt(0)! >= 0x80 || /[a-z]/.test(ch))) {
      out.push(ESC, 0x74, (caps ? pages["tcvn3-caps"] : pages.tcvn3) ?? (caps ? 31 : 30));
      onCaps = caps;
    }
    out.push(...(bytes ?? [0x3f]));
  }
  if (onCaps) out.push(ESC, 0x74, pages.tcvn3 ?? 30);
  return Uint8Array.from(out);
}

/** `GS ( k` model-2 QR code for `payload` (function 165/167/169/180/181), centred. */
export function qrBytes(payload: string, moduleSize = 4): Uint8Array {
  const data = utf8(payload);
  const store = data.length + 3;
  return concatBytes([
    Uint8Array.of(GS, 0x28, 0x6b, 4, 0, 0x31, 0x41, 0x32, 0x00), // model 2
    Uint8Array.of(GS, 0x28, 0x6b, 3, 0, 0x31, 0x43, Math.max(1, Math.min(16, moduleSize))), // module size
    Uint8Array.of(GS, 0x28, 0x6b, 3, 0, 0x31, 0x45, 0x31), // error correction M
    Uint8Array.of(GS, 0x28, 0x6b, store & 0xff, store >> 8, 0x31, 0x50, 0x30),
    data,
    Uint8Array.of(GS, 0x28, 0x6b, 3, 0, 0x31, 0x51, 0x30), // print
  ]);
}

/** What a bridge prints at the foot of a committed receipt. */
export interface FooterOptions {
  /** The printer's code page at that point (labels are written in it). */
  readonly encoding: Encoding;
  /** The printer is in Kanji mode: leave it around the labels. */
  readonly doubleByte: boolean;
  readonly qr: boolean;
  readonly qrModuleSize: number;
  /** Lines above the code; `{mccqt}` is replaced. */
  readonly lines: readonly string[];
}

/** Footer bytes: centred labels with the MCCQT, the lookup QR, a feed; then the caller's held cut. */
export function footerBytes(invoice: { readonly mccqt: string; readonly qr: string }, o: FooterOptions): Uint8Array {
  const vietnamese =
    o.encoding === "cp1258" || o.encoding === "tcvn3" || o.encoding === "viscii" || o.encoding === "utf8";
  const parts: Uint8Array[] = [];
  if (o.doubleByte) parts.push(CMD.kanjiOff);
  parts.push(CMD.lf, CMD.align("center"));
  for (const line of o.lines) {
    const text = line.replaceAll("{mccqt}", invoice.mccqt);
    parts.push(encodeText(vietnamese ? text : stripDiacritics(text), o.encoding), CMD.lf);
  }
  if (o.qr && invoice.qr !== "") parts.push(qrBytes(invoice.qr, o.qrModuleSize), CMD.lf);
  parts.push(CMD.align("left"), CMD.feed(3));
  if (o.doubleByte) parts.push(CMD.kanjiOn);
  return concatBytes(parts);
}

// ---------------------------------------------------------------------------------------------------------------
// Whole receipts, as the simulator's POS prints them (layout of the built-in `hoadon-sim` template).

/** The shop printed at the top. */
export interface ShopHeader {
  readonly name: string;
  readonly address: string;
  readonly taxCode: string;
}

/** How to render a receipt. */
export interface RenderOptions {
  /** Text encoding, or `raster`: every line drawn as a picture (no text at all). */
  readonly codePage: Exclude<Encoding, "tcvn3-caps"> | "raster";
  /** `ESC t` numbers of the printer (Epson's by default). */
  readonly pages?: PageNumbers;
  readonly cut?: CutStyle;
  /** Characters per line (48 on 80 mm paper, 32 on 58 mm). */
  readonly width?: number;
  readonly shop?: ShopHeader;
  /** A raster logo at the top (its data contains `1D 56` on purpose: it must not be read as a cut). */
  readonly logo?: boolean;
  /** A QR of the receipt number and a CODE128 barcode at the bottom (data the tokenizer must skip). */
  readonly codes?: boolean;
  /** Open the cash drawer (`ESC p`) when paid in cash. */
  readonly drawer?: boolean;
  /** Send `FS .` after `ESC @` (printers that start in Kanji mode). */
  readonly kanjiGuard?: boolean;
}

const DEFAULT_SHOP: ShopHeader = {
  name: "CỬA HÀNG SAO MAI",
  address: "12 Nguyễn Huệ, Q.1, TP. Hồ Chí Minh",
  taxCode: "0312345673",
};

const METHOD_WORD: Readonly<Record<string, string>> = {
  cash: "Tiền mặt",
  card: "Thẻ",
  transfer: "Chuyển khoản",
  ewallet: "Ví điện tử",
  other: "Khác",
};

/** A printed line and how it looks. */
export interface PrintLine {
  readonly text: string;
  readonly align?: "left" | "center";
  readonly bold?: boolean;
  readonly big?: boolean;
}

const columns = (left: string, right: string, width: number): string => {
  const gap = width - left.length - right.length;
  return `${left}${" ".repeat(Math.max(1, gap))}${right}`;
};

/** A receipt as lines of text in the `hoadon-sim` layout (what the built-in template reads back). */
export function receiptLines(receipt: ReceiptInput, width = 48, shop: ShopHeader = DEFAULT_SHOP): PrintLine[] {
  const rule = "-".repeat(width);
  const t = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})/.exec(receipt.issuedAt);
  const when = t ? `${t[3]}/${t[2]}/${t[1]} ${t[4]}:${t[5]}:${t[6]}` : receipt.issuedAt;
  const out: PrintLine[] = [
    { text: shop.name, align: "center", bold: true, big: true },
    { text: shop.address, align: "center" },
    { text: `MST: ${shop.taxCode}`, align: "center" },
    { text: "PHIẾU TÍNH TIỀN", align: "center", bold: true },
    { text: `Số: ${receipt.receiptId}` },
    { text: `Ngày: ${when}` },
    { text: rule },
  ];
  const discounts = receipt.lines.filter((l) => l.kind === "discount");
  for (const line of receipt.lines) {
    if (line.kind === "discount") continue;
    out.push({ text: line.name });
    const qty = line.quantity === undefined ? "1" : formatQuantity(line.quantity);
    const unit = line.unit ? ` ${line.unit}` : "";
    const vat = line.vatRate ? ` (${line.vatRate})` : "";
    const left = `  ${qty}${unit} x ${formatDong(line.unitPrice ?? line.amount ?? 0)}${vat}`;
    out.push({ text: columns(left, formatDong(line.amount ?? 0), width) });
    if (line.discount) out.push({ text: columns("  Giảm giá", `-${formatDong(line.discount)}`, width) });
  }
  out.push({ text: rule });
  for (const d of discounts) out.push({ text: columns(`${d.name}:`, `-${formatDong(d.amount ?? 0)}`, width) });
  out.push({ text: columns("TỔNG CỘNG:", formatDong(receipt.total), width), bold: true });
  for (const p of receipt.payments ?? [])
    out.push({ text: columns(`${METHOD_WORD[p.method]}:`, formatDong(p.amount), width) });
  const b = receipt.buyer;
  if (b) {
    if (b.personName) out.push({ text: `Người mua: ${b.personName}` });
    if (b.name) out.push({ text: `Đơn vị: ${b.name}` });
    if (b.taxCode) out.push({ text: `MST người mua: ${b.taxCode}` });
    if (b.address) out.push({ text: `Địa chỉ: ${b.address}` });
    if (b.citizenId) out.push({ text: `CCCD: ${b.citizenId}` });
  }
  out.push({ text: rule }, { text: "Cảm ơn quý khách!", align: "center" });
  return out;
}

/** The 5×7 ASCII font of Adafruit GFX (glcdfont.c, BSD licence), 0x20–0x7E, 5 column bytes each, bit 0 on top. */
const FONT = fromHex(
  "000000000000005f00000007000700147f147f14242a7f2a12231308646236495620500008070300001c2241000041221c00" +
    "2a1c7f1c2a08083e080800807030000808080808000060600020100804023e5149453e00427f400072494949462141494d33" +
    "1814127f1027454545393c4a49493141211109073649494936464949291e0000140000004034000000081422411414141414" +
    "004122140802015909063e415d594e7c1211127c7f494949363e414141227f4141413e7f494949417f090909013e41415173" +
    "7f0808087f00417f41002040413f017f081422417f404040407f021c027f7f0408107f3e4141413e7f090909063e4151215e" +
    "7f09192946264949493203017f01033f4040403f1f2040201f3f4038403f631408146303047804036159494d43007f414141" +
    "0204081020004141417f04020102044040404040000307080020545478407f284444383844444428384444287f3854545418" +
    "00087e090218a4a49c787f0804047800447d40002040403d007f1028440000417f40007c047804787c080404783844444438" +
    "fc1824241818242418fc7c08040408485454542404043f44243c4040207c1c2040201c3c4030403c44281028444c9090907c" +
    "4464544c440008364100000077000000413608000201020402",
);

/** One line of text as a raster image: 6 dots per character, 10 dots high. */
export function rasterLine(text: string, widthChars: number): Uint8Array {
  const plain = stripDiacritics(text);
  const widthBytes = Math.ceil((widthChars * 6) / 8);
  const height = 10;
  const bits = new Uint8Array(widthBytes * height);
  for (let i = 0; i < Math.min(plain.length, widthChars); i++) {
    let code = plain.charCodeAt(i);
    if (code < 0x20 || code > 0x7e) code = 0x3f;
    for (let col = 0; col < 5; col++) {
      const column = FONT[(code - 0x20) * 5 + col]!;
      const x = i * 6 + col;
      for (let row = 0; row < 8; row++) {
        if (column & (1 << row)) bits[(row + 1) * widthBytes + (x >> 3)]! |= 0x80 >> (x & 7);
      }
    }
  }
  return concatBytes([Uint8Array.of(GS, 0x76, 0x30, 0, widthBytes & 0xff, widthBytes >> 8, height, 0), bits]);
}

/** A small raster logo whose data contains `1D 56 00` (a cut, if a parser miscounted) and `0A`. */
export function logoBytes(): Uint8Array {
  const widthBytes = 8;
  const height = 16;
  const bits = new Uint8Array(widthBytes * height);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < widthBytes; x++) bits[y * widthBytes + x] = (x + y) % 3 ? 0xff : 0x0a;
  bits.set([0x1d, 0x56, 0x00, 0x1b, 0x69, 0x0a], 40);
  return concatBytes([Uint8Array.of(GS, 0x76, 0x30, 0, widthBytes, 0, height, 0), bits]);
}

/** A whole receipt as a POS sends it to the printer. */
export function renderReceipt(receipt: ReceiptInput, o: RenderOptions): Uint8Array {
  const width = o.width ?? 48;
  const pages = { ...EPSON_PAGES, ...o.pages };
  const lines = receiptLines(receipt, width, o.shop);
  const parts: Uint8Array[] = [CMD.init];
  if (o.kanjiGuard) parts.push(CMD.kanjiOff);
  if (o.codePage !== "raster" && o.codePage !== "utf8") parts.push(CMD.codePage(pages[o.codePage] ?? 0));
  if (o.logo) parts.push(CMD.align("center"), logoBytes(), CMD.align("left"));
  for (const line of lines) {
    if (o.codePage === "raster") {
      parts.push(
        rasterLine(
          line.align === "center" ? line.text.padStart(Math.floor((width + line.text.length) / 2)) : line.text,
          width,
        ),
      );
      continue;
    }
    if (line.align === "center") parts.push(CMD.align("center"));
    if (line.bold) parts.push(CMD.bold(true));
    if (line.big) parts.push(CMD.size(0x11));
    parts.push(encodeText(line.text, o.codePage, pages), CMD.lf);
    if (line.big) parts.push(CMD.size(0));
    if (line.bold) parts.push(CMD.bold(false));
    if (line.align === "center") parts.push(CMD.align("left"));
  }
  if (o.codes) {
    const id = utf8(receipt.receiptId.slice(0, 64));
    parts.push(CMD.align("center"), qrBytes(receipt.receiptId, 3));
    parts.push(Uint8Array.of(GS, 0x6b, 73, id.length + 2, 0x7b, 0x42), id, CMD.lf, CMD.align("left"));
  }
  if (o.drawer && receipt.payments?.some((p) => p.method === "cash")) parts.push(CMD.drawer);
  parts.push(CMD.feed(4), cutBytes(o.cut ?? "GS V 66"));
  return concatBytes(parts);
}
