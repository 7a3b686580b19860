/**
 * Capture files (style.md Part 4): the one text format the session's tap writes and tests replay.
 *
 * ```
 * # register: till-1            ← header comments (`# key: value`) before the first chunk
 * # options: {"requireCrc":true}
 * +0     < 7b 22 76 22 3a 31      ← +ms since the previous chunk, `<` from the register, hex bytes
 *          2c 22 74 79 70 65      ← an indented hex line continues the chunk above
 * +2     > 7b 22 61 63 6b          ← `>` written by us
 * +1     <d 12                     ← `<d` / `>d`: from / to the device side of a bridge (the printer)
 * ```
 * Chunk boundaries are kept because they are where bugs live. A capture with `# decoder: tap` is replayed through
 * the driver's tap decoder, both sides in order; others through its one-port decoder (register side only).
 */
import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import type { Decoder, DecoderEvent, Driver, RecordOutcome, Side, TapDecoder } from "../driver-api/index.js";
import { fromHex, toHex, utf8Text } from "../driver-api/index.js";
import { type Clock, vnDate, vnDateTime } from "../shared/clock.js";
import type { Logger } from "../shared/log.js";

/** One chunk of a capture. */
export interface CaptureChunk {
  /** Milliseconds since the previous chunk (as written). */
  readonly deltaMs: number;
  /** Milliseconds since the start of the capture. */
  readonly atMs: number;
  /** `in`: from the register (`<`); `out`: written by us (`>`). */
  readonly direction: "in" | "out";
  /** Which port: the register's (`<`, `>`) or, in a bridge, the device's (`<d`, `>d`). */
  readonly side: Side;
  readonly bytes: Uint8Array;
}

/**
 * A port going down or coming back, as the capture tap notes it (`# disconnected: …`, `# device connected: …`), or
 * hoadon starting again in the middle of a file (`# file opened: …` after a chunk; the journal export's `# started:`).
 */
export interface CaptureLinkNote {
  /** Index of the first chunk after the note (`chunks.length` when none follows). */
  readonly before: number;
  readonly side: Side;
  readonly event: "up" | "down" | "start";
}

/** A parsed capture file. */
export interface Capture {
  /** `# key: value` comments before the first chunk (keys lower-cased). */
  readonly headers: Readonly<Record<string, string>>;
  readonly chunks: readonly CaptureChunk[];
  /** Where a port went down or came back, in order (see {@link replayCapture}). */
  readonly links: readonly CaptureLinkNote[];
}

/** A capture file that does not follow the format; `line` is 1-based. */
export class CaptureFormatError extends Error {
  override readonly name = "CaptureFormatError";
  constructor(
    readonly line: number,
    message: string,
  ) {
    super(`Dòng ${line} của tệp capture sai định dạng / capture line ${line} malformed: ${message}`);
  }
}

