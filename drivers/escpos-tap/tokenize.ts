/**
 * A streaming ESC/POS tokenizer (register-protocols.md §1a, "Commands a parser must handle"). It knows the argument
 * length of every command in that table, so image data (logos, whole receipts printed as pictures), barcode and QR
 * payloads are skipped as data: a `1D 56` inside a raster image is never a cut, a `0A` inside a logo never a line.
 *
 * Sans-I/O and chunk-invariant: it is fed bytes in any chunking and produces the same tokens, except that a run of
 * text may come out in several `text` tokens (one per chunk). Everything downstream concatenates text.
 *
 * Garbage: an unknown `ESC x` / `GS x` / `FS x` becomes an `unknown` token of two bytes and tokenizing goes on (as
 * escpos-tools does). A command whose arguments are impossible (a raster image 60 000 bytes wide) is treated the same
 * way, so line noise cannot swallow the receipts after it as "image data".
 */

/** What a token is. */
export type TokenKind =
  /** Printable bytes (0x20–0x7E, 0x80–0xFF), not yet decoded: the code page is applied later. */
  | "text"
  /** A single control byte: LF, CR, HT, FF, CAN, NUL … */
  | "control"
  /** A command that only changes state or moves paper (ESC t, ESC !, GS L …). */
  | "command"
  /** GS V in every form, ESC i, ESC m: the receipt boundary. */
  | "cut"
  /** Bit image, raster image, downloaded/NV/graphics data: pictures, not text. */
  | "image"
  /** A status request the printer answers: DLE EOT, DLE ENQ, GS r, GS I, ESC u, ESC v. */
  | "query"
  /** Bytes that are no known command. */
  | "unknown";

/** One token. `start`/`end` are offsets in the stream since the tokenizer was created (`end` exclusive). */
export interface Token {
  readonly kind: TokenKind;
  /** Spec name: `"LF"`, `"ESC t"`, `"GS V"`, `"GS v 0"`, `"DLE EOT"`, `"text"` … */
  readonly name: string;
  readonly start: number;
  readonly end: number;
  /** Text: the text bytes. Commands: the command bytes and fixed arguments (not the data that follows). */
  readonly bytes: Uint8Array;
  /** Data after the fixed arguments (image bits, GS ( payloads, barcode digits), when the command has any. */
  readonly data?: Uint8Array;
}

/** Limits that keep garbage from being read as a huge image. */
export interface TokenizerLimits {
  /** Largest data block of one command, in bytes (default 4 MiB). */
  readonly maxDataBytes: number;
}

const ESC = 0x1b;
const GS = 0x1d;
const FS = 0x1c;
const DLE = 0x10;

const CONTROL_NAMES: Readonly<Record<number, string>> = {
  0: "NUL",
  9: "HT",
  10: "LF",
  12: "FF",
  13: "CR",
  24: "CAN",
};

const hexByte = (b: number): string => b.toString(16).padStart(2, "0");
const isText = (b: number): boolean => (b >= 0x20 && b < 0x7f) || b >= 0x80;
const isPrefix = (b: number): boolean => b === ESC || b === GS || b === FS || b === DLE;

/** Blocks of variable-length data after the head (ESC &, FS q). */
interface Blocks {
  readonly count: number;
  readonly headerLength: number;
  /** Data bytes for one block from its header, or -1 when the header is impossible. */
  readonly dataLength: (header: readonly number[]) => number;
}

/** What the bytes collected so far make. */
type Resolved =
  /** The head needs this many bytes in total. */
  | { readonly need: number }
  /** Not a valid command: the first `bad` bytes become an `unknown` token, the rest are read again. */
  | { readonly bad: number }
  | {
      readonly name: string;
      readonly kind: TokenKind;
      /** Data bytes after the head. */
      readonly data?: number;
      /** Data up to and including a NUL, at most this many bytes. */
      readonly nul?: number;
      readonly blocks?: Blocks;
    };

