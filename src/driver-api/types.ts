/**
 * The contract between drivers and the daemon (design.md "Drivers are sans-I/O"). Drivers import only from
 * src/driver-api; they never open ports, start timers, read the clock or log.
 */
import type { z } from "zod";

export interface SerialSettings {
  readonly baudRate: number;
  readonly dataBits: 7 | 8;
  readonly parity: "none" | "even" | "odd";
  readonly stopBits: 1 | 2;
  /**
   * Hardware flow control by the kernel (CRTSCTS): `rtscts` for a printer that signals busy on CTS. Default none.
   * XON/XOFF is not set here: on a bridge those bytes pass through to the register as they are.
   */
  readonly flowControl?: "none" | "rtscts";
}

/** The invoice a receipt became, as the register may need to print or acknowledge it. */
export interface InvoiceRef {
  /** Cash-register tax-authority code, e.g. `M1-26-A1B2C-00000000123`. */
  readonly mccqt: string;
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly shdon: number;
  /** The lookup QR payload (`DLQRCode`). */
  readonly qr: string;
}

/** What the write path says about one receipt. The session turns it into the protocol's reply. */
export type RecordOutcome =
  /** Committed: receipt, raw bytes, signed invoice and delivery are durable. */
  | { readonly status: "ok"; readonly invoice: InvoiceRef }
  /** The same register sent the same receipt id before; it was invoiced then, not now. */
  | { readonly status: "dup"; readonly invoice: InvoiceRef }
  /** The receipt is wrong (bad field, totals do not add up …): kept in quarantine with the reason, not invoiced. */
  | { readonly status: "rejected"; readonly code: string; readonly message: string }
  /** Nothing was stored (disk full, database locked …): the register must send it again later. */
  | { readonly status: "failed"; readonly code: string; readonly message: string };

export type ProblemCode =
  | "BAD_CHECKSUM"
  | "GARBAGE"
  | "UNKNOWN_RECORD"
  | "TRUNCATED"
  | "TOO_LONG"
  | "DECODE_FAILED"
  | "BAD_JSON"
  /** A print job made mostly of images (no text to read): kept for review, never guessed into an invoice. */
  | "RASTER_ONLY"
  /** A print job that matches none of the register's receipt templates (or has no item lines). */
  | "NO_TEMPLATE"
  /** The printed lines do not add up to the printed total (or a line to quantity × unit price). */
  | "TOTAL_MISMATCH"
  /** A field a template found cannot be read (an amount with decimals, a date that does not exist …). */
  | "FIELD_INVALID"
  /** The register cancelled an open receipt: no invoice, kept for audit. */
  | "RECEIPT_CANCELLED"
  /** A storno naming no sale hoadon can find (or `storno: quarantine`): kept with its reference. */
  | "STORNO_UNSUPPORTED"
  /** The register closed the day (Z report): its totals, kept for the daily reconciliation. */
  | "DAY_CLOSE"
  /** A well-formed command the device refused (no receipt open, not fully paid …). */
  | "COMMAND_REFUSED";

/**
 * The two ends a tap or bridge sits between: the register (or POS, the host that sends commands and sales) and the
 * device it talks to (a receipt printer, a fiscal printer).
 */
export type Side = "register" | "device";

/**
 * Where an event's bytes lie in the stream of one side: byte offsets counted from the first byte that side pushed into
 * this decoder (`end` exclusive). The session adds the journal offset the decoder started at, so a receipt can name
 * the exact journal range it came from (issue 4 "provenance").
 */
export interface ByteSpan {
  readonly side: Side;
  readonly start: number;
  readonly end: number;
}

/** What a decoder can say, in order. The session acts on events in the order given. */
export type DecoderEvent =
  | {
      readonly type: "receipt";
      /**
       * Where `reply` bytes go. Default "register" (an ack). A bridge may answer the device instead, e.g. the
       * invoice code and lookup QR printed at the foot of the receipt before the held cut.
       */
      readonly replyTo?: Side;
      /** Unvalidated receipt object (ReceiptInput shape); the write path validates it with zod. */
      readonly receipt: unknown;
      /** The exact bytes this receipt came from. */
      readonly raw: Uint8Array;
      /** Where `raw` lies in the stream, when the driver knows (else the session finds it). */
      readonly span?: ByteSpan;
      /** Bytes to answer once the outcome is known (ack/nak), or undefined when the protocol has no answer. */
      readonly reply: (outcome: RecordOutcome) => Uint8Array | undefined;
    }
  /** Protocol bytes to send now that do not depend on a commit (status answers, SYN …). */
  | { readonly type: "reply"; readonly bytes: Uint8Array }
  /** The register said who it is (serial number, model, firmware); the session pins it and alerts on a change. */
  | {
      readonly type: "identity";
      readonly serial?: string;
      readonly model?: string;
      readonly firmware?: string;
    }
  /** Bytes a bridge writes to one side now (pass-through, status answers in sink role …). */
  | { readonly type: "forward"; readonly to: Side; readonly bytes: Uint8Array }
  | {
      readonly type: "problem";
      readonly code: ProblemCode;
      readonly detail: string;
      readonly raw: Uint8Array;
      /** Where `raw` lies in the stream, when the driver knows. */
      readonly span?: ByteSpan;
      /** e.g. a NAK line; sent right away, to the register. */
      readonly reply?: Uint8Array;
    };

