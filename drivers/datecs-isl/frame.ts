/**
 * Datecs/ISL framing (README.md "Frames"), both the old one (1-byte LEN and CMD, 6 status bytes) and the X one
 * (4-nibble LEN and CMD, 8 status bytes):
 *
 * ```
 * host → device:  01 LEN SEQ CMD DATA… 05 BCC×4 03
 * device → host:  01 LEN SEQ CMD DATA… 04 STATUS×6|8 05 BCC×4 03        single bytes: 15 NAK, 16 SYN
 * ```
 * Sans-I/O: a deframer turns bytes in any chunking into frames and problems; encoders build frames.
 */
import { concatBytes, toHex } from "../../src/driver-api/index.js";

/** Which framing a register speaks. */
export type Framing = "old" | "x";

/** Which side sent the frames a deframer reads. */
export type FrameSource = "host" | "device";

/** Preamble: starts every packed frame. */
export const PRE = 0x01;
/** Terminator: ends every packed frame. */
export const TERM = 0x03;
/** Separator before the status bytes (device frames only). */
export const SEP = 0x04;
/** Postamble: the last byte the checksum covers. */
export const POST = 0x05;
/** Single byte from the device: the frame was bad, send the same frame again. */
export const NAK = 0x15;
/** Single byte from the device: busy, wait (repeated every 60 ms). */
export const SYN = 0x16;
/** DATA escape: a byte below 0x20 travels as 0x10, byte + 0x40. */
export const ESC = 0x10;
const TAB = 0x09;
const LF = 0x0a;

/** Status bytes per framing (6 old, 8 X). */
export const statusLength = (framing: Framing): number => (framing === "old" ? 6 : 8);

/** One decoded frame. `data` is unescaped. */
export interface Frame {
  readonly seq: number;
  readonly cmd: number;
  readonly data: Uint8Array;
  /** Device frames only. */
  readonly status?: Uint8Array;
}

/** What a {@link Deframer} found, in stream order; `raw` holds every byte it covers. */
export type DeframeEvent =
  | {
      readonly kind: "frame";
      readonly frame: Frame;
      readonly raw: Uint8Array;
      /** Offset just past the frame's last byte, counting every byte this deframer was given (for journal spans). */
      readonly end: number;
    }
  /** Framed (01 … 03) but wrong: the device answers NAK. */
  | {
      readonly kind: "bad";
      readonly code: "BAD_CHECKSUM" | "DECODE_FAILED" | "TOO_LONG";
      readonly detail: string;
      readonly raw: Uint8Array;
    }
  /** A frame cut off by a new 01, a NAK/SYN or the end of the line. */
  | { readonly kind: "truncated"; readonly raw: Uint8Array }
  /** Bytes outside any frame. */
  | { readonly kind: "garbage"; readonly raw: Uint8Array }
  /** Device side only: a single NAK or SYN byte. */
  | { readonly kind: "nak" | "syn"; readonly raw: Uint8Array };

/** A sans-I/O deframer (one per direction and connection). */
export interface Deframer {
  push(bytes: Uint8Array): DeframeEvent[];
  /** The line went quiet or closed: a frame in progress is truncated, pending noise is reported. */
  flush(): DeframeEvent[];
}

/** Options of {@link createDeframer}. */
export interface DeframerOptions {
  readonly framing: Framing;
  /** Who sends the frames: host frames have no status, device frames must have one. */
  readonly source: FrameSource;
  /** Longest frame accepted, 01 to 03 inclusive; longer ones are dropped with a TOO_LONG problem. */
  readonly maxFrameBytes: number;
}

// ---------------------------------------------------------------------------------------------------------------
// Checksums and nibbles

/** 16-bit sum of `bytes`. */
export function bccSum(bytes: Uint8Array): number {
  let sum = 0;
  for (const b of bytes) sum = (sum + b) & 0xffff;
  return sum;
}

/** A 16-bit value as four bytes 0x30 + nibble, most significant first (0x1AE3 → 31 3A 3E 33). */
export function nibbles(value: number): Uint8Array {
  return Uint8Array.of(
    0x30 + ((value >> 12) & 0xf),
    0x30 + ((value >> 8) & 0xf),
    0x30 + ((value >> 4) & 0xf),
    0x30 + (value & 0xf),
  );
}

/** Four nibble bytes → value, or `undefined` when a byte is outside 0x30–0x3F. */
export function readNibbles(bytes: Uint8Array, at: number): number | undefined {
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const b = bytes[at + i];
    if (b === undefined || b < 0x30 || b > 0x3f) return undefined;
    v = (v << 4) | (b - 0x30);
  }
  return v;
}

