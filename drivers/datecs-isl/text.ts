/**
 * Text, money and time as the Datecs/ISL protocol writes them (README.md "Text and numbers"): Vietnamese text in
 * cp1258 or UTF-8, prices like `25000.00` as whole đồng, dates like `20-11-26 10:02:15` in Vietnam time.
 * Pure helpers; the driver may import nothing but the driver API, so the cp1258 table lives here.
 */
import { utf8, utf8Text } from "../../src/driver-api/index.js";

/** How the register writes text inside frames (every DATA byte is ≥ 0x20 in all three, so frames stay unambiguous). */
export type TextEncoding = "cp1258" | "utf-8" | "auto";

// ---------------------------------------------------------------------------------------------------------------
// cp1258 (Windows Vietnamese): bytes 0x80–0xFF. Tone marks are separate combining bytes (CC, D2, DE, EC, F2), so a
// precomposed letter such as "ữ" travels as "ư" (FD) + tilde (DE).

// biome-ignore format: one row per 16 bytes reads like the code page chart
const CP1258_HIGH = [
  0x20ac, 0x0081, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x008a, 0x2039, 0x0152, 0x008d, 0x008e, 0x008f,
  0x0090, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x009a, 0x203a, 0x0153, 0x009d, 0x009e, 0x0178,
  0x00a0, 0x00a1, 0x00a2, 0x00a3, 0x00a4, 0x00a5, 0x00a6, 0x00a7, 0x00a8, 0x00a9, 0x00aa, 0x00ab, 0x00ac, 0x00ad, 0x00ae, 0x00af,
  0x00b0, 0x00b1, 0x00b2, 0x00b3, 0x00b4, 0x00b5, 0x00b6, 0x00b7, 0x00b8, 0x00b9, 0x00ba, 0x00bb, 0x00bc, 0x00bd, 0x00be, 0x00bf,
  0x00c0, 0x00c1, 0x00c2, 0x0102, 0x00c4, 0x00c5, 0x00c6, 0x00c7, 0x00c8, 0x00c9, 0x00ca, 0x00cb, 0x0300, 0x00cd, 0x00ce, 0x00cf,
  0x0110, 0x00d1, 0x0309, 0x00d3, 0x00d4, 0x01a0, 0x00d6, 0x00d7, 0x00d8, 0x00d9, 0x00da, 0x00db, 0x00dc, 0x01af, 0x0303, 0x00df,
  0x00e0, 0x00e1, 0x00e2, 0x0103, 0x00e4, 0x00e5, 0x00e6, 0x00e7, 0x00e8, 0x00e9, 0x00ea, 0x00eb, 0x0301, 0x00ed, 0x00ee, 0x00ef,
  0x0111, 0x00f1, 0x0323, 0x00f3, 0x00f4, 0x01a1, 0x00f6, 0x00f7, 0x00f8, 0x00f9, 0x00fa, 0x00fb, 0x00fc, 0x01b0, 0x20ab, 0x00ff,
] as const;

const CP1258_BY_CHAR = new Map<string, number>();
for (let i = 0; i < CP1258_HIGH.length; i++) CP1258_BY_CHAR.set(String.fromCodePoint(CP1258_HIGH[i]!), 0x80 + i);

/** The five Vietnamese tone marks as combining characters. */
const TONE_MARK = /[\u0300\u0301\u0303\u0309\u0323]/u;

/** cp1258 bytes → NFC text. Never fails: every byte has a character. */
export function cp1258Decode(bytes: Uint8Array): string {
  let s = "";
  for (const b of bytes) s += b < 0x80 ? String.fromCharCode(b) : String.fromCodePoint(CP1258_HIGH[b - 0x80]!);
  return s.normalize("NFC");
}

/** Text → cp1258 bytes: letters cp1258 lacks are split into base + tone byte; anything else unmappable becomes `?`. */
export function cp1258Encode(text: string): Uint8Array {
  const out: number[] = [];
  const put = (ch: string): boolean => {
    const cp = ch.codePointAt(0)!;
    if (ch.length === 1 && cp < 0x80) {
      out.push(cp);
      return true;
    }
    const b = CP1258_BY_CHAR.get(ch);
    if (b === undefined) return false;
    out.push(b);
    return true;
  };
  for (const ch of text.normalize("NFC")) {
    if (put(ch)) continue;
    // e.g. "ữ" → "ư" + U+0303: recompose everything but the tone mark, then write the tone as its own byte.
    const parts = [...ch.normalize("NFD")];
    const tone = parts.find((p) => TONE_MARK.test(p));
    const base = parts
      .filter((p) => p !== tone)
      .join("")
      .normalize("NFC");
    if (tone !== undefined && [...base].length === 1 && put(base) && put(tone)) continue;
    out.push(0x3f); // "?"
  }
  return Uint8Array.from(out);
}

