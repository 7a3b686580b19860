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

/** Each fault and its field in a {@link FaultMix}, in the order {@link pickFault} draws them (part of the seed). */
const FAULT_FIELDS: Readonly<Record<FaultKind, keyof FaultMix>> = {
  "bit-flip": "bitFlip",
  drop: "drop",
  truncate: "truncate",
  "wrong-bcc": "wrongBcc",
  repeat: "repeat",
  garbage: "garbage",
};
const FAULT_KINDS = Object.entries(FAULT_FIELDS) as [FaultKind, keyof FaultMix][];

/** Pick the fault for one chunk (or none), by the mix's probabilities. */
export function pickFault(mix: FaultMix, rnd: () => number): FaultKind | undefined {
  const r = rnd();
  let acc = 0;
  for (const [kind, field] of FAULT_KINDS) {
    acc += mix[field] ?? 0;
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

/**
 * `bit-flip=0.02,repeat=0.05,…` (the `--faults` of `hoadon simulate register`) as a {@link FaultMix}. Throws a
 * RangeError naming the part that is wrong: an unknown fault, a probability outside 0–1, or a sum over 1.
 */
export function parseFaultMix(text: string): FaultMix {
  const mix: { -readonly [K in keyof FaultMix]: number } = {};
  let sum = 0;
  for (const part of text
    .split(",")
    .map((p) => p.trim())
    .filter((p) => p !== "")) {
    const m = /^([a-z-]+)=([0-9.]+)$/.exec(part);
    const field = m && Object.hasOwn(FAULT_FIELDS, m[1]!) ? FAULT_FIELDS[m[1] as FaultKind] : undefined;
    const p = m ? Number(m[2]) : Number.NaN;
    if (!m || field === undefined)
      throw new RangeError(`"${part}": dùng / use ${Object.keys(FAULT_FIELDS).join(", ")} = 0..1`);
    if (!(p >= 0 && p <= 1)) throw new RangeError(`"${part}": xác suất từ 0 đến 1 / a probability from 0 to 1`);
    mix[field] = p;
    sum += p;
  }
  if (sum > 1) throw new RangeError(`tổng các xác suất ${sum} > 1 / the probabilities add up to more than 1`);
  return mix;
}

/** A count of each fault, all zero. */
export const noFaults = (): Record<FaultKind, number> =>
  Object.fromEntries(FAULT_KINDS.map(([kind]) => [kind, 0])) as Record<FaultKind, number>;

/** The part of a connection {@link faultyWrites} needs. */
interface Writes {
  write(bytes: Uint8Array): Promise<void>;
}

/**
 * What a noisy cable does to what a simulated register writes: each write gets at most one fault of `mix` (seeded),
 * pieces written in order. `faults` counts what was applied.
 */
export function faultyWrites<C extends Writes>(
  conn: C,
  mix: FaultMix,
  seed: number,
): { readonly conn: C; readonly faults: Readonly<Record<FaultKind, number>> } {
  const layer = faultLayer(mix, seed);
  return { conn: layer.wrap(conn), faults: layer.faults };
}

/** {@link faultyWrites} over several connections one after another (a cable unplugged and back): one draw, one count. */
export function faultLayer(
  mix: FaultMix,
  seed: number,
): { wrap<C extends Writes>(conn: C): C; readonly faults: Readonly<Record<FaultKind, number>> } {
  const rnd = seededRandom(seed);
  const faults = noFaults();
  return {
    faults,
    wrap<C extends Writes>(conn: C): C {
      const write = async (bytes: Uint8Array): Promise<void> => {
        const kind = pickFault(mix, rnd);
        if (kind === undefined) return conn.write(bytes);
        faults[kind]++;
        for (const piece of applyFault(kind, bytes, rnd)) await conn.write(piece);
      };
      // The same connection in all else (its getters keep reading the real one).
      return Object.create(conn, { write: { value: write } }) as C;
    },
  };
}