/** Escape DATA: every byte below 0x20 except TAB and LF becomes 10, byte + 0x40. */
export function escapeData(data: Uint8Array): Uint8Array {
  let extra = 0;
  for (const b of data) if (b < 0x20 && b !== TAB && b !== LF) extra++;
  if (extra === 0) return data;
  const out = new Uint8Array(data.length + extra);
  let at = 0;
  for (const b of data) {
    if (b < 0x20 && b !== TAB && b !== LF) {
      out[at++] = ESC;
      out[at++] = b + 0x40;
    } else {
      out[at++] = b;
    }
  }
  return out;
}

/** Undo {@link escapeData}; `undefined` when DATA holds a raw control byte or a broken escape. */
export function unescapeData(data: Uint8Array): Uint8Array | undefined {
  const out: number[] = [];
  for (let i = 0; i < data.length; i++) {
    const b = data[i]!;
    if (b >= 0x20 || b === TAB || b === LF) {
      out.push(b);
      continue;
    }
    if (b !== ESC) return undefined;
    const next = data[i + 1];
    if (next === undefined || next < 0x40 || next > 0x5f) return undefined;
    out.push(next - 0x40);
    i++;
  }
  return Uint8Array.from(out);
}

// ---------------------------------------------------------------------------------------------------------------
// Encoding

/** A whole frame: host frames without `status`, device frames with it (6 bytes old, 8 bytes X). */
export function encodeFrame(framing: Framing, frame: Frame): Uint8Array {
  const data = escapeData(frame.data);
  const status = frame.status;
  if (status !== undefined && status.length !== statusLength(framing)) {
    throw new RangeError(`status must be ${statusLength(framing)} bytes for ${framing} framing`);
  }
  const tail = status === undefined ? [] : [Uint8Array.of(SEP), status];
  const headerLength = framing === "old" ? 3 : 9; // LEN SEQ CMD
  const counted = headerLength + data.length + (status === undefined ? 0 : 1 + status.length) + 1; // … through 05
  const len = 0x20 + counted;
  if (framing === "old" && len > 0xff) throw new RangeError(`frame too long for old framing (${data.length} bytes)`);
  const header =
    framing === "old"
      ? Uint8Array.of(len, frame.seq, frame.cmd)
      : concatBytes([nibbles(len), Uint8Array.of(frame.seq), nibbles(frame.cmd)]);
  const body = concatBytes([header, data, ...tail, Uint8Array.of(POST)]);
  return concatBytes([Uint8Array.of(PRE), body, nibbles(bccSum(body)), Uint8Array.of(TERM)]);
}

// ---------------------------------------------------------------------------------------------------------------
// Decoding

type Parsed = { ok: true; frame: Frame } | { ok: false; code: "BAD_CHECKSUM" | "DECODE_FAILED"; detail: string };

const fail = (code: "BAD_CHECKSUM" | "DECODE_FAILED", vi: string, en: string): Parsed => ({
  ok: false,
  code,
  detail: `${vi} / ${en}`,
});

