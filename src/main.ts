/**
 * The composition root: the only module that knows every other one (design.md, style.md §3.2). It builds the
 * shell (store, ports, HTTP) around the pure core and wires them with plain function calls. No singletons. The
 * store side (write path, forwarder) is wired in src/writer/core.ts, which runs in the writer thread.
 */
import { setMaxListeners } from "node:events";
import { driverById } from "../drivers/index.js";
import { driverCatalogue } from "./catalogue.js";
import type { CommandContext } from "./cli.js";
import { loadConfig } from "./config/load.js";
import type { Config } from "./config/schema.js";
import type { RecordOutcome } from "./driver-api/types.js";
import type { ForwarderEvent } from "./forward/index.js";
import {
  type BridgeSession,
  type IdentityPins,
  type JournalSink,
  type PortLogEntry,
  portLog,
  portsNeeded,
  type QuarantineInput,
  type RecordInput,
  type RegisterSession,
  type SessionEvent,
  startSession,
} from "./ingest/index.js";
import type { Clock } from "./shared/clock.js";
import { systemClock } from "./shared/clock.js";
import { DaemonError } from "./shared/errors.js";
import { msg } from "./shared/i18n.js";
import { createLogger, type Logger } from "./shared/log.js";
import { type DaemonLock, daemonLockPath, takeDaemonLock } from "./store/daemon-lock.js";
import { storeError } from "./store/db.js";
import { startWriterThread } from "./writer/client.js";
import { writerConfig } from "./writer/config.js";

export interface DaemonDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly clock: Clock;
  /** Aborting stops every loop; `stopped` resolves once ports are closed and the store is closed. */
  readonly signal: AbortSignal;
  readonly onSessionEvent?: (event: SessionEvent) => void;
  readonly onForwarderEvent?: (event: ForwarderEvent) => void;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export interface Daemon {
  readonly stopped: Promise<void>;
  readonly sessions: readonly (RegisterSession | BridgeSession)[];
}

/** The writer as the sessions use it, on this thread or in its own (src/writer). */
interface SessionWriter {
  readonly record: (input: RecordInput) => Promise<RecordOutcome>;
  readonly quarantine: (q: QuarantineInput) => void;
  readonly identity: IdentityPins;
  readonly portEvent: (entry: PortLogEntry) => void;
  readonly journal?: JournalSink;
  stop(): Promise<void>;
  /** Settles if the writer thread dies. */
  readonly died?: Promise<DaemonError>;
}

/**
 * Whether the store side runs in its own thread (`store.writer`; `auto`: when a register bridges two ports, where a
 * printer's bytes must not wait for commits). A `:memory:` store cannot be shared with a thread.
 */
export function writerThreadFor(config: Config): boolean {
  if (config.store.path === ":memory:") return false;
  if (config.store.writer !== "auto") return config.store.writer === "thread";
  return config.registers.some((r) => {
    const driver = driverById(r.driver);
    return driver !== undefined && portsNeeded({ driver, options: r.options }) === 2;
  });
}

/**
 * Start the daemon: the writer (signing key, store, forwarder: in its own thread unless `store.writer: inline`), then
 * one session per register. Rejects (before any port is opened) on a bad key or store; after that, faults stay local
 * and are retried. If the writer thread dies, the sessions stop and `stopped` rejects with the reason.
 */
