/**
 * Code pages for ESC/POS text (register-protocols.md §1a "Code pages and Vietnamese"), as data: no iconv. Only the
 * upper half (0x80–0xFF) differs between them; 0x20–0x7E is ASCII everywhere, and C0 bytes are never letters here
 * because the tokenizer has already taken them as control codes (TCVN-3 and VISCII put a few capitals in C0; on a
 * printer those bytes are commands, so they are not mapped).
 *
 * Sources: cp437 and cp1252 as published by IBM/Microsoft; cp1258 as in the WHATWG encoding standard (undefined bytes
 * → U+FFFD); TCVN-3 (TCVN 5712:1993 VN3) and VISCII as in libiconv / iconv-lite's `tcvn` and `viscii` tables.
 */

/** A text encoding a printer can be in. */
export type Encoding = "cp437" | "cp1252" | "cp1258" | "tcvn3" | "tcvn3-caps" | "viscii" | "utf8";

/** Every encoding, for option schemas. */
export const ENCODINGS = ["cp437", "cp1252", "cp1258", "tcvn3", "tcvn3-caps", "viscii", "utf8"] as const;

/**
 * Epson's `ESC t n` numbering (§1a): 0 PC437, 16 WPC1252, 30 TCVN-3-1 (lower case and base capitals), 31 TCVN-3-2
 * (the same bytes drawn as capitals), 52 WPC1258. Other makers number differently (Xprinter "27 = Vietnam", 94 for
 * cp1258 on another): a register's `codePages` option overrides this per printer.
 */
export const EPSON_CODE_PAGES: Readonly<Record<number, Encoding>> = {
  0: "cp437",
  16: "cp1252",
  30: "tcvn3",
  31: "tcvn3-caps",
  52: "cp1258",
};

const CP437_HIGH =
  "\u00c7\u00fc\u00e9\u00e2\u00e4\u00e0\u00e5\u00e7\u00ea\u00eb\u00e8\u00ef\u00ee\u00ec\u00c4\u00c5" +
  "\u00c9\u00e6\u00c6\u00f4\u00f6\u00f2\u00fb\u00f9\u00ff\u00d6\u00dc\u00a2\u00a3\u00a5\u20a7\u0192" +
  "\u00e1\u00ed\u00f3\u00fa\u00f1\u00d1\u00aa\u00ba\u00bf\u2310\u00ac\u00bd\u00bc\u00a1\u00ab\u00bb" +
  "\u2591\u2592\u2593\u2502\u2524\u2561\u2562\u2556\u2555\u2563\u2551\u2557\u255d\u255c\u255b\u2510" +
  "\u2514\u2534\u252c\u251c\u2500\u253c\u255e\u255f\u255a\u2554\u2569\u2566\u2560\u2550\u256c\u2567" +
  "\u2568\u2564\u2565\u2559\u2558\u2552\u2553\u256b\u256a\u2518\u250c\u2588\u2584\u258c\u2590\u2580" +
  "\u03b1\u00df\u0393\u03c0\u03a3\u03c3\u00b5\u03c4\u03a6\u0398\u03a9\u03b4\u221e\u03c6\u03b5\u2229" +
  "\u2261\u00b1\u2265\u2264\u2320\u2321\u00f7\u2248\u00b0\u2219\u00b7\u221a\u207f\u00b2\u25a0\u00a0";

const CP1252_HIGH =
  "\u20ac\ufffd\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\ufffd\u017d\ufffd" +
  "\ufffd\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\ufffd\u017e\u0178" +
  "\u00a0\u00a1\u00a2\u00a3\u00a4\u00a5\u00a6\u00a7\u00a8\u00a9\u00aa\u00ab\u00ac\u00ad\u00ae\u00af" +
  "\u00b0\u00b1\u00b2\u00b3\u00b4\u00b5\u00b6\u00b7\u00b8\u00b9\u00ba\u00bb\u00bc\u00bd\u00be\u00bf" +
  "\u00c0\u00c1\u00c2\u00c3\u00c4\u00c5\u00c6\u00c7\u00c8\u00c9\u00ca\u00cb\u00cc\u00cd\u00ce\u00cf" +
  "\u00d0\u00d1\u00d2\u00d3\u00d4\u00d5\u00d6\u00d7\u00d8\u00d9\u00da\u00db\u00dc\u00dd\u00de\u00df" +
  "\u00e0\u00e1\u00e2\u00e3\u00e4\u00e5\u00e6\u00e7\u00e8\u00e9\u00ea\u00eb\u00ec\u00ed\u00ee\u00ef" +
  "\u00f0\u00f1\u00f2\u00f3\u00f4\u00f5\u00f6\u00f7\u00f8\u00f9\u00fa\u00fb\u00fc\u00fd\u00fe\u00ff";