const CHUNK = /^\+(\d+)\s+([<>])(d?)((?:\s+[0-9a-fA-F]{2})*)\s*(?:#.*)?$/;
const CONTINUATION = /^\s+((?:[0-9a-fA-F]{2}\s*)+)(?:#.*)?$/;
const HEADER = /^#\s*([A-Za-z][A-Za-z0-9 _-]*):\s*(.*?)\s*$/;
/** The tap's notes: `# connected: …` / `# disconnected: …`, a bridge's with `register ` or `device ` before them. */
const LINK_NOTE = /^#\s*(?:(register|device)\s+)?(connected|disconnected):/;
/** hoadon (re)started: the tap's file header written again after chunks, or the journal export's note. */
const START_NOTE = /^#\s*(?:file opened|started):/;

/** Parse capture text. Throws {@link CaptureFormatError} with the line number on a malformed line. */
export function parseCapture(text: string): Capture {
  const headers: Record<string, string> = {};
  const chunks: { deltaMs: number; atMs: number; direction: "in" | "out"; side: Side; hex: string[] }[] = [];
  const links: CaptureLinkNote[] = [];
  let at = 0;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === "") continue;
    if (line.startsWith("#")) {
      const link = LINK_NOTE.exec(line);
      if (link) {
        links.push({
          before: chunks.length,
          side: link[1] === "device" ? "device" : "register",
          event: link[2] === "connected" ? "up" : "down",
        });
        continue;
      }
      if (chunks.length > 0 && START_NOTE.test(line)) {
        links.push({ before: chunks.length, side: "register", event: "start" });
        continue;
      }
      const h = chunks.length === 0 ? HEADER.exec(line) : null;
      if (h) headers[h[1]!.toLowerCase()] = h[2]!;
      continue;
    }
    const c = CHUNK.exec(line);
    if (c) {
      const deltaMs = Number(c[1]);
      at += deltaMs;
      chunks.push({
        deltaMs,
        atMs: at,
        direction: c[2] === "<" ? "in" : "out",
        side: c[3] === "d" ? "device" : "register",
        hex: [c[4]!],
      });
      continue;
    }
    const cont = CONTINUATION.exec(line);
    if (cont && chunks.length > 0) {
      chunks[chunks.length - 1]!.hex.push(cont[1]!);
      continue;
    }
    throw new CaptureFormatError(i + 1, JSON.stringify(line.slice(0, 60)));
  }
  return {
    headers,
    links,
    chunks: chunks.map((c) => ({
      deltaMs: c.deltaMs,
      atMs: c.atMs,
      direction: c.direction,
      side: c.side,
      bytes: fromHex(c.hex.join(" ")),
    })),
  };
}

/**
 * One chunk as capture text: `+ms < hex…\n`, wrapped every `wrap` bytes onto indented continuation lines. The device
 * side of a bridge is marked `<d` / `>d`.
 */
export function formatCaptureChunk(
  deltaMs: number,
  direction: "in" | "out",
  bytes: Uint8Array,
  wrap = 0,
  side: Side = "register",
): string {
  const head = `+${Math.max(0, Math.round(deltaMs))}`.padEnd(6);
  const arrow = (direction === "in" ? "<" : ">") + (side === "device" ? "d" : "");
  if (wrap <= 0 || bytes.length <= wrap) return `${head} ${arrow} ${toHex(bytes, " ")}\n`;
  let out = "";
  for (let i = 0; i < bytes.length; i += wrap) {
    const hex = toHex(bytes.subarray(i, i + wrap), " ");
    out += i === 0 ? `${head} ${arrow} ${hex}\n` : `${" ".repeat(head.length + arrow.length + 2)}${hex}\n`;
  }
  return out;
}

/** The idle time a driver uses with these options (per register when the driver says so). */
export function idleMsOf<O>(driver: Driver<O>, options: O): number | undefined {
  return driver.idleMsFor?.(options) ?? driver.idleMs;
}

/**
 * Replay a capture through a fresh decoder, as the session would: `idle()` when a register-side gap reaches the
 * driver's idle time, and once at the end (the port closed). One-port captures feed the `<` chunks to
 * `createDecoder`; `# decoder: tap` captures feed `<` (register) and `<d` (device) chunks to `createTapDecoder`.
 * `>` chunks (what we wrote) are not replayed. Where the tap noted the register's port going down, the decoder's
 * `linkDown` runs, or `idle` and a fresh decoder for the next connection (one port) — what the session does; a
 * device port going down or up in a tap capture is told to the decoder's `link`; where hoadon started again, `idle`
 * and a fresh decoder.
 */
