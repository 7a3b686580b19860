/**
 * Numbers as Vietnamese receipts print them: `50.000`, `50,000đ`, `50.000 VND`, `1.250.000 ₫`, `0,5` kg. Money is
 * whole đồng (a printed amount with non-zero decimals is refused, not rounded); quantities become the Receipt's
 * decimal strings (`"0.5"`).
 */

const CURRENCY = /^(?:vnđ|vnd|đ|₫|d|đồng|dong)\.?\s*|\s*(?:vnđ|vnd|đ|₫|đồng|dong|d)\.?$/giu;

/** Whole đồng from a printed amount (`-` allowed in front), or `undefined` when it is not a whole amount. */
export function parseDong(text: string): number | undefined {
  let s = text.normalize("NFC").trim().replace(CURRENCY, "").trim();
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("−")) {
    sign = -1;
    s = s.slice(1).trim();
  }
  // Spaces (also no-break) as thousands separators: "1 250 000".
  s = s.replace(/(?<=\d)[\s\u00a0\u202f](?=\d{3}\b)/g, "");
  let digits: string | undefined;
  if (/^\d+$/.test(s)) digits = s;
  else if (/^\d{1,3}(?:\.\d{3})+$/.test(s) || /^\d{1,3}(?:,\d{3})+$/.test(s)) digits = s.replace(/[.,]/g, "");
  else {
    // Decimals are allowed only when they are zero: "50.000,00", "50,000.00", "50000,0".
    const m = /^(\d{1,3}(?:([.,])\d{3})*|\d+)([.,])(\d{1,2})$/.exec(s);
    if (m && m[2] !== m[3] && /^0+$/.test(m[4]!)) digits = m[1]!.replace(/[.,]/g, "");
  }
  if (digits === undefined || digits.length > 15) return undefined;
  const value = Number(digits);
  return Number.isSafeInteger(value) ? sign * value : undefined;
}

/**
 * A printed quantity → a decimal string without exponent or trailing zeros (`"0,50"` → `"0.5"`), or `undefined`.
 * `decimal` is the shop's decimal separator. A lone other separator followed by exactly three digits is a thousands
 * separator (`1.000` with `decimal = ","` is one thousand); anything else with one separator is a decimal point.
 */
export function parseQuantity(text: string, decimal: "," | "."): string | undefined {
  const s = text.trim();
  if (!/^\d[\d.,]*$/.test(s)) return undefined;
  const other = decimal === "," ? "." : ",";
  let intPart = s;
  let frac = "";
  if (s.includes(",") && s.includes(".")) {
    // Both: the last one is the decimal point, the other groups thousands.
    const last = Math.max(s.lastIndexOf(","), s.lastIndexOf("."));
    intPart = s.slice(0, last);
    frac = s.slice(last + 1);
    const group = s[last] === "," ? "." : ",";
    if (!new RegExp(`^\\d{1,3}(?:\\${group}\\d{3})*$`).test(intPart)) return undefined;
    intPart = intPart.replaceAll(group, "");
  } else if (s.includes(decimal)) {
    const parts = s.split(decimal);
    if (parts.length !== 2) return undefined;
    [intPart, frac] = parts as [string, string];
  } else if (s.includes(other)) {
    if (new RegExp(`^\\d{1,3}(?:\\${other}\\d{3})+$`).test(s)) intPart = s.replaceAll(other, "");
    else {
      const parts = s.split(other);
      if (parts.length !== 2) return undefined;
      [intPart, frac] = parts as [string, string];
    }
  }
  if (!/^\d+$/.test(intPart) || !/^\d*$/.test(frac)) return undefined;
  intPart = intPart.replace(/^0+(?=\d)/, "");
  frac = frac.replace(/0+$/, "");
  if (frac.length > 6 || intPart.length > 15) return undefined;
  return frac === "" ? intPart : `${intPart}.${frac}`;
}

/** `round(quantity × unitPrice)` in đồng, half up, without floating point (the write path's rule). */
export function lineAmount(quantity: string, unitPrice: number): number {
  const [i, f = ""] = quantity.split(".");
  const scale = 10n ** BigInt(f.length);
  const q = BigInt(i! + f);
  const product = q * BigInt(unitPrice);
  return Number((product * 2n + scale) / (2n * scale));
}

/** Whole đồng written the Vietnamese way: 1250000 → "1.250.000". */
export function formatDong(amount: number): string {
  const s = String(Math.abs(amount));
  const grouped = s.replace(/\B(?=(\d{3})+(?!\d))/g, ".");
  return amount < 0 ? `-${grouped}` : grouped;
}

/** A decimal string quantity written with a comma: "0.5" → "0,5". */
export function formatQuantity(quantity: string): string {
  return quantity.replace(".", ",");
}
