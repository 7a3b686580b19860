/**
 * The messages between the port thread (src/writer/client.ts) and the writer thread (src/writer/thread.ts). All plain
 * data: they are copied by structured clone, chunk bytes moved.
 */
import type { RecordOutcome } from "../driver-api/types.js";
import type { ForwarderEvent } from "../forward/index.js";
import type { DeviceIdentity, IdentityObservation, JournalStream } from "../ingest/journal-sink.js";
import type { PortLogEntry } from "../ingest/port-log.js";
import type { RecordInput } from "../ingest/record-input.js";
import type { QuarantineInput } from "../ingest/register-session.js";
import type { ErrorCode } from "../shared/errors.js";
import type { JournalChunk, JournalHead } from "../store/journal.js";
import type { WriterConfig } from "./config.js";

/** `workerData` of the writer thread. */
export interface WriterThreadData {
  readonly config: WriterConfig;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The streams whose heads the port thread's journal cursor needs (every register's four). */
  readonly streams: readonly JournalStream[];
  /** Post the forwarder's events back (the demo counts them). */
  readonly forwarderEvents: boolean;
}

/** An error as it crosses threads: a DaemonError keeps its code (and so its exit status). */
export interface ThreadError {
  readonly code?: ErrorCode;
  readonly message: string;
}

export type ToWriter =
  | { readonly t: "chunks"; readonly chunks: readonly JournalChunk[] }
  | { readonly t: "record"; readonly id: number; readonly input: RecordInput }
  | { readonly t: "quarantine"; readonly q: QuarantineInput }
  | { readonly t: "port"; readonly entry: PortLogEntry }
  | {
      readonly t: "identity";
      readonly id: number;
      readonly registerId: string;
      readonly identity: DeviceIdentity;
      readonly at: number;
    }
  | { readonly t: "stop" };

export type FromWriter =
  /** Started: the journal heads of `WriterThreadData.streams`, in that order. */
  | { readonly t: "ready"; readonly heads: readonly JournalHead[] }
  /** Could not start (bad key, password, store): nothing was served. */
  | { readonly t: "fatal"; readonly error: ThreadError }
  | { readonly t: "outcome"; readonly id: number; readonly outcome: RecordOutcome }
  /** The write path threw (a bug): its savepoint was rolled back. */
  | { readonly t: "threw"; readonly id: number; readonly error: ThreadError }
  | { readonly t: "identity"; readonly id: number; readonly observation: IdentityObservation }
  | { readonly t: "identity-failed"; readonly id: number; readonly error: ThreadError }
  | { readonly t: "forwarder"; readonly event: ForwarderEvent }
  /** Stopped: everything queued is committed, the journal flushed, the store closed. */
  | { readonly t: "stopped" };