export function replayCapture<O>(driver: Driver<O>, options: O, capture: string | Capture): DecoderEvent[] {
  const parsed = typeof capture === "string" ? parseCapture(capture) : capture;
  const tap = parsed.headers["decoder"] === "tap";
  if (tap && !driver.createTapDecoder) throw new TypeError(`driver ${driver.id} has no tap decoder`);
  let tapDecoder: TapDecoder | undefined = tap ? driver.createTapDecoder!(options) : undefined;
  let decoder: Decoder | undefined = tap ? undefined : driver.createDecoder(options);
  const push = (bytes: Uint8Array, at: number, side: Side): DecoderEvent[] =>
    tapDecoder ? tapDecoder.push(bytes, at, side) : decoder!.push(bytes, at);
  const idle = (at: number): DecoderEvent[] => (tapDecoder ? tapDecoder.idle(at) : decoder!.idle(at));
  /** Flush and start a fresh decoder. */
  const restart = (at: number): DecoderEvent[] => {
    const flushed = idle(at);
    if (tapDecoder) tapDecoder = driver.createTapDecoder!(options);
    else decoder = driver.createDecoder(options);
    return flushed;
  };
  const linkChanged = (note: CaptureLinkNote, at: number): DecoderEvent[] => {
    if (note.event === "start") return restart(at); // hoadon started again: nothing of the decoder survives
    if (tapDecoder) {
      if (note.side === "device") return tapDecoder.link?.("device", note.event === "up", at) ?? [];
      if (note.event === "up") return [];
      return tapDecoder.linkDown ? tapDecoder.linkDown(at) : tapDecoder.idle(at);
    }
    if (note.event === "up" || note.side !== "register") return [];
    return decoder!.linkDown ? decoder!.linkDown(at) : restart(at);
  };
  const idleMs = idleMsOf(driver, options);
  const events: DecoderEvent[] = [];
  let last: number | undefined;
  let link = 0;
  const linksBefore = (index: number, at: number): void => {
    for (; link < parsed.links.length && parsed.links[link]!.before <= index; link++) {
      events.push(...linkChanged(parsed.links[link]!, at));
    }
  };
  for (const [index, chunk] of parsed.chunks.entries()) {
    linksBefore(index, last ?? chunk.atMs);
    if (chunk.direction !== "in") continue;
    if (chunk.side === "device" && !tapDecoder) continue;
    if (chunk.side === "register") {
      if (idleMs !== undefined && last !== undefined && chunk.atMs - last >= idleMs)
        events.push(...idle(last + idleMs));
      last = chunk.atMs;
    }
    events.push(...push(chunk.bytes, chunk.atMs, chunk.side));
  }
  linksBefore(parsed.chunks.length, last ?? 0);
  events.push(...idle(last ?? 0));
  return events;
}

/** Fixed outcomes used to show what a receipt's `reply` function answers (expected files, `hoadon decode`). */
export const SAMPLE_OUTCOMES = {
  ok: {
    status: "ok",
    invoice: {
      mccqt: "M1-26-TEST0-00000000001",
      khmshdon: "1",
      khhdon: "C26MAB",
      shdon: 1,
      qr: "00020101021226TEST",
    },
  },
  rejected: { status: "rejected", code: "RECEIPT_INVALID", message: "Tổng tiền không khớp / total does not add up" },
} as const satisfies Record<string, RecordOutcome>;

