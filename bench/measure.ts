/**
 * Interleaved throughput measurement (signing.md §3): every variant runs for `roundMs` in turn, round after round, so
 * a noisy neighbour or a CPU frequency change hits all variants alike; each variant's figure is its median round, and
 * each ratio is the median of the per-round ratios to the reference.
 */
import type { BenchOptions, BenchRow } from "./types.js";

/** One thing to measure: `op` runs once per call. */
export interface Variant {
  readonly name: string;
  readonly op: () => void;
}

/** Per-variant results of {@link measureInterleaved}. */
export interface Measured {
  readonly name: string;
  /** Operations per second, one per round. */
  readonly rounds: readonly number[];
  readonly median: number;
  readonly min: number;
  readonly max: number;
  /** Median of (this round / reference round); the reference itself has 1. */
  readonly ratio: number;
}

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** Runs `op` for about `ms` milliseconds (at least once) and returns operations per second. */
export function opsPerSecond(op: () => void, ms: number): number {
  const start = process.hrtime.bigint();
  const until = start + BigInt(Math.round(ms * 1e6));
  let n = 0;
  let now = start;
  do {
    op();
    n++;
    now = process.hrtime.bigint();
  } while (now < until);
  return n / (Number(now - start) / 1e9);
}

/**
 * Measure `variants` in interleaved rounds; the first variant is the reference of the ratios. A warm-up pass of
 * a quarter round per variant runs first (JIT, caches).
 */
export function measureInterleaved(variants: readonly Variant[], opts: BenchOptions): Measured[] {
  for (const v of variants) opsPerSecond(v.op, opts.roundMs / 4);
  const perRound: number[][] = variants.map(() => []);
  for (let r = 0; r < opts.rounds; r++) {
    variants.forEach((v, i) => {
      perRound[i]?.push(opsPerSecond(v.op, opts.roundMs));
    });
    opts.log(
      `  round ${r + 1}/${opts.rounds}: ${variants.map((v, i) => `${v.name} ${perRound[i]?.at(-1)?.toFixed(0)}/s`).join(" · ")}`,
    );
  }
  const ref = perRound[0] as number[];
  return variants.map((v, i) => {
    const rounds = perRound[i] as number[];
    return {
      name: v.name,
      rounds,
      median: median(rounds),
      min: Math.min(...rounds),
      max: Math.max(...rounds),
      ratio: median(rounds.map((x, k) => x / (ref[k] as number))),
    };
  });
}

/**
 * {@link measureInterleaved} as table rows of `group`: throughput, spread and ratio to the first variant; `extra`
 * adds a value or note to a row.
 */
export function measuredRows(
  group: string,
  variants: readonly Variant[],
  opts: BenchOptions,
  extra: (m: Measured, i: number) => Partial<BenchRow> = () => ({}),
): BenchRow[] {
  opts.log(`${group}: ${variants.length} variants × ${opts.rounds} rounds × ${opts.roundMs} ms`);
  return measureInterleaved(variants, opts).map((m, i) => ({
    group,
    name: m.name,
    opsPerSec: m.median,
    min: m.min,
    max: m.max,
    ratio: m.ratio,
    ...extra(m, i),
  }));
}