/** Sans-I/O: no ports, no timers, no clock, no logging. Deterministic for the same inputs. */
export interface Decoder {
  /** Bytes as they arrived (any chunking). Never throws on bad input. */
  push(bytes: Uint8Array, nowMs: number): DecoderEvent[];
  /** The line was quiet for the driver's `idleMs`, or the port closed: flush whatever is complete. */
  idle(nowMs: number): DecoderEvent[];
  /**
   * The port closed and this decoder will read the next connection of the same port. A device keeps its state
   * across a cable unplug (a fiscal printer's open receipt, its last answer per SEQ), so a decoder speaking for one
   * drops only what the unplug cut: a partial frame. Without this method the session flushes with `idle` and starts
   * a fresh decoder on every connection (right for line protocols). `idle` still ends the decoder at stop.
   */
  linkDown?(nowMs: number): DecoderEvent[];
}

/**
 * A decoder that sees both directions (tap and bridge roles). Same rules as {@link Decoder}. In a bridge the decoder
 * decides what passes: bytes reach the other side only through `forward` events (and receipt replies with
 * `replyTo`), so it can hold back a cut until the receipt is committed. It must forward everything else at once.
 */
export interface TapDecoder {
  /** Bytes as they arrived from one side. */
  push(bytes: Uint8Array, nowMs: number, from: Side): DecoderEvent[];
  /** The register side was quiet for the driver's idle time, or its port closed: flush whatever is complete. */
  idle(nowMs: number): DecoderEvent[];
  /**
   * The register side's port closed and will come back (see {@link Decoder.linkDown}): the device behind the bridge
   * still has its state, so keep the shadow of it. Without this method the session calls `idle`.
   */
  linkDown?(nowMs: number): DecoderEvent[];
  /**
   * A side's port came up or went down (the device unplugged, the printer switched off …). A bridge may answer for
   * an absent device, or release bytes it held for it.
   */
  link?(side: Side, up: boolean, nowMs: number): DecoderEvent[];
}

export interface Driver<Options = unknown> {
  /** Stable id, stored with every receipt. Never rename; add a new id. */
  readonly id: string;
  readonly title: string;
  /** Factory defaults; config may override per register. */
  readonly serial: SerialSettings;
  /** Set for inter-byte-timeout protocols; the session owns the timer. */
  readonly idleMs?: number;
  /** The idle time for these options, when it is a per-register setting (overrides `idleMs`). */
  idleMsFor?(options: Options): number | undefined;
  /**
   * How many ports a register with these options needs: 1 (the default; `createDecoder`) or 2 (a bridge or tap
   * between the register and its device; `createTapDecoder`, with the register's `devicePort`).
   */
  portsFor?(options: Options): 1 | 2;
  /**
   * What the register must hear while a receipt it handed over is still being committed, for protocols whose
   * device answers within a deadline or says it is busy (Datecs ISL: `16` SYN every 60 ms, register-protocols.md
   * §4.2). The session owns the timer and writes `bytes` to the register side every `everyMs` until the reply goes
   * out. Undefined (the default): the register simply waits.
   */
  busySignalFor?(options: Options): { readonly bytes: Uint8Array; readonly everyMs: number } | undefined;
  /** Per-register options, validated at config load. */
  readonly options: z.ZodType<Options>;
  createDecoder(options: Options): Decoder;
  /** For drivers with a tap or bridge role: a decoder fed from both sides (the session owns both ports). */
  createTapDecoder?(options: Options): TapDecoder;
  /**
   * For the auditor: what stored raw bytes show on paper, for protocols that are a print stream — the printed text
   * and a PNG of their pictures. Pure and deterministic, so nothing of it needs storing.
   */
  preview?(options: Options, raw: Uint8Array): Preview;
}

/** What a print job looks like on paper ({@link Driver.preview}). */
export interface Preview {
  /** The printed text, print jobs separated by a line with ✂. */
  readonly text?: string;
  /** Its pictures (a logo, a receipt printed as an image) as one PNG. */
  readonly png?: Uint8Array;
}

export const defineDriver = <O>(driver: Driver<O>): Driver<O> => driver;