/** Bytes for JSON: text when they are printable UTF-8, else hex. */
function bytesJson(bytes: Uint8Array): { text: string } | { hex: string } {
  const text = utf8Text(bytes);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what makes text unreadable
  if (text !== undefined && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return { text };
  return { hex: toHex(bytes) };
}

/** A decoder event as plain JSON (raw bytes as hex; replies as text when printable). */
export function eventToJson(event: DecoderEvent): Record<string, unknown> {
  switch (event.type) {
    case "receipt": {
      const replies: Record<string, unknown> = {};
      for (const [name, outcome] of Object.entries(SAMPLE_OUTCOMES)) {
        const bytes = event.reply(outcome);
        replies[name] = bytes === undefined ? null : bytesJson(bytes);
      }
      return {
        type: "receipt",
        ...(event.replyTo === undefined ? {} : { replyTo: event.replyTo }),
        receipt: event.receipt,
        raw: toHex(event.raw),
        ...(event.span === undefined ? {} : { span: event.span }),
        replies,
      };
    }
    case "reply":
      return { type: "reply", bytes: bytesJson(event.bytes) };
    case "problem": {
      const out: Record<string, unknown> = {
        type: "problem",
        code: event.code,
        detail: event.detail,
        raw: toHex(event.raw),
      };
      if (event.span !== undefined) out["span"] = event.span;
      if (event.reply !== undefined) out["reply"] = bytesJson(event.reply);
      return out;
    }
    case "identity":
      return { type: "identity", serial: event.serial, model: event.model, firmware: event.firmware };
    case "forward":
      return { type: "forward", to: event.to, bytes: bytesJson(event.bytes) };
    default: {
      const never: never = event;
      throw new TypeError(`unknown event ${JSON.stringify(never)}`);
    }
  }
}

/** The session's capture tap: appends everything to `<dir>/<register>-<YYYY-MM-DD>.cap` (Vietnam date). */
export interface CaptureTap {
  /** A new connection: writes a comment block; the next chunk starts at `+0`. */
  connected(port: string): void;
  /** Bytes from the register (or, in a bridge, from the device: `side = "device"`). */
  received(bytes: Uint8Array, side?: Side): void;
  /** Bytes we wrote to the register (or to the device). */
  sent(bytes: Uint8Array, side?: Side): void;
  /** A note in the capture (`# …`), e.g. the port going down. */
  note(text: string): void;
  /** Flush and close the file. */
  close(): Promise<void>;
}

/** Options of {@link createCaptureTap}. */
export interface CaptureTapOptions {
  readonly dir: string;
  readonly registerId: string;
  readonly driverId: string;
  readonly clock: Clock;
  readonly log: Logger;
  /** A bridge's tap: both ports in one file, marked `# decoder: tap`. */
  readonly tap?: boolean;
}

/**
 * Open a capture tap. File errors are logged once and switch the tap off; they never reach the session.
 */
export function createCaptureTap(options: CaptureTapOptions): CaptureTap {
  const { dir, registerId, driverId, clock, log } = options;
  const safeId = registerId.replace(/[^A-Za-z0-9._-]/g, "_");
  let stream: WriteStream | undefined;
  let day: string | undefined;
  let last: number | undefined;
  let broken = false;

  const write = (text: string): void => {
    if (broken) return;
    const now = clock.now();
    const today = vnDate(now);
    if (stream === undefined || today !== day) {
      stream?.end();
      day = today;
      try {
        mkdirSync(dir, { recursive: true });
      } catch (error) {
        broken = true;
        log.error({ err: error, dir }, "capture dir unavailable");
        return;
      }
      const file = join(dir, `${safeId}-${today}.cap`);
      const s = createWriteStream(file, { flags: "a" });
      s.on("error", (error) => {
        if (!broken) log.error({ err: error, file }, "capture write failed");
        broken = true;
      });
      stream = s;
      s.write(
        `# register: ${registerId}\n# driver: ${driverId}\n${options.tap ? "# decoder: tap\n" : ""}` +
          `# file opened: ${vnDateTime(now)}+07:00\n`,
      );
      last = undefined;
    }
    stream.write(text);
  };

  const chunk = (direction: "in" | "out", bytes: Uint8Array, side: Side): void => {
    const now = clock.now();
    const delta = last === undefined ? 0 : now - last;
    last = now;
    write(formatCaptureChunk(delta, direction, bytes, 0, side));
  };

  return {
    connected(port: string): void {
      write(`# connected: ${port} at ${vnDateTime(clock.now())}+07:00\n`);
      last = undefined;
    },
    received: (bytes, side = "register") => chunk("in", bytes, side),
    sent: (bytes, side = "register") => chunk("out", bytes, side),
    note(text: string): void {
      write(`# ${text.replace(/\r?\n/g, " ")}\n`);
    },
    close(): Promise<void> {
      const s = stream;
      stream = undefined;
      if (!s) return Promise.resolve();
      return new Promise<void>((resolve) => s.end(() => resolve()));
    },
  };
}