const CP1258_HIGH =
  "\u20ac\ufffd\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\ufffd\u2039\u0152\ufffd\ufffd\ufffd" +
  "\ufffd\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\ufffd\u203a\u0153\ufffd\ufffd\u0178" +
  "\u00a0\u00a1\u00a2\u00a3\u00a4\u00a5\u00a6\u00a7\u00a8\u00a9\u00aa\u00ab\u00ac\u00ad\u00ae\u00af" +
  "\u00b0\u00b1\u00b2\u00b3\u00b4\u00b5\u00b6\u00b7\u00b8\u00b9\u00ba\u00bb\u00bc\u00bd\u00be\u00bf" +
  "\u00c0\u00c1\u00c2\u0102\u00c4\u00c5\u00c6\u00c7\u00c8\u00c9\u00ca\u00cb\u0300\u00cd\u00ce\u00cf" +
  "\u0110\u00d1\u0309\u00d3\u00d4\u01a0\u00d6\u00d7\u00d8\u00d9\u00da\u00db\u00dc\u01af\u0303\u00df" +
  "\u00e0\u00e1\u00e2\u0103\u00e4\u00e5\u00e6\u00e7\u00e8\u00e9\u00ea\u00eb\u0301\u00ed\u00ee\u00ef" +
  "\u0111\u00f1\u0323\u00f3\u00f4\u01a1\u00f6\u00f7\u00f8\u00f9\u00fa\u00fb\u00fc\u01b0\u20ab\u00ff";

const TCVN3_HIGH =
  "\u00c0\u1ea2\u00c3\u00c1\u1ea0\u1eb6\u1eac\u00c8\u1eba\u1ebc\u00c9\u1eb8\u1ec6\u00cc\u1ec8\u0128" +
  "\u00cd\u1eca\u00d2\u1ece\u00d5\u00d3\u1ecc\u1ed8\u1edc\u1ede\u1ee0\u1eda\u1ee2\u00d9\u1ee6\u0168" +
  "\u00a0\u0102\u00c2\u00ca\u00d4\u01a0\u01af\u0110\u0103\u00e2\u00ea\u00f4\u01a1\u01b0\u0111\u1eb0" +
  "\u0300\u0309\u0303\u0301\u0323\u00e0\u1ea3\u00e3\u00e1\u1ea1\u1eb2\u1eb1\u1eb3\u1eb5\u1eaf\u1eb4" +
  "\u1eae\u1ea6\u1ea8\u1eaa\u1ea4\u1ec0\u1eb7\u1ea7\u1ea9\u1eab\u1ea5\u1ead\u00e8\u1ec2\u1ebb\u1ebd" +
  "\u00e9\u1eb9\u1ec1\u1ec3\u1ec5\u1ebf\u1ec7\u00ec\u1ec9\u1ec4\u1ebe\u1ed2\u0129\u00ed\u1ecb\u00f2" +
  "\u1ed4\u1ecf\u00f5\u00f3\u1ecd\u1ed3\u1ed5\u1ed7\u1ed1\u1ed9\u1edd\u1edf\u1ee1\u1edb\u1ee3\u00f9" +
  "\u1ed6\u1ee7\u0169\u00fa\u1ee5\u1eeb\u1eed\u1eef\u1ee9\u1ef1\u1ef3\u1ef7\u1ef9\u00fd\u1ef5\u1ed0";

const VISCII_HIGH =
  "\u1ea0\u1eae\u1eb0\u1eb6\u1ea4\u1ea6\u1ea8\u1eac\u1ebc\u1eb8\u1ebe\u1ec0\u1ec2\u1ec4\u1ec6\u1ed0" +
  "\u1ed2\u1ed4\u1ed6\u1ed8\u1ee2\u1eda\u1edc\u1ede\u1eca\u1ece\u1ecc\u1ec8\u1ee6\u0168\u1ee4\u1ef2" +
  "\u00d5\u1eaf\u1eb1\u1eb7\u1ea5\u1ea7\u1ea9\u1ead\u1ebd\u1eb9\u1ebf\u1ec1\u1ec3\u1ec5\u1ec7\u1ed1" +
  "\u1ed3\u1ed5\u1ed7\u1ee0\u01a0\u1ed9\u1edd\u1edf\u1ecb\u1ef0\u1ee8\u1eea\u1eec\u01a1\u1edb\u01af" +
  "\u00c0\u00c1\u00c2\u00c3\u1ea2\u0102\u1eb3\u1eb5\u00c8\u00c9\u00ca\u1eba\u00cc\u00cd\u0128\u1ef3" +
  "\u0110\u1ee9\u00d2\u00d3\u00d4\u1ea1\u1ef7\u1eeb\u1eed\u00d9\u00da\u1ef9\u1ef5\u00dd\u1ee1\u01b0" +
  "\u00e0\u00e1\u00e2\u00e3\u1ea3\u0103\u1eef\u1eab\u00e8\u00e9\u00ea\u1ebb\u00ec\u00ed\u0129\u1ec9" +
  "\u0111\u1ef1\u00f2\u00f3\u00f4\u00f5\u1ecf\u1ecd\u1ee5\u00f9\u00fa\u0169\u1ee7\u00fd\u1ee3\u1eee";

