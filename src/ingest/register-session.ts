/**
 * One register's port session (design.md "The data path"): bytes → the driver's decoder → `record()` → the reply,
 * written only once `record()` has given its outcome (the receipt is committed; src/ingest/hand-over.ts). Reconnects with backoff after an unplug or
 * an open failure, with a new port instance and a fresh decoder each time. Never throws out: one register's trouble
 * stays with that register.
 */
import type {
  ByteSpan,
  Decoder,
  DecoderEvent,
  Driver,
  RecordOutcome,
  SerialSettings,
  Side,
} from "../driver-api/index.js";
import type { Clock } from "../shared/clock.js";
import type { Logger } from "../shared/log.js";
import { type CaptureTap, createCaptureTap, idleMsOf } from "./capture.js";
import type { PortConnection, PortSource } from "./connection.js";
import type {
  ChunkStarts,
  DeviceIdentity,
  IdentityObservation,
  IdentityPins,
  JournalRange,
  JournalSink,
  JournalStream,
} from "./journal-sink.js";
import { type Backoff, messageOf, runPortLoop } from "./port-loop.js";
import { portSourceFor } from "./port-source.js";
import type { RecordInput } from "./record-input.js";
import { createSessionKit } from "./session-kit.js";

export type { RecordInput };

/** What the session quarantines: bytes that did not make a receipt, with the reason. */
export interface QuarantineInput {
  readonly registerId: string;
  readonly driverId: string;
  /** A decoder `ProblemCode`, or `RECORD_FAILED` when `record()` threw. */
  readonly code: string;
  readonly detail: string;
  readonly raw: Uint8Array;
  readonly receivedAt: number;
  /** Where `raw` lies in the raw capture journal, when known. */
  readonly journal?: JournalRange;
}

/**
 * Live events for the demo's output and the port log (src/ingest/port-log.ts, read by `hoadon status`). `at` is the
 * session clock. `side` is set by a two-port session.
 */
export type SessionEvent =
  | {
      readonly type: "listening";
      readonly registerId: string;
      readonly address: string;
      readonly side?: Side;
      readonly at: number;
    }
  | {
      readonly type: "port-up";
      readonly registerId: string;
      readonly port: string;
      readonly side?: Side;
      readonly at: number;
    }
  | {
      readonly type: "port-down";
      readonly registerId: string;
      readonly error?: string;
      readonly side?: Side;
      readonly at: number;
    }
  | {
      readonly type: "open-failed";
      readonly registerId: string;
      readonly error: string;
      readonly retryInMs: number;
      readonly side?: Side;
      readonly at: number;
    }
  | {
      readonly type: "receipt";
      readonly registerId: string;
      /** The register's receipt id when the decoder found one. */
      readonly receiptId?: string;
      readonly outcome: RecordOutcome;
      readonly at: number;
    }
  | {
      readonly type: "problem";
      readonly registerId: string;
      readonly code: string;
      readonly detail: string;
      readonly at: number;
    }
  | {
      readonly type: "identity";
      readonly registerId: string;
      /** `changed`: the register (or its printer) was swapped or updated; an alert is in the event log. */
      readonly status: IdentityObservation["status"];
      readonly identity: DeviceIdentity;
      readonly previous?: DeviceIdentity;
      readonly at: number;
    }
  | { readonly type: "stopped"; readonly registerId: string; readonly at: number };

