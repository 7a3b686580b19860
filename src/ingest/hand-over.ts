/**
 * Reply after commit, shared by the one-port and the two-port session: a decoder's events are acted on in order; a
 * receipt is handed to the write path and its reply (ack, nak, the held cut, the fiscal printer's answer) goes out
 * only once the outcome is known — committed. While a receipt waits for its group commit, every later event of that
 * session waits behind it (so the bytes a register or printer gets keep their order, as if the write were
 * immediate), and the register hears the driver's busy signal, if it declares one (Datecs: SYN every 60 ms).
 */
import type { DecoderEvent, RecordOutcome } from "../driver-api/index.js";
import type { Clock } from "../shared/clock.js";
import type { Logger } from "../shared/log.js";
import type { JournalRange } from "./journal-sink.js";
import type { RecordInput } from "./record-input.js";

type ReceiptEvent = Extract<DecoderEvent, { type: "receipt" }>;
type OtherEvent = Exclude<DecoderEvent, { type: "receipt" }>;

/** Dependencies of {@link createHandOver}. */
export interface HandOverDeps {
  readonly registerId: string;
  readonly driverId: string;
  /** The write path: its outcome is committed when it is returned or resolved. */
  readonly record: (input: RecordInput) => RecordOutcome | Promise<RecordOutcome>;
  /** Act on any other event (forward, reply, problem, identity), synchronously. */
  readonly act: (event: OtherEvent) => void;
  /** Where a receipt's bytes lie in the journal. */
  readonly rangeOf: (event: ReceiptEvent) => JournalRange | undefined;
  /** Write a receipt's reply to the side it names. */
  readonly reply: (event: ReceiptEvent, bytes: Uint8Array) => void;
  /** Keep bytes that did not make an invoice because the write path threw. */
  readonly quarantine: (code: string, detail: string, raw: Uint8Array, at: number, journal?: JournalRange) => void;
  /** Each outcome, once known (counters, live events). */
  readonly outcome: (receiptId: string | undefined, outcome: RecordOutcome) => void;
  /** The driver's busy signal, written to the register while a receipt waits. */
  readonly busy?: { readonly bytes: Uint8Array; readonly everyMs: number; readonly send: (bytes: Uint8Array) => void };
  readonly clock: Clock;
  readonly log: Logger;
}

/** A session's ordered event handler. */
export interface HandOver {
  /** Act on `events` in order (after those still waiting behind a receipt). */
  push(events: readonly DecoderEvent[]): void;
  /** True while a receipt waits for its commit (later events are queued). */
  readonly waiting: boolean;
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export const receiptIdOf = (receipt: unknown): string | undefined => {
  if (typeof receipt !== "object" || receipt === null || !("receiptId" in receipt)) return undefined;
  return typeof receipt.receiptId === "string" ? receipt.receiptId : undefined;
};

const isPromise = <T>(value: T | Promise<T>): value is Promise<T> =>
  typeof (value as { then?: unknown } | null)?.then === "function";

export function createHandOver(deps: HandOverDeps): HandOver {
  const { clock, log } = deps;
  /** Events that arrived while a receipt was waiting, in order. */
  let queued: DecoderEvent[] = [];
  let waiting = false;

  const threw = (error: unknown, event: ReceiptEvent, receivedAt: number, journal?: JournalRange): RecordOutcome => {
    // Nothing is known to be stored: answer "failed" so the register sends it again, and keep the bytes.
    log.error({ err: error, receiptId: receiptIdOf(event.receipt) }, "record threw");
    const message = `Lỗi nội bộ khi ghi, hãy gửi lại / internal error while recording, send again: ${messageOf(error)}`;
    deps.quarantine("RECORD_FAILED", message, event.raw, receivedAt, journal);
    return { status: "failed", code: "RECORD_FAILED", message };
  };

  const answer = (event: ReceiptEvent, outcome: RecordOutcome): void => {
    const receiptId = receiptIdOf(event.receipt);
    if (outcome.status === "ok" || outcome.status === "dup") {
      log.info({ receiptId, status: outcome.status, mccqt: outcome.invoice.mccqt }, "receipt recorded");
    } else {
      log.warn({ receiptId, status: outcome.status, code: outcome.code }, "receipt not invoiced");
    }
    deps.outcome(receiptId, outcome);
    let bytes: Uint8Array | undefined;
    try {
      bytes = event.reply(outcome);
    } catch (error) {
      log.error({ err: error, receiptId }, "driver reply threw");
    }
    if (bytes) deps.reply(event, bytes);
  };

  /** Hand one receipt over; returns the pending outcome, or undefined once it is answered. */
  const handOver = (event: ReceiptEvent): Promise<RecordOutcome> | undefined => {
    const receivedAt = clock.now();
    const journal = deps.rangeOf(event);
    const input: RecordInput = {
      registerId: deps.registerId,
      driverId: deps.driverId,
      receipt: event.receipt,
      raw: event.raw,
      receivedAt,
      ...(journal ? { journal } : {}),
    };
    let result: RecordOutcome | Promise<RecordOutcome>;
    try {
      result = deps.record(input);
    } catch (error) {
      result = threw(error, event, receivedAt, journal);
    }
    if (!isPromise(result)) {
      answer(event, result);
      return undefined;
    }
    return result.then(
      (outcome) => outcome,
      (error: unknown) => threw(error, event, receivedAt, journal),
    );
  };

  const run = (events: readonly DecoderEvent[]): void => {
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      if (event.type !== "receipt") {
        deps.act(event);
        continue;
      }
      const pending = handOver(event);
      if (!pending) continue;
      waiting = true;
      queued = [...events.slice(i + 1), ...queued];
      const busy = deps.busy;
      const timer = busy ? setInterval(() => busy.send(busy.bytes), busy.everyMs) : undefined;
      void pending.then((outcome) => {
        if (timer) clearInterval(timer);
        waiting = false;
        try {
          answer(event, outcome);
        } finally {
          const rest = queued;
          queued = [];
          run(rest);
        }
      });
      return;
    }
  };

  return {
    push(events: readonly DecoderEvent[]): void {
      if (events.length === 0) return;
      if (waiting) queued.push(...events);
      else run(events);
    },
    get waiting(): boolean {
      return waiting;
    },
  };
}
