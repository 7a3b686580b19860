/**
 * What a port session hands to the write path for one receipt: the one definition shared by the sessions
 * (src/ingest) and the write path (src/record.ts).
 */
import type { JournalRange } from "./journal-sink.js";

export interface RecordInput {
  readonly registerId: string;
  readonly driverId: string;
  /** Unvalidated receipt object from the driver (ReceiptInput shape); the write path validates it. */
  readonly receipt: unknown;
  /** The exact bytes it came from. */
  readonly raw: Uint8Array;
  /** Our clock when the bytes were decoded (ms since epoch). */
  readonly receivedAt: number;
  /**
   * Where `raw` lies in the raw capture journal, when the session keeps one. The write path links it to the receipt
   * (or quarantine) row in the transaction that commits that row, together with the journal chunks themselves.
   */
  readonly journal?: JournalRange;
}
