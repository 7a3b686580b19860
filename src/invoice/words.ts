/**
 * Amounts in Vietnamese words for `TgTTTBChu` (spec §6.5). The tax authority validates `TgTTTBSo`, not the wording
 * [U], so the aim is the wording providers print; `parseWords` reads every variant back for the arithmetic check.
 */

/** How `amountInWords` writes an amount. */
export interface WordsOptions {
  /** "north" (default): nghìn / linh. "south": ngàn / lẻ. */
  readonly style?: "north" | "south";
  /** The currency word(s) at the end; default "đồng" (spec §6.5: foreign currencies use their own name). */
  readonly currency?: string;
  /** A unit 4 after tens ≥ 2: "tư" (default, "hai mươi tư") or "bốn" ("hai mươi bốn"); both occur (spec §6.5). */
  readonly four?: "tư" | "bốn";
}

const DIGITS = ["không", "một", "hai", "ba", "bốn", "năm", "sáu", "bảy", "tám", "chín"] as const;

/** The largest amount we spell: one million tỷ. Invoice amounts are at most 15 digits (spec §2.3, 21,6). */
export const MAX_WORDS_AMOUNT = 10n ** 15n;

const BILLION = 1_000_000_000n;

interface Style {
  readonly thousand: string;
  readonly zeroTens: string;
  readonly four: string;
}

const digit = (d: number): string => DIGITS[d] as string;

/**
 * One group of three digits. `full` is set for every group after the first spoken one: it keeps "không trăm" and
 * "linh", so 1 005 reads "một nghìn không trăm linh năm" rather than "một nghìn năm".
 */
function readTriple(n: number, full: boolean, st: Style, out: string[]): void {
  const h = Math.floor(n / 100);
  const t = Math.floor(n / 10) % 10;
  const u = n % 10;
  const spokeHundreds = full || h > 0;
  if (spokeHundreds) out.push(digit(h), "trăm");
  if (t === 0) {
    if (u === 0) return;
    // "linh năm", "linh một", "linh bốn": after a zero ten the unit keeps its plain name.
    if (spokeHundreds) out.push(st.zeroTens);
    out.push(digit(u));
    return;
  }
  if (t === 1) {
    out.push("mười");
    // "mười một", "mười bốn" (mốt and tư only follow tens ≥ 2), but "mười lăm".
    if (u === 5) out.push("lăm");
    else if (u > 0) out.push(digit(u));
    return;
  }
  out.push(digit(t), "mươi");
  if (u === 1) out.push("mốt");
  else if (u === 4) out.push(st.four);
  else if (u === 5) out.push("lăm");
  else if (u > 0) out.push(digit(u));
}

/** n < 10^9 as millions, thousands, units. Empty groups are skipped together with their scale word. */
function readBelowBillion(n: number, spokeBefore: boolean, st: Style, out: string[]): void {
  const groups = [Math.floor(n / 1_000_000), Math.floor(n / 1000) % 1000, n % 1000];
  const scales = ["triệu", st.thousand, ""];
  let full = spokeBefore;
  for (let i = 0; i < 3; i++) {
    const g = groups[i] as number;
    if (g === 0) continue;
    readTriple(g, full, st, out);
    const scale = scales[i] as string;
    if (scale) out.push(scale);
    full = true;
  }
}

/** Above 10^9 the tỷ repeats: 10^12 is "một nghìn tỷ", 10^15 "một triệu tỷ" (the common convention). */
function readAny(n: bigint, spokeBefore: boolean, st: Style, out: string[]): void {
  if (n >= BILLION) {
    readAny(n / BILLION, spokeBefore, st, out);
    out.push("tỷ");
    readBelowBillion(Number(n % BILLION), true, st, out);
    return;
  }
  readBelowBillion(Number(n), spokeBefore, st, out);
}

/**
 * An amount in Vietnamese words, capitalised, ending with the currency word: 130400 →
 * "Một trăm ba mươi nghìn bốn trăm đồng", 0 → "Không đồng", −5 → "Âm năm đồng".
 *
 * @param n - whole amount, |n| ≤ 10^15
 * @throws RangeError when `n` is not a whole number or out of range (a bug in the caller, not bad input).
 */
