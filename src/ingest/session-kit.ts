/**
 * What the one-port and the two-port session do alike around the decoder: live events, journal flushes, quarantine
 * of undecodable bytes, identity pins, and the receipt/problem counts their status shows. One copy, so the two roles
 * can never drift apart in how they keep bytes or report a swapped device.
 */
import type { DecoderEvent, RecordOutcome } from "../driver-api/index.js";
import { createHandOver, type HandOver, type HandOverDeps } from "./hand-over.js";
import type { DeviceIdentity, IdentityObservation, JournalRange } from "./journal-sink.js";
import type { RegisterSessionDeps, SessionEvent } from "./register-session.js";

/** The session's own dependencies the kit uses, and the ids and logger it reports with. */
export interface SessionKitDeps
  extends Pick<
    RegisterSessionDeps,
    "record" | "quarantine" | "onEvent" | "clock" | "journal" | "journalFlush" | "identity"
  > {
  readonly registerId: string;
  readonly driverId: string;
  readonly log: RegisterSessionDeps["log"];
  /** How an unpinned identity report is logged ("register identity", "device identity"). */
  readonly identityLabel: string;
}

export interface SessionKit {
  /** Receipts invoiced (ok or dup) and problems (problem events, receipts rejected or failed), for status. */
  readonly counts: { receipts: number; problems: number };
  emit(event: SessionEvent): void;
  /** `record`: before a receipt or quarantine, unless the write path commits the journal itself; `stop`: always. */
  flushJournal(when?: "record" | "stop"): void;
  /** Keep bytes that did not make a receipt; never throws (a failure is logged). */
  quarantine(code: string, detail: string, raw: Uint8Array, receivedAt: number, journal?: JournalRange): void;
  /** Pin a reported identity; a change raises the alert (kept by the pins in the event log). */
  onIdentity(identity: DeviceIdentity): void;
  /** A decoder problem: count, log, flush, quarantine with its journal range, emit (the caller sends `event.reply`). */
  onProblem(event: Extract<DecoderEvent, { type: "problem" }>, range: JournalRange | undefined): void;
  /** A receipt's outcome, once known: count and emit. */
  onOutcome(receiptId: string | undefined, outcome: RecordOutcome): void;
  /**
   * The session's ordered hand-over (src/ingest/hand-over.ts) to the write path, with the kit's ids, quarantine,
   * outcome counting and journal flush before each record; the session says how to act, where bytes came from and
   * where replies go.
   */
  handOver(parts: Pick<HandOverDeps, "act" | "rangeOf" | "reply" | "busy">): HandOver;
}

export function createSessionKit(deps: SessionKitDeps): SessionKit {
  const { registerId, driverId, clock, log } = deps;
  const counts = { receipts: 0, problems: 0 };

  const emit = (event: SessionEvent): void => {
    if (!deps.onEvent) return;
    try {
      deps.onEvent(event);
    } catch (error) {
      log.error({ err: error }, "onEvent listener threw");
    }
  };

  const flushJournal = (when: "record" | "stop" = "record"): void => {
    if (when === "record" && deps.journalFlush === "by-record") return;
    try {
      deps.journal?.flush();
    } catch (error) {
      // The receipt row keeps its own raw bytes; a journal that cannot be written must not stop invoicing.
      log.error({ err: error }, "journal flush failed");
    }
  };

  const quarantine = (
    code: string,
    detail: string,
    raw: Uint8Array,
    receivedAt: number,
    journal?: JournalRange,
  ): void => {
    try {
      deps.quarantine({ registerId, driverId, code, detail, raw, receivedAt, ...(journal ? { journal } : {}) });
    } catch (error) {
      log.error({ err: error, code, bytes: raw.length }, "quarantine failed");
    }
  };

  const onIdentity = (identity: DeviceIdentity): void => {
    const at = clock.now();
    if (!deps.identity) {
      log.info({ ...identity }, deps.identityLabel);
      return;
    }
    const seen = (observation: IdentityObservation): void => {
      if (observation.status === "changed")
        log.error({ previous: observation.previous, current: observation.identity }, "register identity changed");
      else if (observation.status === "pinned") log.info({ ...observation.identity }, "register identity pinned");
      emit({
        type: "identity",
        registerId,
        status: observation.status,
        identity: observation.identity,
        ...(observation.status === "changed" ? { previous: observation.previous } : {}),
        at,
      });
    };
    const failed = (error: unknown): void => log.error({ err: error, ...identity }, "identity pin failed");
    try {
      const observation = deps.identity(registerId, identity, at);
      if (observation instanceof Promise) observation.then(seen, failed);
      else seen(observation);
    } catch (error) {
      failed(error);
    }
  };

  const onOutcome = (receiptId: string | undefined, outcome: RecordOutcome): void => {
    if (outcome.status === "ok" || outcome.status === "dup") counts.receipts++;
    else counts.problems++;
    emit({
      type: "receipt",
      registerId,
      ...(receiptId === undefined ? {} : { receiptId }),
      outcome,
      at: clock.now(),
    });
  };

  return {
    counts,
    emit,
    flushJournal,
    quarantine,
    onIdentity,
    onProblem: (event, range) => {
      const at = clock.now();
      counts.problems++;
      log.warn({ code: event.code, detail: event.detail, bytes: event.raw.length }, "frame dropped");
      flushJournal();
      quarantine(event.code, event.detail, event.raw, at, range);
      emit({ type: "problem", registerId, code: event.code, detail: event.detail, at });
    },
    onOutcome,
    handOver: (parts) =>
      createHandOver({
        registerId,
        driverId,
        record: (input) => {
          flushJournal();
          return deps.record(input);
        },
        act: parts.act,
        rangeOf: parts.rangeOf,
        reply: parts.reply,
        quarantine,
        outcome: onOutcome,
        ...(parts.busy ? { busy: parts.busy } : {}),
        clock,
        log,
      }),
  };
}
