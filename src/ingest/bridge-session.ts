/**
 * A two-port session (bridge and tap roles, register-protocols.md §1a "Topology", §2.7): hoadon sits in the cable
 * between a register (POS) and its device (receipt printer, fiscal printer). Each port has its own reconnect loop, so
 * an absent printer never stops reading the register and the other way round. One tap decoder sees both directions
 * and decides what passes: its `forward` events are written first, before the journal, the capture tap or the write
 * path see the chunk; a receipt's reply (an ESC/POS footer and the held cut, a fiscal printer's held answer) goes to
 * the side it names once `record()` has committed. If the decoder throws, the chunk is passed through raw: the
 * printer keeps printing whatever hoadon thinks of the bytes.
 */
import type { DecoderEvent, SerialSettings, Side, TapDecoder } from "../driver-api/index.js";
import { DaemonError } from "../shared/errors.js";
import { type CaptureTap, createCaptureTap, idleMsOf } from "./capture.js";
import type { LineOutputs, PortConnection, PortSource } from "./connection.js";
import { messageOf, runPortLoop } from "./port-loop.js";
import { portSourceFor } from "./port-source.js";
import {
  type RegisterSession,
  type RegisterSessionDeps,
  type RegisterSessionState,
  type StreamJournal,
  streamJournal,
} from "./register-session.js";
import { createSessionKit } from "./session-kit.js";

/** Dependencies of {@link startBridgeSession}: those of a register session plus the device's port. */
export interface BridgeSessionDeps extends Omit<RegisterSessionDeps, "register" | "source"> {
  readonly register: {
    readonly id: string;
    /** The register's (POS's) port. */
    readonly port: string;
    /** The device's (printer's) port. */
    readonly devicePort: string;
    /** Serial overrides for the register's port. */
    readonly serial?: Partial<SerialSettings>;
    /** Serial overrides for the device's port (default: the same as the register's). */
    readonly deviceSerial?: Partial<SerialSettings>;
    /** Show the register the device's control lines (config `mirrorLines`). */
    readonly mirrorLines?: boolean;
  };
  /** Where connections come from (tests); default: from the two port settings. */
  readonly sources?: { readonly register?: PortSource; readonly device?: PortSource };
}

/** {@link RegisterSessionState} of a bridge: `connected` is the register side. */
export interface BridgeSessionState extends RegisterSessionState {
  readonly deviceConnected: boolean;
  /** Bytes meant for the device while it was absent (kept in the journal, not printed later). */
  readonly droppedToDevice: number;
}

/** A running bridge session. */
export interface BridgeSession extends RegisterSession {
  state(): BridgeSessionState;
}

const other = (side: Side): Side => (side === "register" ? "device" : "register");

/** How often the device's control lines are read for `mirrorLines` (serial ports report no line changes). */
export const LINES_EVERY_MS = 20;

