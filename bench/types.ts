/**
 * The contract between `bench/run.ts` and the bench modules beside it. A bench module is any `bench/*.ts` other than
 * run.ts, types.ts and measure.ts; it exports `run(options)` (or a default function of the same shape) returning rows.
 * Benchmarks are not tests: they print figures, they never fail a build.
 */

/** One measured figure, printed as one row of the table. */
export interface BenchRow {
  /** The group it belongs to, usually the module's title ("build + sign, 20-line invoice"). */
  readonly group: string;
  /** What was measured. */
  readonly name: string;
  /** Throughput (median over rounds), when the figure is a rate. */
  readonly opsPerSec?: number;
  /** Lowest and highest round. */
  readonly min?: number;
  readonly max?: number;
  /** Ratio to the group's reference measured in the same run (median of per-round ratios). */
  readonly ratio?: number;
  /** Any other figure (latency, RSS …), already formatted with its unit. */
  readonly value?: string;
  /** Target, verdict or caveat ("target ≥ 0.5", "xmlsec1 not installed"). */
  readonly note?: string;
}

/** How long to measure; `npm run bench -- --quick` shortens every module. */
export interface BenchOptions {
  /** Interleaved rounds per variant. */
  readonly rounds: number;
  /** Milliseconds per variant per round. */
  readonly roundMs: number;
  readonly quick: boolean;
  /** Progress lines (stderr), so a long benchmark shows it is alive. */
  readonly log: (line: string) => void;
}

/** What a bench module exports. */
export interface BenchModule {
  /** Shown in the table header; default: the file name. */
  readonly title?: string;
  run(options: BenchOptions): Promise<readonly BenchRow[]>;
}