/** Dependencies of {@link startRegisterSession}. */
export interface RegisterSessionDeps {
  readonly register: {
    readonly id: string;
    /** A serial device path, `tcp://host:port` or `tcp-listen://host:port`. */
    readonly port: string;
    /** Overrides of the driver's serial settings. */
    readonly serial?: Partial<SerialSettings>;
  };
  readonly driver: Driver;
  /** Driver options, already validated by `driver.options`. */
  readonly options: unknown;
  /**
   * The write path: the outcome, returned or resolved, is committed. A promise (group commit) holds this session's
   * later events until it settles; the register hears the driver's busy signal meanwhile (`Driver.busySignalFor`).
   */
  readonly record: (input: RecordInput) => RecordOutcome | Promise<RecordOutcome>;
  /** Keep undecodable bytes (synchronous). */
  readonly quarantine: (q: QuarantineInput) => void;
  readonly onEvent?: (event: SessionEvent) => void;
  readonly clock: Clock;
  readonly log: Logger;
  /** Aborting stops the session: the port is closed and `stopped` resolves. */
  readonly signal: AbortSignal;
  /** Append every byte in and out to `<dir>/<register>-<date>.cap`. */
  readonly capture?: { readonly dir: string };
  /** Where connections come from; default: from `register.port`. Tests and custom transports set it. */
  readonly source?: PortSource;
  /** Reconnect backoff; default 100 ms doubling to 5 s, ±20 % jitter (never above the maximum). */
  readonly backoff?: Backoff;
  /** The raw capture journal: every byte in and out is appended (and flushed as `journalFlush` says). */
  readonly journal?: JournalSink;
  /**
   * `before-record` (default): the session flushes the journal (its own commit) before each `record()` and each
   * quarantine, so a receipt's journal range is durable before the receipt. `by-record`: the write path writes the
   * pending chunks in the receipt's own transaction (one commit for both; main.ts with src/store/group-commit.ts), and
   * the session only flushes when it stops.
   */
  readonly journalFlush?: "before-record" | "by-record";
  /** Pin identity reports per register (alert on a change). Without it they are only logged. */
  readonly identity?: IdentityPins;
}

/** A snapshot of a session for status output. */
export interface RegisterSessionState {
  readonly registerId: string;
  readonly connected: boolean;
  /** The latest port error (kept after a reconnect so status can show what happened). */
  readonly lastError?: string;
  /** Receipts the write path took (ok or dup). */
  readonly receipts: number;
  /** Problem events plus receipts that were rejected or failed. */
  readonly problems: number;
}

/** A running session. */
export interface RegisterSession {
  /** Resolves after abort, once the port is closed. Never rejects. */
  readonly stopped: Promise<void>;
  state(): RegisterSessionState;
}

/**
 * Journal bookkeeping for one stream of one session: appends chunks and turns decoder spans (offsets since the
 * decoder started) into journal ranges. Drivers that give no span are located by searching the recent bytes.
 */
export interface StreamJournal {
  /** A new decoder starts here (its span offsets count from the next byte). */
  restart(): void;
  /**
   * A connection of the port came up: the next chunk is marked as its start (`session` for the first one since
   * hoadon started, `connection` after), so a replay of the journal resets its decoder where the session did.
   */
  connected(): void;
  /** A chunk was read (or written). */
  append(bytes: Uint8Array, at: number): void;
  /** The journal range of an event's bytes, or undefined when unknown. */
  rangeOf(raw: Uint8Array, span: ByteSpan | undefined): JournalRange | undefined;
}

/** How far back a receipt without a span is looked for. */
const RECENT_BYTES = 1 << 20;

/** {@link StreamJournal} over a sink (or a no-op without one). */
export function streamJournal(sink: JournalSink | undefined, stream: JournalStream): StreamJournal {
  if (!sink) return { restart: () => {}, connected: () => {}, append: () => {}, rangeOf: () => undefined };
  let base = sink.offset(stream);
  let starts: ChunkStarts | undefined;
  let connectedBefore = false;
  // Chunks since the last located receipt (no span), to find the next one's bytes in.
  let chunks: Uint8Array[] = [];
  let chunksStart = base;
  let chunksLength = 0;
  /** Where the next located receipt may start (the end of the previous one). */
  let searchFrom = base;
  const forgetBefore = (offset: number): void => {
    while (chunks.length > 0 && chunksStart + chunks[0]!.length <= offset) {
      chunksStart += chunks[0]!.length;
      chunksLength -= chunks[0]!.length;
      chunks.shift();
    }
  };
  return {
    restart(): void {
      base = sink.offset(stream);
      chunks = [];
      chunksStart = base;
      chunksLength = 0;
      searchFrom = base;
    },
    connected(): void {
      // A connection that brought no bytes leaves its mark to the next one (a session start outranks a reconnect).
      starts = connectedBefore ? (starts ?? "connection") : "session";
      connectedBefore = true;
    },
    append(bytes: Uint8Array, at: number): void {
      if (bytes.length === 0) return;
      const offset = sink.append(stream, bytes, at, starts);
      starts = undefined;
      if (offset !== chunksStart + chunksLength) {
        chunks = [];
        chunksStart = offset;
        chunksLength = 0;
      }
      chunks.push(bytes);
      chunksLength += bytes.length;
      forgetBefore(chunksStart + chunksLength - RECENT_BYTES);
    },
    rangeOf(raw: Uint8Array, span: ByteSpan | undefined): JournalRange | undefined {
      if (span && span.side === stream.side) return { ...stream, start: base + span.start, end: base + span.end };
      if (raw.length === 0 || chunksLength === 0) return undefined;
      const window = Buffer.concat(chunks);
      const at = window.indexOf(raw, Math.max(0, searchFrom - chunksStart));
      if (at < 0) return undefined;
      const start = chunksStart + at;
      searchFrom = start + raw.length;
      forgetBefore(searchFrom);
      return { ...stream, start, end: searchFrom };
    },
  };
}