/** Start a bridge session. Throws on a driver without a tap decoder or a malformed port setting (config errors). */
export function startBridgeSession(deps: BridgeSessionDeps): BridgeSession {
  const { register, driver, options, clock, signal } = deps;
  if (!driver.createTapDecoder) {
    throw new DaemonError(
      "CONFIG_INVALID",
      `Driver ${driver.id} không có vai trò cầu nối (hai cổng) / driver ${driver.id} has no two-port role`,
    );
  }
  const createTap = (): TapDecoder => driver.createTapDecoder!(options);
  const log = deps.log.child({ mod: "ingest", register: register.id, driver: driver.id, role: "bridge" });
  const idleMs = idleMsOf(driver, options);

  const kit = createSessionKit({
    ...deps,
    registerId: register.id,
    driverId: driver.id,
    log,
    identityLabel: "device identity",
  });
  const { emit, flushJournal, quarantine, onIdentity } = kit;

  const serialOf = (side: Side): SerialSettings => ({
    ...driver.serial,
    ...register.serial,
    ...(side === "device" ? register.deviceSerial : {}),
  });
  const listening =
    (side: Side) =>
    (a: { host: string; port: number }): void => {
      log.info({ side, address: `${a.host}:${a.port}` }, "listening");
      emit({ type: "listening", registerId: register.id, address: `${a.host}:${a.port}`, side, at: clock.now() });
    };
  const sources: Record<Side, PortSource> = {
    register:
      deps.sources?.register ??
      portSourceFor(register.port, serialOf("register"), { onListening: listening("register") }),
    device:
      deps.sources?.device ??
      portSourceFor(register.devicePort, serialOf("device"), { onListening: listening("device") }),
  };

  const journals: Record<Side, { in: StreamJournal; out: StreamJournal }> = {
    register: {
      in: streamJournal(deps.journal, { registerId: register.id, side: "register", direction: "in" }),
      out: streamJournal(deps.journal, { registerId: register.id, side: "register", direction: "out" }),
    },
    device: {
      in: streamJournal(deps.journal, { registerId: register.id, side: "device", direction: "in" }),
      out: streamJournal(deps.journal, { registerId: register.id, side: "device", direction: "out" }),
    },
  };
  const tap: CaptureTap | undefined = deps.capture
    ? createCaptureTap({ dir: deps.capture.dir, registerId: register.id, driverId: driver.id, clock, log, tap: true })
    : undefined;

  const conns: Record<Side, PortConnection | undefined> = { register: undefined, device: undefined };
  let lastError: string | undefined;
  let droppedToDevice = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  /** The register side went down and the decoder kept its state for it (`linkDown`): the stop must end it. */
  let registerLinkKept = false;

  let decoder = createTap();
  journals.register.in.restart();
  journals.device.in.restart();

  const writeTo = (side: Side, bytes: Uint8Array): void => {
    if (bytes.length === 0) return;
    const conn = conns[side];
    if (!conn || conn.closed) {
      if (side === "device") droppedToDevice += bytes.length;
      log.debug({ side, bytes: bytes.length }, "not written: port down");
      return;
    }
    conn.write(bytes).catch((error: unknown) => {
      log.debug({ err: messageOf(error), side, bytes: bytes.length }, "not written");
    });
    tap?.sent(bytes, side);
    journals[side].out.append(bytes, clock.now());
  };

  const act = (event: Exclude<DecoderEvent, { type: "receipt" }>): void => {
    switch (event.type) {
      case "forward":
        writeTo(event.to, event.bytes);
        break;
      case "reply":
        writeTo("register", event.bytes);
        break;
      case "problem": {
        const side = event.span?.side ?? "register";
        kit.onProblem(event, journals[side].in.rangeOf(event.raw, event.span));
        if (event.reply) writeTo("register", event.reply);
        break;
      }
      case "identity": {
        const { type: _type, ...identity } = event;
        onIdentity(identity);
        break;
      }
      default: {
        const never: never = event;
        log.error({ event: never }, "unknown decoder event");
      }
    }
  };

  /**
   * `mirrorLines` (register-protocols.md §1a): the register sees the device's control lines as on a cable — device
   * DSR → our DTR (the register's DSR), device CTS → our RTS (its CTS) — so a printer's hardware busy and "offline"
   * reach the POS; both low while the device is down, as with a printer unplugged. The bytes themselves never wait
   * for this: whatever the register sends is read, kept and passed on. A connection whose lines cannot be read or
   * set (a pty, a serial device server) is said once in the log and left alone; a device whose lines cannot be read
   * shows as ready, as without mirroring.
   */
  let shownLines: LineOutputs | undefined;
  const noLines = new WeakSet<PortConnection>();
  const linesFailed = (conn: PortConnection, side: Side, error: unknown): void => {
    if (conn.closed) return;
    noLines.add(conn);
    log.warn(
      { side, port: conn.description, err: messageOf(error) },
      "control lines unavailable on this port: not mirrored",
    );
  };
  const mirrorLines = async (): Promise<void> => {
    const reg = conns.register;
    if (!reg?.lines || reg.closed || noLines.has(reg)) return;
    const dev = conns.device;
    let want: LineOutputs = { dtr: false, rts: false };
    if (dev && !dev.closed) {
      want = { dtr: true, rts: true };
      if (dev.lines && !noLines.has(dev)) {
        try {
          const inputs = await dev.lines.get();
          want = { dtr: inputs.dsr, rts: inputs.cts };
        } catch (error) {
          linesFailed(dev, "device", error);
        }
      }
    }
    if (shownLines?.dtr === want.dtr && shownLines.rts === want.rts) return;
    try {
      await reg.lines.set(want);
      shownLines = want;
      log.debug({ dtr: want.dtr, rts: want.rts }, "device lines shown to the register");
    } catch (error) {
      linesFailed(reg, "register", error);
    }
  };
  let linesBusy = false;
  const linesTimer = register.mirrorLines
    ? setInterval(() => {
        if (linesBusy) return;
        linesBusy = true;
        void mirrorLines().finally(() => {
          linesBusy = false;
        });
      }, LINES_EVERY_MS)
    : undefined;
  linesTimer?.unref();

  const busySignal = driver.busySignalFor?.(options);
  const events = kit.handOver({
    act,
    rangeOf: (event) => journals.register.in.rangeOf(event.raw, event.span),
    reply: (event, bytes) => writeTo(event.replyTo ?? "register", bytes),
    ...(busySignal ? { busy: { ...busySignal, send: (bytes: Uint8Array) => writeTo("register", bytes) } } : {}),
  });
  /** Run the decoder; if it throws, pass `raw` through to the other side and start a fresh decoder. */
  const decode = (run: () => DecoderEvent[], raw: { side: Side; bytes: Uint8Array } | undefined): DecoderEvent[] => {
    try {
      return run();
    } catch (error) {
      const detail = `Lỗi trình điều khiển / driver error: ${messageOf(error)}`;
      log.error({ err: error }, "decoder threw");
      kit.counts.problems++;
      if (raw) {
        writeTo(other(raw.side), raw.bytes);
        quarantine("DECODE_FAILED", detail, raw.bytes, clock.now());
      }
      decoder = createTap();
      journals.register.in.restart();
      journals.device.in.restart();
      const up = conns.device !== undefined && !conns.device.closed;
      return decoder.link?.("device", up, clock.now()) ?? [];
    }
  };

  const armIdle = (): void => {
    if (idleMs === undefined) return;
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      idleTimer = undefined;
      events.push(decode(() => decoder.idle(clock.now()), undefined));
    }, idleMs);
    idleTimer.unref?.();
  };

  const onData = (side: Side, bytes: Uint8Array): void => {
    const now = clock.now();
    const list = decode(() => decoder.push(bytes, now, side), { side, bytes });
    // Pass-through first: the forwards the decoder put ahead of everything else go out before anything is kept —
    // unless a receipt is waiting for its commit: then its held cut must reach the printer before these bytes.
    let i = 0;
    while (!events.waiting && i < list.length && list[i]!.type === "forward") {
      const e = list[i++] as Extract<DecoderEvent, { type: "forward" }>;
      writeTo(e.to, e.bytes);
    }
    tap?.received(bytes, side);
    journals[side].in.append(bytes, now);
    events.push(i === 0 ? list : list.slice(i));
    if (side === "register") armIdle();
  };

  /** One side's connections, one after another, with backoff. */
  const runSide = (side: Side): Promise<void> =>
    runPortLoop({
      source: sources[side],
      signal,
      clock,
      log: log.child({ side }),
      ...(deps.backoff ? { backoff: deps.backoff } : {}),
      openFailed: (message, retryInMs) => {
        lastError = `${side}: ${message}`;
        emit({
          type: "open-failed",
          registerId: register.id,
          error: side === "device" ? `thiết bị / device: ${message}` : message,
          retryInMs,
          side,
          at: clock.now(),
        });
      },
      serve: (conn, upAt) => {
        conns[side] = conn;
        journals[side].in.connected();
        // A port opens with DTR and RTS raised: what the register sees must be set again.
        if (side === "register") shownLines = undefined;
        tap?.note(`${side} connected: ${conn.description}`);
        emit({
          type: "port-up",
          registerId: register.id,
          port: side === "device" ? `device ${conn.description}` : conn.description,
          side,
          at: upAt,
        });
        if (side === "device") events.push(decode(() => decoder.link?.("device", true, upAt) ?? [], undefined));
        return new Promise<Error | undefined>((resolve) => {
          const onAbort = (): void => void conn.close();
          conn.onData((bytes) => onData(side, bytes));
          conn.onClose((e) => {
            signal.removeEventListener("abort", onAbort);
            resolve(e);
          });
          if (signal.aborted) onAbort();
          else signal.addEventListener("abort", onAbort, { once: true });
        });
      },
      down: (error, downAt) => {
        conns[side] = undefined;
        if (side === "register") {
          if (idleTimer) clearTimeout(idleTimer);
          idleTimer = undefined;
          // Flush what is complete; its answers to the register cannot go out any more. A driver whose device keeps
          // its state across the POS's unplug (`linkDown`) keeps its shadow of it until the POS is back, or the stop.
          const d = decoder;
          registerLinkKept = d.linkDown !== undefined && !signal.aborted;
          events.push(decode(() => (registerLinkKept ? d.linkDown!(downAt) : d.idle(downAt)), undefined));
        } else {
          events.push(decode(() => decoder.link?.("device", false, downAt) ?? [], undefined));
        }
        if (error) lastError = `${side}: ${messageOf(error)}`;
        tap?.note(`${side} disconnected: ${error ? messageOf(error) : "closed"}`);
        emit({
          type: "port-down",
          registerId: register.id,
          ...(error ? { error: side === "device" ? `thiết bị / device: ${messageOf(error)}` : messageOf(error) } : {}),
          side,
          at: downAt,
        });
      },
    });

  const stopped = Promise.all([
    runSide("register").catch((error: unknown) => log.error({ err: error, side: "register" }, "session crashed")),
    runSide("device").catch((error: unknown) => log.error({ err: error, side: "device" }, "session crashed")),
  ]).then(async () => {
    if (idleTimer) clearTimeout(idleTimer);
    if (registerLinkKept) events.push(decode(() => decoder.idle(clock.now()), undefined));
    if (linesTimer) clearInterval(linesTimer);
    await Promise.all(
      (["register", "device"] as const).map((side) =>
        sources[side].close().catch((error: unknown) => log.warn({ err: error, side }, "port source close failed")),
      ),
    );
    await tap?.close();
    flushJournal("stop");
    log.info("session stopped");
    emit({ type: "stopped", registerId: register.id, at: clock.now() });
  });

  return {
    stopped,
    state: (): BridgeSessionState => ({
      registerId: register.id,
      connected: conns.register !== undefined && !conns.register.closed,
      deviceConnected: conns.device !== undefined && !conns.device.closed,
      ...(lastError === undefined ? {} : { lastError }),
      receipts: kit.counts.receipts,
      problems: kit.counts.problems,
      droppedToDevice,
    }),
  };
}