const ESC_0 = new Set([0x40, 0x32, 0x3c, 0x0c, 0x4c, 0x53]);
const ESC_1 = new Set([
  0x21, 0x2d, 0x45, 0x47, 0x4d, 0x61, 0x52, 0x74, 0x7b, 0x33, 0x64, 0x4a, 0x65, 0x20, 0x3d, 0x72, 0x25, 0x3f, 0x55,
  0x56, 0x54, 0x4b,
]);
const GS_0 = new Set([0x3a, 0x63]);
const GS_1 = new Set([0x21, 0x42, 0x48, 0x66, 0x68, 0x77, 0x61, 0x62, 0x2f, 0x45, 0x54, 0x6a]);
const GS_2 = new Set([0x4c, 0x57, 0x24, 0x5c, 0x50]);
const CUT_WITH_N = new Set([65, 66, 97, 98, 103, 104]);
const CUT_PLAIN = new Set([0, 1, 48, 49]);

const name2 = (prefix: string, c: number): string =>
  c >= 0x21 && c < 0x7f ? `${prefix} ${String.fromCharCode(c)}` : `${prefix} 0x${hexByte(c)}`;

/** The command a head (prefix byte + what follows) makes, or what is still needed. */
function resolve(h: readonly number[], limits: TokenizerLimits): Resolved {
  const p = h[0]!;
  if (h.length < 2) return { need: 2 };
  const c = h[1]!;
  const at = (i: number): number => h[i]!;
  if (p === ESC) {
    if (c === 0x69 || c === 0x6d) return { name: name2("ESC", c), kind: "cut" };
    if (c === 0x76) return { name: "ESC v", kind: "query" };
    if (ESC_0.has(c)) return { name: name2("ESC", c), kind: "command" };
    if (c === 0x75) return h.length < 3 ? { need: 3 } : { name: "ESC u", kind: "query" };
    if (ESC_1.has(c)) return h.length < 3 ? { need: 3 } : { name: name2("ESC", c), kind: "command" };
    if (c === 0x24 || c === 0x5c || c === 0x63)
      return h.length < 4 ? { need: 4 } : { name: name2("ESC", c), kind: "command" };
    if (c === 0x70) return h.length < 5 ? { need: 5 } : { name: "ESC p", kind: "command" };
    if (c === 0x57) return h.length < 10 ? { need: 10 } : { name: "ESC W", kind: "command" };
    if (c === 0x44) return { name: "ESC D", kind: "command", nul: 33 };
    if (c === 0x2a) {
      if (h.length < 5) return { need: 5 };
      const m = at(2);
      const n = at(3) + 256 * at(4);
      if (![0, 1, 32, 33].includes(m) || n < 1 || n > 2400) return { bad: 2 };
      return { name: "ESC *", kind: "image", data: n * (m >= 32 ? 3 : 1) };
    }
    if (c === 0x26) {
      if (h.length < 5) return { need: 5 };
      const y = at(2);
      const c1 = at(3);
      const c2 = at(4);
      if (y < 1 || y > 4 || c1 < 0x20 || c2 > 0x7e || c1 > c2) return { bad: 2 };
      return {
        name: "ESC &",
        kind: "image",
        blocks: { count: c2 - c1 + 1, headerLength: 1, dataLength: ([x]) => (x! <= 64 ? x! * y : -1) },
      };
    }
    if (c === 0x28)
      return h.length < 5
        ? { need: 5 }
        : { name: `ESC ( ${String.fromCharCode(at(2))}`, kind: "command", data: at(3) + 256 * at(4) };
    return { bad: 2 };
  }
  if (p === GS) {
    if (c === 0x56) {
      if (h.length < 3) return { need: 3 };
      if (CUT_PLAIN.has(at(2))) return { name: "GS V", kind: "cut" };
      if (CUT_WITH_N.has(at(2))) return h.length < 4 ? { need: 4 } : { name: "GS V", kind: "cut" };
      return { bad: 2 };
    }
    if (c === 0x72 || c === 0x49) return h.length < 3 ? { need: 3 } : { name: name2("GS", c), kind: "query" };
    if (GS_0.has(c)) return { name: name2("GS", c), kind: "command" };
    if (GS_1.has(c)) return h.length < 3 ? { need: 3 } : { name: name2("GS", c), kind: "command" };
    if (GS_2.has(c)) return h.length < 4 ? { need: 4 } : { name: name2("GS", c), kind: "command" };
    if (c === 0x5e) return h.length < 5 ? { need: 5 } : { name: "GS ^", kind: "command" };
    if (c === 0x67) {
      if (h.length < 3) return { need: 3 };
      if (at(2) !== 0x30 && at(2) !== 0x32) return { bad: 2 };
      return h.length < 6 ? { need: 6 } : { name: "GS g", kind: "command" };
    }
    if (c === 0x76 || c === 0x51) {
      // GS v 0 m xL xH yL yH d… (raster); GS Q 0 has the same layout.
      if (h.length < 3) return { need: 3 };
      if (at(2) !== 0x30) return { bad: 2 };
      if (h.length < 8) return { need: 8 };
      const x = at(4) + 256 * at(5);
      const y = at(6) + 256 * at(7);
      if (at(3) > 0x33 || (at(3) > 3 && at(3) < 0x30) || x < 1 || x > 255 || y < 1 || y > 16_384) return { bad: 2 };
      if (x * y > limits.maxDataBytes) return { bad: 2 };
      return { name: c === 0x76 ? "GS v 0" : "GS Q 0", kind: "image", data: x * y };
    }
    if (c === 0x28) {
      if (h.length < 5) return { need: 5 };
      const fn = at(2);
      return { name: `GS ( ${String.fromCharCode(fn)}`, kind: "command", data: at(3) + 256 * at(4) };
    }
    if (c === 0x38) {
      if (h.length < 3) return { need: 3 };
      if (at(2) !== 0x4c) return { bad: 2 };
      if (h.length < 7) return { need: 7 };
      const length = at(3) + at(4) * 0x100 + at(5) * 0x1_0000 + at(6) * 0x100_0000;
      if (length < 1 || length > limits.maxDataBytes) return { bad: 2 };
      return { name: "GS 8 L", kind: "command", data: length };
    }
    if (c === 0x2a) {
      if (h.length < 4) return { need: 4 };
      const x = at(2);
      const y = at(3);
      if (x < 1 || y < 1 || y > 48) return { bad: 2 };
      return { name: "GS *", kind: "image", data: x * y * 8 };
    }
    if (c === 0x6b) {
      if (h.length < 3) return { need: 3 };
      const m = at(2);
      if (m <= 6) return { name: "GS k", kind: "command", nul: 256 };
      if (m >= 65 && m <= 79) return h.length < 4 ? { need: 4 } : { name: "GS k", kind: "command", data: at(3) };
      return { bad: 2 };
    }
    return { bad: 2 };
  }
  if (p === FS) {
    if (c === 0x26 || c === 0x2e) return { name: name2("FS", c), kind: "command" };
    if (c === 0x21 || c === 0x2d || c === 0x57 || c === 0x43)
      return h.length < 3 ? { need: 3 } : { name: name2("FS", c), kind: "command" };
    if (c === 0x53 || c === 0x70) return h.length < 4 ? { need: 4 } : { name: name2("FS", c), kind: "command" };
    if (c === 0x28)
      return h.length < 5
        ? { need: 5 }
        : { name: `FS ( ${String.fromCharCode(at(2))}`, kind: "command", data: at(3) + 256 * at(4) };
    if (c === 0x32) return h.length < 4 ? { need: 4 } : { name: "FS 2", kind: "image", data: 72 };
    if (c === 0x71) {
      if (h.length < 3) return { need: 3 };
      if (at(2) < 1) return { bad: 2 };
      return {
        name: "FS q",
        kind: "image",
        blocks: {
          count: at(2),
          headerLength: 4,
          dataLength: ([xL, xH, yL, yH]) => {
            const x = xL! + 256 * xH!;
            const y = yL! + 256 * yH!;
            return x >= 1 && x <= 1023 && y >= 1 && y <= 288 ? x * y * 8 : -1;
          },
        },
      };
    }
    return { bad: 2 };
  }
  // DLE: only DLE EOT / ENQ / DC4 are commands; a lone DLE is junk and the next byte is read again.
  if (c === 0x04) {
    if (h.length < 3) return { need: 3 };
    if (at(2) >= 1 && at(2) <= 4) return { name: "DLE EOT", kind: "query" };
    if (at(2) === 7 || at(2) === 8) return h.length < 4 ? { need: 4 } : { name: "DLE EOT", kind: "query" };
    return { bad: 1 };
  }
  if (c === 0x05) return h.length < 3 ? { need: 3 } : { name: "DLE ENQ", kind: "query" };
  if (c === 0x14) {
    if (h.length < 3) return { need: 3 };
    const total = ({ 1: 5, 2: 5, 7: 4, 8: 10 } as Readonly<Record<number, number>>)[at(2)];
    if (total === undefined) return { bad: 1 };
    return h.length < total ? { need: total } : { name: "DLE DC4", kind: "command" };
  }
  return { bad: 1 };
}

