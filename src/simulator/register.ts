/**
 * A simulated register on a real endpoint: a socat pty pair (the daemon opens one end like a USB-serial adapter,
 * the simulator writes from the other) or TCP to a daemon listening on `tcp-listen://`.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { PortConnection } from "../ingest/connection.js";
import { parsePortAddress } from "../ingest/port-source.js";
import { openSerialPort } from "../ingest/serial-port.js";
import { tcpConnectSource } from "../ingest/tcp.js";
import type { ReceiptInput } from "../receipt/model.js";
import { ndjsonSender, type SenderOptions, type SenderReport } from "./sender.js";
import { type SocatPair, startSocatPair } from "./socat.js";

/** Options of {@link startSimulatedRegister}. */
export type SimulatedRegisterOptions =
  | {
      readonly endpoint: "pty";
      /** Directory for the two links (default: a new temp directory, removed on close). */
      readonly dir?: string;
      /** Link name stem (default `register`): links are `<dir>/<name>-daemon` and `<dir>/<name>-register`. */
      readonly name?: string;
    }
  | {
      readonly endpoint: "tcp";
      /** The daemon's `tcp-listen://host:port` (or a `tcp://host:port`). */
      readonly address: string;
    };

/** A running simulated register. */
export interface SimulatedRegister {
  readonly endpoint: "pty" | "tcp";
  /** What the daemon's register `port:` should be: the daemon-side pty link, or the tcp-listen address. */
  readonly daemonPort: string;
  /** The register's own end: the other pty link, or `host:port`. */
  readonly registerPort: string;
  /**
   * Send receipts and wait for their acks. When the link drops (unplug) it reconnects and goes on with what is
   * unanswered, until everything is answered or `options.signal` aborts. Never rejects.
   */
  send(receipts: readonly ReceiptInput[], options?: SenderOptions): Promise<SenderReport>;
  /** pty: kill socat (`SIGTERM` removes the links, `SIGKILL` leaves them dangling). tcp: drop the connection. */
  unplug(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** pty: start socat again with the same links. tcp: nothing (the next send reconnects). */
  replug(): Promise<void>;
  /** Close the connection, stop socat, remove a temp dir it made. */
  close(): Promise<void>;
}

const REGISTER_SERIAL = { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 } as const;

/**
 * Start a simulated register. For `pty`, socat must be installed (`hasSocat()`); the returned `daemonPort` exists
 * when this resolves.
 */
export async function startSimulatedRegister(options: SimulatedRegisterOptions): Promise<SimulatedRegister> {
  let conn: PortConnection | undefined;
  let closed = false;

  const dropConnection = async (): Promise<void> => {
    const c = conn;
    conn = undefined;
    await c?.close();
  };

  /** Open the register side, retrying until it works or `signal` aborts. */
  const connect = async (open: () => Promise<PortConnection>, signal?: AbortSignal): Promise<PortConnection> => {
    let wait = 20;
    for (;;) {
      if (closed) throw new Error("simulated register closed");
      if (signal?.aborted) throw signal.reason;
      try {
        return await open();
      } catch {
        await delay(wait, undefined, signal ? { signal } : {});
        wait = Math.min(wait * 2, 500);
      }
    }
  };

  const sendWith =
    (open: () => Promise<PortConnection>) =>
    async (receipts: readonly ReceiptInput[], sendOptions: SenderOptions = {}): Promise<SenderReport> => {
      const transmitted = new Set<string>();
      let acked = 0;
      let dup = 0;
      let nak = 0;
      let unacked = 0;
      let retransmits = 0;
      let todo: readonly ReceiptInput[] = receipts;
      let stoppedBy: SenderReport["stoppedBy"] = "done";
      while (todo.length > 0) {
        if (!conn || conn.closed) {
          try {
            conn = await connect(open, sendOptions.signal);
          } catch {
            stoppedBy = "aborted";
            break;
          }
        }
        const report = await ndjsonSender(conn, todo, {
          ...sendOptions,
          onTransmit: (id, attempt) => {
            transmitted.add(id);
            sendOptions.onTransmit?.(id, attempt);
          },
        });
        acked += report.acked;
        dup += report.dup;
        nak += report.nak;
        unacked += report.unacked;
        retransmits += report.retransmits;
        todo = report.pending;
        stoppedBy = report.stoppedBy;
        if (report.stoppedBy === "aborted" || closed) break;
      }
      return { sent: transmitted.size, acked, dup, nak, unacked, retransmits, pending: todo, stoppedBy };
    };

  if (options.endpoint === "tcp") {
    const address = parsePortAddress(options.address);
    if (address.kind === "serial") throw new RangeError(`not a TCP address: ${options.address}`);
    const host = address.host === "0.0.0.0" || address.host === "::" ? "127.0.0.1" : address.host;
    const source = tcpConnectSource({ host, port: address.port }, { timeoutMs: 2_000 });
    const open = (): Promise<PortConnection> => source.open(new AbortController().signal);
    return {
      endpoint: "tcp",
      daemonPort: options.address,
      registerPort: `${host}:${address.port}`,
      send: sendWith(open),
      unplug: dropConnection,
      replug: async (): Promise<void> => {},
      close: async (): Promise<void> => {
        closed = true;
        await dropConnection();
      },
    };
  }

  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "hoadon-sim-"));
  const name = options.name ?? "register";
  const daemonPort = join(dir, `${name}-daemon`);
  const registerPort = join(dir, `${name}-register`);
  let socat: SocatPair | undefined = await startSocatPair({ a: daemonPort, b: registerPort });
  const open = (): Promise<PortConnection> => openSerialPort(registerPort, REGISTER_SERIAL);

  return {
    endpoint: "pty",
    daemonPort,
    registerPort,
    send: sendWith(open),
    async unplug(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
      const s = socat;
      socat = undefined;
      await s?.stop(signal);
      await dropConnection();
    },
    async replug(): Promise<void> {
      if (socat) return;
      socat = await startSocatPair({ a: daemonPort, b: registerPort });
    },
    async close(): Promise<void> {
      closed = true;
      await dropConnection();
      await socat?.stop();
      socat = undefined;
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