export async function startDaemon(deps: DaemonDeps): Promise<Daemon> {
  const { config, clock } = deps;
  const env = deps.env ?? process.env;
  const log = deps.log;
  const wc = writerConfig(config);
  const inline = !writerThreadFor(config);
  // Every driver known before anything starts: nothing to undo after.
  const drivers = config.registers.map((register) => {
    const driver = driverById(register.driver);
    if (!driver) throw new DaemonError("DRIVER_UNKNOWN", `Không có driver ${register.driver} / unknown driver`);
    return driver;
  });
  const lock = holdStore(config.store.path);
  let writer: SessionWriter;
  try {
    // Inline only: the store side's modules (signing, XML, forwarder) are loaded here only when they run here.
    const core = inline ? await import("./writer/core.js") : undefined;
    writer = core
      ? core.startWriter({
          config: wc,
          keys: core.openKeys(wc, env, log),
          clock,
          log,
          ...(deps.onForwarderEvent ? { onForwarderEvent: deps.onForwarderEvent } : {}),
        })
      : await startWriterThread({
          config: wc,
          env,
          log,
          ...(deps.onForwarderEvent ? { onForwarderEvent: deps.onForwarderEvent } : {}),
        });
  } catch (error) {
    lock?.release();
    throw error;
  }

  // The sessions stop when the caller aborts, or when the writer thread is gone (nothing can be committed then).
  const writerGone = new AbortController();
  const signal = AbortSignal.any([deps.signal, writerGone.signal]);
  // Every session (and its port loop) listens on it: 16 registers are not a leak.
  setMaxListeners(0, signal);
  let failure: DaemonError | undefined;
  void writer.died?.then((error) => {
    failure = error;
    log.fatal({ err: error }, "writer thread gone: stopping");
    writerGone.abort();
  });

  // Ports up, down or failing go to the store's event log (`hoadon status`), besides the caller's own listener.
  const logPorts = portLog(writer.portEvent);
  const onEvent = (event: SessionEvent): void => {
    logPorts(event);
    deps.onSessionEvent?.(event);
  };

  const sessions = config.registers.map((register, i) =>
    startSession({
      register: {
        id: register.id,
        port: register.port,
        ...(register.serial ? { serial: register.serial } : {}),
        ...(register.devicePort ? { devicePort: register.devicePort } : {}),
        ...(register.deviceSerial ? { deviceSerial: register.deviceSerial } : {}),
        ...(register.mirrorLines ? { mirrorLines: true } : {}),
      },
      driver: drivers[i]!,
      options: register.options,
      record: writer.record,
      quarantine: writer.quarantine,
      // The write path commits a receipt's journal chunks in the receipt's own transaction.
      ...(writer.journal ? { journal: writer.journal, journalFlush: "by-record" as const } : {}),
      identity: writer.identity,
      onEvent,
      clock,
      log,
      signal,
      ...(config.capture.enabled && config.capture.dir ? { capture: { dir: config.capture.dir } } : {}),
    }),
  );

  const stopped = (async () => {
    try {
      await Promise.all(sessions.map((s) => s.stopped));
      await writer.stop();
    } finally {
      lock?.release();
    }
    if (failure) throw failure;
  })();
  return { stopped, sessions };
}

/**
 * The store's daemon lock (src/store/daemon-lock.ts): one daemon per store. A second one would open the same ports
 * (and fail on each, forever), forward the same queue and make `hoadon status` describe the wrong run.
 */
function holdStore(path: string): DaemonLock | undefined {
  if (path === ":memory:") return undefined;
  let lock: DaemonLock | undefined;
  try {
    lock = takeDaemonLock(path);
  } catch (cause) {
    const code = (cause as { code?: string } | null)?.code;
    // A new lock file needs its first page (4 KiB); an existing one takes the lock without growing.
    if (code === "SQLITE_FULL")
      throw new DaemonError("STORE_FULL", `Ổ đĩa đầy (${daemonLockPath(path)}) / the disk is full: free some space`, {
        cause,
      });
    if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT")
      // No daemon can hold a lock on it either: deleting it is safe once no hoadon runs.
      throw new DaemonError(
        "STORE_UNAVAILABLE",
        `Tệp khóa ${daemonLockPath(path)} bị hỏng; nếu không có hoadon nào đang chạy, hãy xóa tệp đó rồi chạy lại. / ` +
          "The lock file is damaged; if no hoadon is running, delete it and start again (the data is not in it).",
        { cause },
      );
    throw storeError(path, cause);
  }
  if (!lock)
    throw new DaemonError(
      "ALREADY_RUNNING",
      `Một hoadon khác đang chạy trên tệp dữ liệu ${path} (xem \`hoadon status\`); hãy dừng nó trước. / ` +
        `Another hoadon is already running on ${path} (see \`hoadon status\`); stop it first.`,
    );
  return lock;
}

/** `hoadon run --config FILE`: the daemon until SIGINT/SIGTERM. */
export async function runDaemonCommand(file: string, ctx: CommandContext): Promise<number> {
  const config = loadConfig(file, driverCatalogue);
  const log = createLogger({ level: config.log.level });
  const controller = new AbortController();
  const stop = (): void => controller.abort();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const daemon = await startDaemon({ config, log, clock: systemClock, signal: controller.signal });
  ctx.err(msg(ctx.lang, "run.ready", { registers: config.registers.length, db: config.store.path }));
  await daemon.stopped;
  return 0;
}
