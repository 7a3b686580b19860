/**
 * What a session needs from the raw capture journal (issue 4 item 5) and from the register-identity pins (item 6).
 * src/store/journal.ts implements both over SQLite; tests use in-memory fakes. Every call is synchronous.
 */
import type { Side } from "../driver-api/index.js";

/** One byte stream: what one port of one register sent us (`in`) or we wrote to it (`out`). */
export interface JournalStream {
  readonly registerId: string;
  readonly side: Side;
  readonly direction: "in" | "out";
}

/** A byte range `[start, end)` of a stream: where a receipt came from. */
export interface JournalRange extends JournalStream {
  readonly start: number;
  readonly end: number;
}

/**
 * What a chunk begins, besides bytes: `connection`, the first bytes of a new connection of the port (the one before
 * went down); `session`, the first since hoadon started. A replay resets the decoder there as the session did.
 */
export type ChunkStarts = "connection" | "session";

/** The journal, as sessions write it. */
export interface JournalSink {
  /**
   * Keep `bytes` (a chunk as read or written) at the end of `stream`; returns the chunk's stream offset. Buffered in
   * memory until {@link JournalSink.flush}; never throws.
   */
  append(stream: JournalStream, bytes: Uint8Array, at: number, starts?: ChunkStarts): number;
  /** The stream's length so far (the offset its next chunk gets). */
  offset(stream: JournalStream): number;
  /** Make everything appended durable (one SQLite transaction). Throws when the store cannot write. */
  flush(): void;
}

/** What a register (or its printer) said about itself. */
export interface DeviceIdentity {
  readonly serial?: string;
  readonly model?: string;
  readonly firmware?: string;
}

/** The pin after an identity report. */
export type IdentityObservation =
  /** First report, or new fields added to the pin without contradicting it. */
  | { readonly status: "pinned"; readonly identity: DeviceIdentity }
  /** Same as the pin. */
  | { readonly status: "same"; readonly identity: DeviceIdentity }
  /** A field differs from the pin: the register was swapped or updated. An alert is in the event log. */
  | { readonly status: "changed"; readonly identity: DeviceIdentity; readonly previous: DeviceIdentity };

/**
 * Pins identities per register and raises the alert on a change: synchronous on the store's own thread, a promise
 * when the store is written by the writer thread (src/writer).
 */
export type IdentityPins = (
  registerId: string,
  identity: DeviceIdentity,
  at: number,
) => IdentityObservation | Promise<IdentityObservation>;
