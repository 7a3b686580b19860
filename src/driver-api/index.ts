/**
 * The only module drivers import (style.md §3.1): the contract from `types.ts` plus small, pure helpers that several
 * drivers share. Nothing here does I/O, reads the clock or logs.
 */
export type { ReceiptInput } from "../receipt/model.js";
/** 130400 → "130.400", as Vietnamese receipts print amounts. */
export { formatDong } from "../shared/i18n.js";
export * from "./types.js";

// ---------------------------------------------------------------------------------------------------------------
// Bytes and UTF-8

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The text of UTF-8 `bytes`, or `undefined` when they are not valid UTF-8 (never throws). */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    return undefined;
  }
}

/** All `chunks` in one new array. */
export function concatBytes(chunks: readonly Uint8Array[]): Uint8Array {
  let length = 0;
  for (const c of chunks) length += c.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** Byte-wise equality. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Lower-case hex, `sep` between bytes (`"7b 22"` with `sep = " "`). */
export function toHex(bytes: Uint8Array, sep = ""): string {
  const parts = new Array<string>(bytes.length);
  for (let i = 0; i < bytes.length; i++) parts[i] = HEX[bytes[i]!]!;
  return parts.join(sep);
}

/** Bytes of a hex string; whitespace between bytes is ignored. Throws `RangeError` on anything else. */
export function fromHex(hex: string): Uint8Array {
  const clean = hex.replace(/\s+/g, "");
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new RangeError(`not a hex byte string: ${hex.slice(0, 40)}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Checksums

const CRC32_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, the zlib/PNG one: reflected 0xEDB88320, init and final XOR 0xFFFFFFFF) as an unsigned int. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC32_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** `crc32(bytes)` as 8 lower-case hex digits. */
export function crc32Hex(bytes: Uint8Array): string {
  return crc32(bytes).toString(16).padStart(8, "0");
}

// ---------------------------------------------------------------------------------------------------------------
// Line framer

const LF = 0x0a;
const CR = 0x0d;

/** What a {@link LineFramer} found, in stream order. */
export type LineFrame =
  /** A complete line. `line` has the `\n` and one trailing `\r` removed; `raw` is every byte including them. */
  | { readonly type: "line"; readonly line: Uint8Array; readonly raw: Uint8Array }
  /**
   * A piece of a line longer than `maxLength`. Pieces are cut by byte count (so the output does not depend on how
   * the input was chunked): every `maxLength + 1` bytes, and a final piece ending with the `\n` (`end: true`).
   * Together the pieces hold every byte of the line; `lineLength` counts the line's bytes so far.
   */
  | { readonly type: "too-long"; readonly raw: Uint8Array; readonly end: boolean; readonly lineLength: number };

/** A sans-I/O splitter of a byte stream into `\n`-terminated lines with a length guard. */
export interface LineFramer {
  /** Bytes as they arrived, in any chunking. */
  push(bytes: Uint8Array): LineFrame[];
  /** Take the bytes of an unfinished line (for a "truncated" problem at close), or `undefined`; then reset. */
  flush(): Uint8Array | undefined;
}

/** Options of {@link lineFramer}. */
export interface LineFramerOptions {
  /**
   * The longest line accepted: bytes before the `\n` (an optional `\r` counts). Longer lines come out as `too-long`
   * pieces.
   */
  readonly maxLength: number;
}

/**
 * Split on `\n` (`\r\n` tolerated). A line over `maxLength` bytes is not buffered whole: it comes out as
 * `too-long` pieces and the framer resynchronises at the next `\n`. Memory stays below `maxLength` + one chunk.
 */
export function lineFramer({ maxLength }: LineFramerOptions): LineFramer {
  if (!Number.isSafeInteger(maxLength) || maxLength < 1) throw new RangeError("maxLength must be a positive integer");
  let parts: Uint8Array[] = [];
  let size = 0; // bytes in `parts`
  let overLong = false; // the current line already exceeded maxLength
  let lineLength = 0; // bytes of the current line so far, including pieces already emitted

  const take = (): Uint8Array => {
    const all = parts.length === 1 ? parts[0]! : concatBytes(parts);
    parts = [];
    size = 0;
    return all;
  };

  return {
    push(bytes: Uint8Array): LineFrame[] {
      const out: LineFrame[] = [];
      let at = 0;
      while (at < bytes.length) {
        const nl = bytes.indexOf(LF, at);
        const end = nl === -1 ? bytes.length : nl + 1; // exclusive; includes the LF when found
        let segment = bytes.subarray(at, end);
        at = end;
        // Cut by byte count so pieces never exceed maxLength + 1 bytes before the terminator.
        while (segment.length > 0) {
          const room = maxLength + 1 - size;
          const hasLf = segment[segment.length - 1] === LF;
          const body = hasLf ? segment.length - 1 : segment.length;
          if (body >= room) {
            // This line is too long: emit maxLength + 1 bytes as a piece and keep going.
            parts.push(segment.subarray(0, room));
            size += room;
            lineLength += room;
            overLong = true;
            out.push({ type: "too-long", raw: take(), end: false, lineLength });
            segment = segment.subarray(room);
            continue;
          }
          parts.push(segment);
          size += segment.length;
          lineLength += body;
          segment = segment.subarray(segment.length);
          if (!hasLf) break;
          const raw = take();
          if (overLong) {
            out.push({ type: "too-long", raw, end: true, lineLength });
          } else {
            const stop = raw.length >= 2 && raw[raw.length - 2] === CR ? raw.length - 2 : raw.length - 1;
            out.push({ type: "line", line: raw.subarray(0, stop), raw });
          }
          overLong = false;
          lineLength = 0;
        }
      }
      return out;
    },
    flush(): Uint8Array | undefined {
      overLong = false;
      lineLength = 0;
      return size === 0 ? undefined : take();
    },
  };
}