export function amountInWords(n: bigint | number, opts: WordsOptions = {}): string {
  if (typeof n === "number" && !Number.isSafeInteger(n)) throw new RangeError(`not a whole amount: ${n}`);
  const v = BigInt(n);
  const abs = v < 0n ? -v : v;
  if (abs > MAX_WORDS_AMOUNT) throw new RangeError(`amount out of range for words (max 10^15): ${v}`);
  const south = opts.style === "south";
  const st: Style = {
    thousand: south ? "ngàn" : "nghìn",
    zeroTens: south ? "lẻ" : "linh",
    four: opts.four ?? "tư",
  };
  const words: string[] = [];
  if (v < 0n) words.push("âm");
  if (abs === 0n) words.push("không");
  else readAny(abs, false, st, words);
  words.push(opts.currency ?? "đồng");
  const s = words.join(" ");
  return s.charAt(0).toLocaleUpperCase("vi") + s.slice(1);
}

const DIGIT_WORDS: Readonly<Record<string, number>> = {
  không: 0,
  một: 1,
  mốt: 1,
  hai: 2,
  ba: 3,
  bốn: 4,
  tư: 4,
  năm: 5,
  lăm: 5,
  nhăm: 5,
  sáu: 6,
  bảy: 7,
  bẩy: 7,
  tám: 8,
  chín: 9,
};

const SCALE_WORDS: Readonly<Record<string, bigint>> = {
  nghìn: 1000n,
  ngàn: 1000n,
  triệu: 1_000_000n,
  tỷ: BILLION,
  tỉ: BILLION,
};

/**
 * Read Vietnamese amount words back into a number: the inverse of {@link amountInWords}, tolerant of the variants
 * other producers print (ngàn/nghìn, lẻ/linh, tư/bốn, tỉ/tỷ, a trailing "chẵn" or full stop, any letter case).
 *
 * @param currency - currency word(s) to strip from the end; default "đồng"
 * @throws RangeError on words that are not an amount.
 */
export function parseWords(s: string, currency = "đồng"): bigint {
  let text = s
    .normalize("NFC")
    .toLocaleLowerCase("vi")
    .trim()
    .replace(/[.,;]+$/, "");
  const cur = currency.normalize("NFC").toLocaleLowerCase("vi");
  text = text.replace(/\s+chẵn$/, "");
  if (text.endsWith(cur)) text = text.slice(0, -cur.length);
  const tokens = text.split(/\s+/).filter((t) => t !== "");
  let negative = false;
  if (tokens[0] === "âm") {
    negative = true;
    tokens.shift();
  }
  if (tokens.length === 0) throw new RangeError(`no amount in words: "${s}"`);

  let total = 0n;
  let small = 0; // the three-digit group being read
  let pending: number | undefined; // a digit word not yet placed
  const fail = (why: string): never => {
    throw new RangeError(`not an amount in words (${why}): "${s}"`);
  };
  for (const tok of tokens) {
    const d = DIGIT_WORDS[tok];
    if (d !== undefined) {
      if (pending !== undefined) fail(`two digits in a row at "${tok}"`);
      pending = d;
      continue;
    }
    const scale = SCALE_WORDS[tok];
    if (scale !== undefined) {
      const group = BigInt(small + (pending ?? 0));
      // Everything below this scale that was read so far belongs to it ("năm nghìn tỷ" = 5 000 × 10^9).
      const low = total % scale;
      total = total - low + (low + group) * scale;
      small = 0;
      pending = undefined;
      continue;
    }
    switch (tok) {
      case "trăm":
        if (pending === undefined) fail("trăm without a digit");
        small += (pending as number) * 100;
        pending = undefined;
        break;
      case "mươi":
        if (pending === undefined || pending < 2) fail("mươi without a digit ≥ 2");
        small += (pending as number) * 10;
        pending = undefined;
        break;
      case "mười":
        if (pending !== undefined) fail("a digit before mười");
        small += 10;
        break;
      case "linh":
      case "lẻ":
        break;
      default:
        fail(`unknown word "${tok}"`);
    }
  }
  total += BigInt(small + (pending ?? 0));
  return negative ? -total : total;
}