/** The tokenizer's memory between chunks. */
type State =
  | { readonly mode: "ready" }
  | { readonly mode: "head" }
  | { readonly mode: "data"; left: number }
  | { readonly mode: "nul"; left: number }
  | { readonly mode: "block-header"; blocksLeft: number; header: number[] }
  | { readonly mode: "block-data"; blocksLeft: number; left: number };

/** A streaming tokenizer; one per direction of one connection. */
export interface Tokenizer {
  /** Bytes as they arrived; returns the tokens they complete. */
  push(bytes: Uint8Array): Token[];
  /**
   * End of input (idle gap, port closed): an unfinished command becomes an `unknown` token and the tokenizer starts
   * clean. Returns that token, if any.
   */
  flush(): Token[];
  /** Bytes of an unfinished command head (at most a few), not yet in any token. */
  readonly pendingHead: number;
  /** Offset of the next byte. */
  readonly offset: number;
}

/** Create a tokenizer. */
export function createTokenizer(limits: TokenizerLimits = { maxDataBytes: 4 * 1024 * 1024 }): Tokenizer {
  let offset = 0;
  let state: State = { mode: "ready" };
  let head: number[] = [];
  let headStart = 0;
  let command: Exclude<Resolved, { need: number } | { bad: number }> | undefined;
  let dataParts: Uint8Array[] = [];
  let out: Token[] = [];

  const emit = (
    kind: TokenKind,
    name: string,
    start: number,
    end: number,
    bytes: Uint8Array,
    data?: Uint8Array,
  ): void => {
    out.push(data === undefined ? { kind, name, start, end, bytes } : { kind, name, start, end, bytes, data });
  };

  const finishCommand = (end: number): void => {
    const c = command!;
    let data: Uint8Array | undefined;
    if (dataParts.length === 1) data = dataParts[0];
    else if (dataParts.length > 1) {
      let n = 0;
      for (const p of dataParts) n += p.length;
      data = new Uint8Array(n);
      let at = 0;
      for (const p of dataParts) {
        data.set(p, at);
        at += p.length;
      }
    }
    emit(c.kind, c.name, headStart, end, Uint8Array.from(head), data);
    head = [];
    dataParts = [];
    command = undefined;
    state = { mode: "ready" };
  };

  /** The bytes after a bad head are read again, as fresh input (they may start text or another command). */
  const feedHead = (b: number): void => {
    head.push(b);
    const r = resolve(head, limits);
    if ("need" in r) return;
    if ("bad" in r) {
      const junk = head.slice(0, r.bad);
      const again = Uint8Array.from(head.slice(r.bad));
      const name = junk.length === 1 ? `0x${hexByte(junk[0]!)}` : junk.map(hexByte).join(" ");
      emit("unknown", name, headStart, headStart + junk.length, Uint8Array.from(junk));
      const base = headStart + junk.length;
      head = [];
      state = { mode: "ready" };
      process(again, base);
      return;
    }
    command = r;
    if (r.data !== undefined && r.data > 0) state = { mode: "data", left: r.data };
    else if (r.nul !== undefined) state = { mode: "nul", left: r.nul };
    else if (r.blocks !== undefined) state = { mode: "block-header", blocksLeft: r.blocks.count, header: [] };
    else finishCommand(headStart + head.length);
  };

  /** Tokenize `bytes`, whose first byte is at stream offset `base`. */
  const process = (bytes: Uint8Array, base: number): void => {
    let i = 0;
    while (i < bytes.length) {
      const at = base + i;
      switch (state.mode) {
        case "ready": {
          const b = bytes[i]!;
          if (isText(b)) {
            // A run of text in one token.
            let j = i + 1;
            while (j < bytes.length && isText(bytes[j]!)) j++;
            emit("text", "text", at, base + j, bytes.slice(i, j));
            i = j;
          } else if (isPrefix(b)) {
            head = [b];
            headStart = at;
            state = { mode: "head" };
            i++;
          } else {
            emit("control", CONTROL_NAMES[b] ?? `0x${hexByte(b)}`, at, at + 1, Uint8Array.of(b));
            i++;
          }
          break;
        }
        case "head":
          i++;
          feedHead(bytes[i - 1]!);
          break;
        case "data": {
          const take = Math.min(state.left, bytes.length - i);
          dataParts.push(bytes.slice(i, i + take));
          state.left -= take;
          i += take;
          if (state.left === 0) finishCommand(base + i);
          break;
        }
        case "nul": {
          const b = bytes[i]!;
          dataParts.push(Uint8Array.of(b));
          state.left--;
          i++;
          if (b === 0x00 || state.left === 0) finishCommand(base + i);
          break;
        }
        case "block-header": {
          const s = state;
          s.header.push(bytes[i]!);
          i++;
          const blocks = command!.blocks!;
          if (s.header.length < blocks.headerLength) break;
          const length = blocks.dataLength(s.header);
          dataParts.push(Uint8Array.from(s.header));
          if (length < 0)
            finishCommand(base + i); // an impossible block: what follows is read as new input
          else if (length > 0) state = { mode: "block-data", blocksLeft: s.blocksLeft, left: length };
          else if (s.blocksLeft > 1) state = { mode: "block-header", blocksLeft: s.blocksLeft - 1, header: [] };
          else finishCommand(base + i);
          break;
        }
        case "block-data": {
          const s = state;
          const take = Math.min(s.left, bytes.length - i);
          dataParts.push(bytes.slice(i, i + take));
          s.left -= take;
          i += take;
          if (s.left === 0) {
            if (s.blocksLeft > 1) state = { mode: "block-header", blocksLeft: s.blocksLeft - 1, header: [] };
            else finishCommand(base + i);
          }
          break;
        }
        default: {
          const never: never = state;
          throw new Error(`unknown state ${JSON.stringify(never)}`);
        }
      }
    }
  };

  return {
    get pendingHead(): number {
      return state.mode === "head" ? head.length : 0;
    },
    get offset(): number {
      return offset;
    },
    push(bytes: Uint8Array): Token[] {
      out = [];
      process(bytes, offset);
      offset += bytes.length;
      const tokens = out;
      out = [];
      return tokens;
    },
    flush(): Token[] {
      out = [];
      if (state.mode !== "ready") {
        let n = head.length;
        for (const p of dataParts) n += p.length;
        const bytes = new Uint8Array(n);
        bytes.set(head, 0);
        let at = head.length;
        for (const p of dataParts) {
          bytes.set(p, at);
          at += p.length;
        }
        emit("unknown", command ? `${command.name} (truncated)` : "truncated", headStart, offset, bytes);
        head = [];
        dataParts = [];
        command = undefined;
        state = { mode: "ready" };
      }
      const tokens = out;
      out = [];
      return tokens;
    },
  };
}

/** Tokenize a whole byte string (tests, PNG rendering of stored receipts). */
export function tokenize(bytes: Uint8Array, limits?: TokenizerLimits): Token[] {
  const t = createTokenizer(limits);
  return [...t.push(bytes), ...t.flush()];
}