const HIGH: Readonly<Record<Exclude<Encoding, "utf8" | "tcvn3-caps">, string>> = {
  cp437: CP437_HIGH,
  cp1252: CP1252_HIGH,
  cp1258: CP1258_HIGH,
  tcvn3: TCVN3_HIGH,
  viscii: VISCII_HIGH,
};

const utf8Decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/**
 * Text bytes → a string (not yet NFC). `bytes` holds only text bytes (0x20–0x7E and 0x80–0xFF); anything else is
 * dropped. `doubleByte`: the printer is in Kanji (FS &) mode, where bytes ≥ 0x80 come in pairs we cannot read
 * (each pair → U+FFFD).
 */
export function decodeText(bytes: Uint8Array, encoding: Encoding, doubleByte = false): string {
  if (encoding === "utf8" && !doubleByte) return utf8Decoder.decode(bytes);
  const table = HIGH[encoding === "tcvn3-caps" || encoding === "utf8" ? "tcvn3" : encoding];
  let out = "";
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 0x80) {
      if (b >= 0x20 && b < 0x7f) out += String.fromCharCode(b);
    } else if (doubleByte) {
      out += "\ufffd";
      i++;
    } else {
      out += table[b - 0x80]!;
    }
  }
  // TCVN-3-2 is the capital font of the same byte layout (.VnTimeH): every letter prints as a capital.
  return encoding === "tcvn3-caps" ? out.toUpperCase() : out;
}

/** The five Vietnamese tone marks cp1258 writes as separate bytes (0xCC, 0xEC, 0xD2, 0xDE, 0xF2). */
const TONES = ["\u0300", "\u0301", "\u0309", "\u0303", "\u0323"];

/** Reverse tables for the simulator's encoder: NFC character → byte. */
const REVERSE = new Map<string, Map<string, number>>();
function reverse(encoding: Exclude<Encoding, "utf8" | "tcvn3-caps">): Map<string, number> {
  let map = REVERSE.get(encoding);
  if (!map) {
    map = new Map();
    const table = HIGH[encoding];
    for (let i = 0; i < 128; i++) {
      const ch = table[i]!;
      if (ch !== "\ufffd" && !map.has(ch)) map.set(ch, 0x80 + i);
    }
    REVERSE.set(encoding, map);
  }
  return map;
}

/**
 * One character in a single-byte encoding, or `undefined` when it has no byte there. cp1258 writes Vietnamese
 * decomposed (base letter + tone mark, as Windows does); TCVN-3 page 30 has no accented capitals (they are on page
 * 31, see {@link encodeTcvn3}).
 */
export function encodeChar(ch: string, encoding: Exclude<Encoding, "utf8" | "tcvn3-caps">): number[] | undefined {
  const code = ch.codePointAt(0)!;
  if (code >= 0x20 && code < 0x7f) return [code];
  const map = reverse(encoding);
  const direct = map.get(ch);
  // TCVN-3 page 30: only the VN3 range (0xA1–0xFF); the VN1 capitals at 0x80–0x9F are not on Epson's page.
  if (direct !== undefined && !(encoding === "tcvn3" && direct < 0xa1)) return [direct];
  if (encoding === "cp1258") {
    // Base letter (possibly with its own breve/circumflex/horn) + one tone mark. NFD puts a dot below before the
    // circumflex ("Ộ" = O + U+0323 + U+0302), so the tone is looked for anywhere, not only last.
    const nfd = [...ch.normalize("NFD")];
    const at = nfd.findIndex((c, i) => i > 0 && TONES.includes(c));
    if (at > 0) {
      const toneByte = map.get(nfd[at]!);
      const base = nfd
        .filter((_, i) => i !== at)
        .join("")
        .normalize("NFC");
      const baseBytes = base.length === 1 ? encodeChar(base, encoding) : undefined;
      if (baseBytes && toneByte !== undefined) return [...baseBytes, toneByte];
    }
  }
  return undefined;
}

/** Vietnamese without its diacritics, for printers whose code page has none ("Mã CQT" → "Ma CQT"). */
export function stripDiacritics(text: string): string {
  return text
    .normalize("NFD")
    .replace(/[\u0300-\u036f]/g, "")
    .replace(/đ/g, "d")
    .replace(/Đ/g, "D");
}