/** Start a session. Throws only on a malformed `register.port` (a config error). */
export function startRegisterSession(deps: RegisterSessionDeps): RegisterSession {
  const { register, driver, options, clock, signal } = deps;
  const log = deps.log.child({ mod: "ingest", register: register.id, driver: driver.id });
  const serial: SerialSettings = { ...driver.serial, ...register.serial };

  const kit = createSessionKit({
    ...deps,
    registerId: register.id,
    driverId: driver.id,
    log,
    identityLabel: "register identity",
  });
  const { emit, flushJournal, quarantine, onIdentity } = kit;

  const source =
    deps.source ??
    portSourceFor(register.port, serial, {
      onListening: (a) => {
        log.info({ address: `${a.host}:${a.port}` }, "listening");
        emit({ type: "listening", registerId: register.id, address: `${a.host}:${a.port}`, at: clock.now() });
      },
    });

  let connected = false;
  let lastError: string | undefined;
  const inJournal = streamJournal(deps.journal, { registerId: register.id, side: "register", direction: "in" });
  const outJournal = streamJournal(deps.journal, { registerId: register.id, side: "register", direction: "out" });
  const idleMs = idleMsOf(driver, options);
  const busySignal = driver.busySignalFor?.(options);

  const tap: CaptureTap | undefined = deps.capture
    ? createCaptureTap({ dir: deps.capture.dir, registerId: register.id, driverId: driver.id, clock, log })
    : undefined;

  /**
   * The decoder: one per connection, or one for the port's life when the driver keeps a device's state across an
   * unplug (`linkDown`); then the journal offsets it counts run on across connections too.
   */
  let decoder: Decoder | undefined;

  /** Serve one connection until it goes down or the session is aborted. */
  const serve = (conn: PortConnection): Promise<Error | undefined> =>
    new Promise<Error | undefined>((resolve) => {
      if (!decoder) {
        decoder = driver.createDecoder(options);
        inJournal.restart();
      }
      inJournal.connected();
      let idleTimer: NodeJS.Timeout | undefined;

      const send = (bytes: Uint8Array): void => {
        tap?.sent(bytes);
        outJournal.append(bytes, clock.now());
        conn.write(bytes).catch((error: unknown) => {
          log.debug({ err: messageOf(error), bytes: bytes.length }, "reply not written");
        });
      };

      const act = (event: Exclude<DecoderEvent, { type: "receipt" }>): void => {
        switch (event.type) {
          case "reply":
            send(event.bytes);
            break;
          case "problem":
            kit.onProblem(event, inJournal.rangeOf(event.raw, event.span));
            if (event.reply) send(event.reply);
            break;
          case "identity": {
            const { type: _type, ...identity } = event;
            onIdentity(identity);
            break;
          }
          case "forward":
            // A single-port session has only the register side.
            if (event.to === "register") send(event.bytes);
            break;
          default: {
            const never: never = event;
            log.error({ event: never }, "unknown decoder event");
          }
        }
      };

      const events = kit.handOver({
        act,
        rangeOf: (event) => inJournal.rangeOf(event.raw, event.span),
        reply: (_event, bytes) => send(bytes),
        ...(busySignal ? { busy: { ...busySignal, send } } : {}),
      });

      const decode = (run: () => DecoderEvent[], raw: Uint8Array | undefined): void => {
        let result: DecoderEvent[];
        try {
          result = run();
        } catch (error) {
          // A driver bug: keep the bytes, start over with a fresh decoder, carry on.
          const detail = `Lỗi trình điều khiển / driver error: ${messageOf(error)}`;
          log.error({ err: error }, "decoder threw");
          kit.counts.problems++;
          if (raw) quarantine("DECODE_FAILED", detail, raw, clock.now());
          decoder = driver.createDecoder(options);
          inJournal.restart();
          return;
        }
        events.push(result);
      };

      const armIdle = (): void => {
        if (idleMs === undefined) return;
        if (idleTimer) clearTimeout(idleTimer);
        idleTimer = setTimeout(() => {
          idleTimer = undefined;
          decode(() => decoder!.idle(clock.now()), undefined);
        }, idleMs);
      };

      const onAbort = (): void => {
        void conn.close();
      };

      conn.onData((bytes) => {
        tap?.received(bytes);
        inJournal.append(bytes, clock.now());
        decode(() => decoder!.push(bytes, clock.now()), bytes);
        armIdle();
      });
      conn.onClose((error) => {
        signal.removeEventListener("abort", onAbort);
        if (idleTimer) clearTimeout(idleTimer);
        // Flush what is complete; replies cannot go out any more, the register will resend.
        const d = decoder!;
        if (d.linkDown && !signal.aborted) decode(() => d.linkDown!(clock.now()), undefined);
        else {
          decode(() => d.idle(clock.now()), undefined);
          decoder = undefined;
        }
        resolve(error);
      });
      if (signal.aborted) onAbort();
      else signal.addEventListener("abort", onAbort, { once: true });
    });

  const run = (): Promise<void> =>
    runPortLoop({
      source,
      signal,
      clock,
      log,
      ...(deps.backoff ? { backoff: deps.backoff } : {}),
      openFailed: (message, retryInMs) => {
        lastError = message;
        emit({ type: "open-failed", registerId: register.id, error: message, retryInMs, at: clock.now() });
      },
      serve: (conn, upAt) => {
        connected = true;
        tap?.connected(conn.description);
        emit({ type: "port-up", registerId: register.id, port: conn.description, at: upAt });
        return serve(conn);
      },
      down: (error, downAt) => {
        connected = false;
        if (error) lastError = messageOf(error);
        tap?.note(`disconnected: ${error ? messageOf(error) : "closed"}`);
        emit({
          type: "port-down",
          registerId: register.id,
          ...(error ? { error: messageOf(error) } : {}),
          at: downAt,
        });
      },
    });

  const stopped = run()
    .catch((error: unknown) => {
      log.error({ err: error }, "session crashed");
    })
    .then(async () => {
      connected = false;
      // Stopped while the port was down: a kept decoder (an open receipt waiting for its POS) ends here.
      const left = decoder;
      decoder = undefined;
      let rest: DecoderEvent[] = [];
      try {
        rest = left?.idle(clock.now()) ?? [];
      } catch (error) {
        log.error({ err: error }, "decoder threw");
      }
      for (const e of rest) if (e.type === "problem") kit.onProblem(e, inJournal.rangeOf(e.raw, e.span));
      await source.close().catch((error: unknown) => log.warn({ err: error }, "port source close failed"));
      await tap?.close();
      flushJournal("stop");
      log.info("session stopped");
      emit({ type: "stopped", registerId: register.id, at: clock.now() });
    });

  return {
    stopped,
    state: (): RegisterSessionState => ({
      registerId: register.id,
      connected,
      ...(lastError === undefined ? {} : { lastError }),
      receipts: kit.counts.receipts,
      problems: kit.counts.problems,
    }),
  };
}
