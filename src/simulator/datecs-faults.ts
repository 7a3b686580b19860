/**
 * Line faults for the register simulator (spec §4.4), as pure functions over byte schedules: bit flips, drops,
 * truncation, a wrong checksum, a repeated frame (a resend with the same SEQ) and noise. Each written chunk gets
 * at most one fault, so a Datecs 16-bit sum still detects it (two faults in one frame can cancel out; real lines
 * rarely do that, and the README says so). Seeded: the same seed, the same faults.
 */
import { seededRandom } from "../shared/random.js";

// Re-exported for the simulator's POS and its tests, which draw from the same generator.
export { seededRandom };

/** Probability per written chunk of each fault (0–1). At most one fault hits a chunk. */
export interface FaultMix {
  /** One random bit of one random byte flips. */
  readonly bitFlip?: number;
  /** The chunk never arrives. */
  readonly drop?: number;
  /** Only a prefix arrives (an unplug or a buffer overrun mid-frame). */
  readonly truncate?: number;
  /** One checksum byte is replaced by another valid nibble byte (a frame the receiver must refuse). */
  readonly wrongBcc?: number;
  /** The chunk arrives twice (a resend with the same SEQ). */
  readonly repeat?: number;
  /** 1–8 bytes of noise arrive first. */
  readonly garbage?: number;
}

/** The faults of {@link FaultMix}, by name. */
export type FaultKind = "bit-flip" | "drop" | "truncate" | "wrong-bcc" | "repeat" | "garbage";

/** Bytes due at a time (ms); a schedule lists them in delivery order. */
export interface ScheduledBytes {
  readonly atMs: number;
  readonly bytes: Uint8Array;
}

/** Chunks in delivery order. */
export type ByteSchedule = readonly ScheduledBytes[];

const int = (rnd: () => number, min: number, max: number): number => min + Math.floor(rnd() * (max - min + 1));

/** Pick the fault for one chunk (or none), by the mix's probabilities. */
export function pickFault(mix: FaultMix, rnd: () => number): FaultKind | undefined {
  const r = rnd();
  let acc = 0;
  const table: readonly [FaultKind, number | undefined][] = [
    ["bit-flip", mix.bitFlip],
    ["drop", mix.drop],
    ["truncate", mix.truncate],
    ["wrong-bcc", mix.wrongBcc],
    ["repeat", mix.repeat],
    ["garbage", mix.garbage],
  ];
  for (const [kind, p] of table) {
    acc += p ?? 0;
    if (r < acc) return kind;
  }
  return undefined;
}

/** Apply one fault to one chunk: the pieces that arrive instead, in order (none for a drop). */
export function applyFault(kind: FaultKind, bytes: Uint8Array, rnd: () => number): Uint8Array[] {
  switch (kind) {
    case "bit-flip": {
      const out = bytes.slice();
      if (out.length > 0) out[int(rnd, 0, out.length - 1)]! ^= 1 << int(rnd, 0, 7);
      return [out];
    }
    case "drop":
      return [];
    case "truncate":
      return bytes.length <= 1 ? [] : [bytes.slice(0, int(rnd, 1, bytes.length - 1))];
    case "wrong-bcc": {
      // A Datecs frame ends with 4 checksum bytes (0x30–0x3F) and 03; anything else gets a bit flip instead.
      const n = bytes.length;
      if (n < 10 || bytes[n - 1] !== 0x03) return applyFault("bit-flip", bytes, rnd);
      const out = bytes.slice();
      const at = n - 5 + int(rnd, 0, 3);
      out[at] = 0x30 + ((out[at]! - 0x30 + int(rnd, 1, 15)) & 0x0f);
      return [out];
    }
    case "repeat":
      return [bytes, bytes.slice()];
    case "garbage": {
      const noise = Uint8Array.from({ length: int(rnd, 1, 8) }, () => int(rnd, 0, 255));
      return [noise, bytes];
    }
    default: {
      const never: never = kind;
      throw new TypeError(`unknown fault ${String(never)}`);
    }
  }
}

/** What {@link injectFaults} did. */
export interface FaultReport {
  readonly schedule: ByteSchedule;
  /** Index in the input schedule and the fault it got. */
  readonly applied: readonly { readonly index: number; readonly kind: FaultKind }[];
}

/** Faults over a whole schedule: each chunk is kept, changed or dropped; times stay as they were. */
export function injectFaults(schedule: ByteSchedule, mix: FaultMix, seed: number): FaultReport {
  const rnd = seededRandom(seed);
  const out: ScheduledBytes[] = [];
  const applied: { index: number; kind: FaultKind }[] = [];
  schedule.forEach((chunk, index) => {
    const kind = pickFault(mix, rnd);
    if (kind === undefined) {
      out.push(chunk);
      return;
    }
    applied.push({ index, kind });
    for (const bytes of applyFault(kind, chunk.bytes, rnd)) out.push({ atMs: chunk.atMs, bytes });
  });
  return { schedule: out, applied };
}

/** Cut every chunk at up to `maxCuts` random points (same times): chunk boundaries are where decoder bugs live. */
export function splitChunks(schedule: ByteSchedule, maxCuts: number, seed: number): ByteSchedule {
  const rnd = seededRandom(seed);
  const out: ScheduledBytes[] = [];
  for (const chunk of schedule) {
    const n = chunk.bytes.length;
    const cuts = [...new Set(Array.from({ length: int(rnd, 0, maxCuts) }, () => int(rnd, 1, Math.max(1, n - 1))))]
      .filter((c) => c > 0 && c < n)
      .sort((a, b) => a - b);
    let from = 0;
    for (const c of [...cuts, n]) {
      out.push({ atMs: chunk.atMs, bytes: chunk.bytes.subarray(from, c) });
      from = c;
    }
  }
  return out;
}
