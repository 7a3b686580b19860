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
  | "BAD_JSON";

/**
 * The two ends a tap or bridge sits between: the register (or POS, the host that sends commands and sales) and the
 * device it talks to (a receipt printer, a fiscal printer).
 */
export type Side = "register" | "device";

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
      /** e.g. a NAK line; sent right away. */
      readonly reply?: Uint8Array;
    };

/** Sans-I/O: no ports, no timers, no clock, no logging. Deterministic for the same inputs. */
export interface Decoder {
  /** Bytes as they arrived (any chunking). Never throws on bad input. */
  push(bytes: Uint8Array, nowMs: number): DecoderEvent[];
  /** The line was quiet for the driver's `idleMs`, or the port closed: flush whatever is complete. */
  idle(nowMs: number): DecoderEvent[];
}

/** A decoder that sees both directions (tap and bridge roles). Same rules as {@link Decoder}. */
export interface TapDecoder {
  /** Bytes as they arrived from one side. */
  push(bytes: Uint8Array, nowMs: number, from: Side): DecoderEvent[];
  idle(nowMs: number): DecoderEvent[];
}

export interface Driver<Options = unknown> {
  /** Stable id, stored with every receipt. Never rename; add a new id. */
  readonly id: string;
  readonly title: string;
  /** Factory defaults; config may override per register. */
  readonly serial: SerialSettings;
  /** Set for inter-byte-timeout protocols; the session owns the timer. */
  readonly idleMs?: number;
  /** Per-register options, validated at config load. */
  readonly options: z.ZodType<Options>;
  createDecoder(options: Options): Decoder;
  /** For drivers with a tap or bridge role: a decoder fed from both sides (the session owns both ports). */
  createTapDecoder?(options: Options): TapDecoder;
}

export const defineDriver = <O>(driver: Driver<O>): Driver<O> => driver;
