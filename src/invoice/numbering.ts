/**
 * Invoice symbols and numbers (spec §3, §4; addendum §7). Pure formatting and validation: the counters that feed
 * these live in the store. Bad arguments here are configuration or programming errors, so they throw.
 */
import { isSafeId } from "../xml/canonical.js";

/** Cash-register `KHHDon`: C (coded), 2-digit year, M (cash register), 2 seller-chosen characters (spec §3.2). */
export const KHHDON_MTT_RE = /^C\d{2}M[A-Z0-9]{2}$/;

/** Cash-register `MCCQT`: `M{type}-{YY}-{5-char block}-{11 digits}` (spec §4; regex as in addendum §7 Q5). */
export const MCCQT_RE = /^M[1-9]-\d{2}-[A-Z0-9]{5}-\d{11}$/;

/** `SHDon`: 1 to 8 digits, no leading zero (spec §3.3). */
export const SHDON_RE = /^[1-9]\d{0,7}$/;

/** The largest `SHDon` (8 digits). */
export const SHDON_MAX = 99_999_999;

/** The largest 11-digit `MCCQT` sequence. */
export const MCCQT_SEQ_MAX = 99_999_999_999;

/** Two-digit year of a four-digit year (or of a two-digit one). */
function yy(year: number): string {
  if (!Number.isInteger(year) || year < 0 || year > 9999) throw new RangeError(`not a year: ${year}`);
  return String(year % 100).padStart(2, "0");
}

/**
 * `KHHDon` for a cash-register invoice: `formatKhhdon(2026, "AB")` → `C26MAB` (spec §3.2).
 *
 * @param suffix - two characters [A-Z0-9] chosen by the seller (Circular 91: `YY` when not needed)
 */
export function formatKhhdon(year: number, suffix: string): string {
  if (!/^[A-Z0-9]{2}$/.test(suffix)) throw new RangeError(`KHHDon suffix must be 2 characters A-Z/0-9: "${suffix}"`);
  return `C${yy(year)}M${suffix}`;
}

/**
 * `MCCQT` of a cash-register invoice: `formatMccqt("1", 2026, "A1B2C", 123)` → `M1-26-A1B2C-00000000123` (spec §4).
 * The 11 digits only have to be unique; they are independent of `SHDon` (addendum §7 Q5).
 *
 * @param typeDigit - the invoice form (`KHMSHDon`), 1–9
 * @param block - the 5 characters from the tax authority's acceptance notice (message 103)
 * @param seq - 0 … 99 999 999 999
 */
export function formatMccqt(typeDigit: string | number, year: number, block: string, seq: number | bigint): string {
  const t = String(typeDigit);
  if (!/^[1-9]$/.test(t)) throw new RangeError(`MCCQT type digit must be 1-9: "${t}"`);
  if (!/^[A-Z0-9]{5}$/.test(block)) throw new RangeError(`MCCQT block must be 5 characters A-Z/0-9: "${block}"`);
  const s = BigInt(seq);
  if (s < 0n || s > BigInt(MCCQT_SEQ_MAX)) throw new RangeError(`MCCQT sequence out of range: ${seq}`);
  return `M${t}-${yy(year)}-${block}-${s.toString().padStart(11, "0")}`;
}

/** The parts of an `MCCQT`, or undefined when it does not match {@link MCCQT_RE}. */
export function parseMccqt(s: string): { typeDigit: string; yy: string; block: string; seq: number } | undefined {
  if (!MCCQT_RE.test(s)) return undefined;
  return { typeDigit: s.slice(1, 2), yy: s.slice(3, 5), block: s.slice(6, 11), seq: Number(s.slice(12)) };
}

/** True for a whole `SHDon` in 1 … 99 999 999. */
export function isValidShdon(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= SHDON_MAX;
}

/**
 * The `DLHDon/@Id` (signing anchor, spec §2.1): `DLHDon-1C26MAB-123`. Always a safe NCName, so attribute-value
 * normalisation cannot change it (signing.md §2 pitfalls).
 */
export function dlhdonId(khmshdon: string, khhdon: string, shdon: number): string {
  const id = `DLHDon-${khmshdon}${khhdon}-${shdon}`;
  if (!isSafeId(id) || !isValidShdon(shdon)) throw new RangeError(`cannot make a safe DLHDon Id from ${id}`);
  return id;
}