/** Parse one complete frame `raw` (01 … 03). */
export function parseFrame(raw: Uint8Array, framing: Framing, source: FrameSource): Parsed {
  const n = raw.length;
  const headerLength = framing === "old" ? 3 : 9;
  const statusLen = statusLength(framing);
  const minLength = 1 + headerLength + (source === "device" ? 1 + statusLen : 0) + 1 + 4 + 1;
  if (n < minLength || raw[0] !== PRE || raw[n - 1] !== TERM) {
    return fail("DECODE_FAILED", `Khung quá ngắn (${n} byte)`, `frame too short (${n} bytes)`);
  }
  if (raw[n - 6] !== POST) return fail("DECODE_FAILED", "Thiếu byte 05 trước BCC", "no 05 before the checksum");
  const bcc = readNibbles(raw, n - 5);
  if (bcc === undefined) return fail("DECODE_FAILED", "BCC không phải 4 nửa byte", "checksum is not 4 nibble bytes");
  const computed = bccSum(raw.subarray(1, n - 5));
  if (computed !== bcc) {
    const got = bcc.toString(16).padStart(4, "0");
    const want = computed.toString(16).padStart(4, "0");
    return fail(
      "BAD_CHECKSUM",
      `Sai BCC: nhận ${got}, tính được ${want}`,
      `BCC mismatch: got ${got}, computed ${want}`,
    );
  }
  const len = framing === "old" ? raw[1]! : readNibbles(raw, 1);
  if (len === undefined || len - 0x20 !== n - 6) {
    return fail("DECODE_FAILED", `LEN không khớp độ dài khung`, `LEN does not match the frame length`);
  }
  const seq = raw[framing === "old" ? 2 : 5]!;
  const cmd = framing === "old" ? raw[3]! : readNibbles(raw, 6);
  if (seq < 0x20 || cmd === undefined || cmd < 0x20) {
    return fail("DECODE_FAILED", "SEQ hoặc CMD ngoài khoảng cho phép", "SEQ or CMD out of range");
  }
  let body = raw.subarray(1 + headerLength, n - 6);
  let status: Uint8Array | undefined;
  if (source === "device") {
    const sepAt = body.length - statusLen - 1;
    if (sepAt < 0 || body[sepAt] !== SEP) {
      return fail("DECODE_FAILED", "Thiếu byte 04 trước trạng thái", "no 04 before the status bytes");
    }
    status = body.slice(sepAt + 1);
    if (status.some((b) => b < 0x80)) {
      return fail("DECODE_FAILED", "Byte trạng thái thiếu bit 7", "a status byte lacks bit 7");
    }
    body = body.subarray(0, sepAt);
  }
  const data = unescapeData(body);
  if (data === undefined) {
    return fail("DECODE_FAILED", "DATA chứa byte điều khiển không hợp lệ", "DATA holds an invalid control byte");
  }
  return { ok: true, frame: status === undefined ? { seq, cmd, data } : { seq, cmd, data, status } };
}

/** Create a deframer. Output depends only on the bytes, never on how they were chunked. */
export function createDeframer(options: DeframerOptions): Deframer {
  const { framing, source, maxFrameBytes } = options;
  let frame: number[] | undefined; // bytes since 01, while inside a frame
  let garbage: number[] = [];
  let consumed = 0;

  const flushGarbage = (out: DeframeEvent[]): void => {
    if (garbage.length === 0) return;
    out.push({ kind: "garbage", raw: Uint8Array.from(garbage) });
    garbage = [];
  };
  const truncate = (out: DeframeEvent[]): void => {
    if (frame === undefined) return;
    out.push({ kind: "truncated", raw: Uint8Array.from(frame) });
    frame = undefined;
  };
  const outside = (b: number, out: DeframeEvent[]): void => {
    if (b === PRE) {
      flushGarbage(out);
      frame = [b];
      return;
    }
    if (source === "device" && (b === NAK || b === SYN)) {
      flushGarbage(out);
      out.push({ kind: b === NAK ? "nak" : "syn", raw: Uint8Array.of(b) });
      return;
    }
    garbage.push(b);
    if (garbage.length >= maxFrameBytes) flushGarbage(out);
  };

  return {
    push(bytes: Uint8Array): DeframeEvent[] {
      const out: DeframeEvent[] = [];
      for (const b of bytes) {
        consumed++;
        if (frame === undefined) {
          outside(b, out);
          continue;
        }
        if (b === PRE || b === NAK || b === SYN) {
          truncate(out);
          outside(b, out);
          continue;
        }
        frame.push(b);
        if (b === TERM) {
          const raw = Uint8Array.from(frame);
          frame = undefined;
          const parsed = parseFrame(raw, framing, source);
          out.push(
            parsed.ok
              ? { kind: "frame", frame: parsed.frame, raw, end: consumed }
              : { kind: "bad", code: parsed.code, detail: parsed.detail, raw },
          );
          continue;
        }
        if (frame.length >= maxFrameBytes) {
          const raw = Uint8Array.from(frame);
          frame = undefined;
          out.push({
            kind: "bad",
            code: "TOO_LONG",
            detail: `Khung dài quá ${maxFrameBytes} byte / frame longer than ${maxFrameBytes} bytes`,
            raw,
          });
        }
      }
      return out;
    },
    flush(): DeframeEvent[] {
      const out: DeframeEvent[] = [];
      truncate(out);
      flushGarbage(out);
      return out;
    },
  };
}

/** `30` → "30h" style label for messages. */
export const cmdLabel = (cmd: number): string => `${cmd.toString(16).toUpperCase().padStart(2, "0")}h`;

/** Short hex for messages. */
export const shortHex = (bytes: Uint8Array, max = 24): string =>
  toHex(bytes.subarray(0, max), " ") + (bytes.length > max ? " …" : "");
