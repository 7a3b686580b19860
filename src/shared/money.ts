/**
 * Money is integer đồng (VND has no minor unit in practice). Never a float: every amount that reaches the
 * invoice passes through these helpers.
 */
export type Dong = number;

export function assertDong(n: number, what: string): Dong {
  if (!Number.isSafeInteger(n)) throw new RangeError(`${what} must be a whole number of đồng, got ${n}`);
  return n;
}

/**
 * round(a / b) half away from zero, in exact integer arithmetic (b > 0). All tax rounding goes through here so the
 * rule lives in one place (spec §6.4: half-up, whole đồng).
 */
export function divRound(a: bigint, b: bigint): bigint {
  if (b <= 0n) throw new RangeError("divisor must be positive");
  const neg = a < 0n;
  const abs = neg ? -a : a;
  const q = (abs * 2n + b) / (2n * b);
  return neg ? -q : q;
}

/** A decimal string quantity ("1", "0.5", "2.125") as a scaled bigint with `scale` decimals. */
export function parseDecimal(s: string, scale = 6): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(s);
  if (!m) throw new RangeError(`not a decimal number: ${s}`);
  const frac = (m[3] ?? "").padEnd(scale, "0");
  if (frac.length > scale) throw new RangeError(`too many decimals (max ${scale}): ${s}`);
  const v = BigInt((m[2] ?? "0") + frac);
  return m[1] === "-" ? -v : v;
}

/** Quantity × unit price, rounded to whole đồng. */
export function lineAmount(quantity: string, unitPrice: Dong): Dong {
  return Number(divRound(parseDecimal(quantity) * BigInt(unitPrice), 1_000_000n));
}