/** DATA bytes → NFC text, or `undefined` when they are not valid in the chosen encoding. */
export function decodeText(bytes: Uint8Array, encoding: TextEncoding): string | undefined {
  if (encoding === "cp1258") return cp1258Decode(bytes);
  const text = utf8Text(bytes);
  if (text !== undefined) return text.normalize("NFC");
  return encoding === "auto" ? cp1258Decode(bytes) : undefined;
}

/** Text → DATA bytes (`auto` writes UTF-8). */
export function encodeText(text: string, encoding: TextEncoding): Uint8Array {
  return encoding === "cp1258" ? cp1258Encode(text) : utf8(text.normalize("NFC"));
}

// ---------------------------------------------------------------------------------------------------------------
// Money and quantities: exact decimal arithmetic on bigint, never floats.

/** A price or amount as written (`25000`, `25000.00`) → whole đồng; `undefined` for a fraction of a đồng or junk. */
export function parseDong(text: string): bigint | undefined {
  const m = /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(text);
  if (!m) return undefined;
  if (m[2] !== undefined && !/^0+$/.test(m[2])) return undefined;
  return BigInt(m[1]!);
}

/** Whole đồng → the protocol's form with two decimals (`25000.00`), signed when negative. */
export function formatDong(amount: bigint): string {
  return `${amount}.00`;
}

/** A quantity as written (`2`, `0.5`, `1.250`): up to 9 integer digits and 6 decimals, greater than zero. */
export function isQuantity(text: string): boolean {
  return /^\d{1,9}(\.\d{1,6})?$/.test(text) && !/^0+(\.0+)?$/.test(text);
}

/** round(a / b) half away from zero, b > 0. */
export function divRound(a: bigint, b: bigint): bigint {
  const neg = a < 0n;
  const abs = neg ? -a : a;
  const q = (abs * 2n + b) / (2n * b);
  return neg ? -q : q;
}

/** quantity × unit price rounded to whole đồng, exactly. */
export function lineGross(quantity: string, unitPrice: bigint): bigint {
  const [int, frac = ""] = quantity.split(".");
  const scaled = BigInt(int! + frac.padEnd(6, "0"));
  return divRound(scaled * unitPrice, 1_000_000n);
}

/** A percentage as written (`10`, `10.5`, `-10.00`) in hundredths of a percent, or `undefined`. */
export function parsePercent(text: string): bigint | undefined {
  const m = /^([+-]?)(\d{1,2})(?:\.(\d{1,2}))?$/.exec(text);
  if (!m) return undefined;
  const v = BigInt(m[2]!) * 100n + BigInt((m[3] ?? "").padEnd(2, "0") || "0");
  return m[1] === "-" ? -v : v;
}

// ---------------------------------------------------------------------------------------------------------------
// Time: the printer's clock is Vietnam local time (UTC+7, no daylight saving since 1975).

const VN_OFFSET_MS = 7 * 3_600_000;

/** `YYYY-MM-DDThh:mm:ss+07:00` for epoch ms (whole seconds, rounded down). */
export function vnIso(ms: number): string {
  return `${new Date(Math.floor(ms / 1000) * 1000 + VN_OFFSET_MS).toISOString().slice(0, 19)}+07:00`;
}

/** `DD-MM-YY hh:mm:ss` (commands 3D/3E) for epoch ms. */
export function datecsDateTime(ms: number): string {
  const iso = new Date(ms + VN_OFFSET_MS).toISOString();
  return `${iso.slice(8, 10)}-${iso.slice(5, 7)}-${iso.slice(2, 4)} ${iso.slice(11, 19)}`;
}

/** `YYYYMMDDThhmmss` (receipt ids) for epoch ms. */
export function compactDateTime(ms: number): string {
  return vnIso(ms).slice(0, 19).replace(/[-:]/g, "");
}

/**
 * `DD-MM-YY hh:mm[:ss]` (also with `.` or `/` between date parts, an optional ` DST` suffix) or the storno form
 * `DDMMYYhhmmss` → epoch ms, or `undefined`. Years are 20YY, as the protocol documents (operation until 2099).
 */
export function parseDatecsDateTime(text: string): number | undefined {
  const m =
    /^(\d{2})[-./](\d{2})[-./](\d{2}) (\d{2}):(\d{2})(?::(\d{2}))?(?: DST)?$/.exec(text.trim()) ??
    /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})$/.exec(text.trim());
  if (!m) return undefined;
  const [day, month, year, hour, minute, second] = [m[1], m[2], m[3], m[4], m[5], m[6] ?? "0"].map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return undefined;
  const utc = Date.UTC(2000 + year, month - 1, day, hour, minute, second);
  if (new Date(utc).getUTCDate() !== day) return undefined; // 31-02-26
  return utc - VN_OFFSET_MS;
}
