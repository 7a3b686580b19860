/**
 * `hoadon simulate register --port pty[:LINK]`: the simulator makes its own virtual cable (a socat pty pair,
 * register-protocols.md §4.4 "create its own pty pair, print the peer path"). hoadon's register `port:` is LINK;
 * the simulator writes from the other end (`LINK.sim`). A connection starts when hoadon has opened LINK (socat's
 * `wait-slave`), so the register never talks into a cable nobody holds; closing the connection stops socat, which
 * removes both links: the cable is unplugged until the next `open` puts it back with the same LINK.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { SerialSettings } from "../driver-api/index.js";
import type { PortConnection, PortSource } from "../ingest/connection.js";
import { portSourceFor } from "../ingest/port-source.js";
import { openSerialPort } from "../ingest/serial-port.js";
import { DaemonError } from "../shared/errors.js";
import { type SocatPair, startSocatPair } from "./socat.js";

/** What a simulator says when its port cannot be opened. */
export function cannotOpenPort(port: string, cause: unknown): DaemonError {
  return new DaemonError("PORT_UNAVAILABLE", `Không mở được ${port} / cannot open the port`, { cause });
}

/** True for `pty` and `pty:LINK`. */
export function isPtyPort(port: string): boolean {
  return port === "pty" || port.startsWith("pty:");
}

/** What {@link simulatorPortSource} tells its caller. */
export interface SimulatorPortOptions {
  /** A pty was made: hoadon reads at `link`. Called once, at the first `open`. */
  readonly onPty?: (link: string) => void;
}

/**
 * The port a simulator uses: `pty` / `pty:LINK` (its own socat pair; `pty` alone makes LINK in a new temp directory,
 * removed at `close`), else what `port:` means for hoadon (serial path, `tcp://`, `tcp-listen://`). A LINK socat cannot
 * take is a USAGE error, whichever simulator asks.
 */
export function simulatorPortSource(
  port: string,
  serial: SerialSettings,
  options: SimulatorPortOptions = {},
): PortSource {
  if (!isPtyPort(port)) return portSourceFor(port, serial);
  const given = port.startsWith("pty:") ? port.slice(4) : undefined;
  if (given === "") throw new DaemonError("USAGE", "--port pty: thiếu đường dẫn / pty:LINK needs a path");
  const ownDir = given === undefined ? mkdtempSync(join(tmpdir(), "hoadon-sim-")) : undefined;
  const link = given === undefined ? join(ownDir!, "register") : resolve(given);
  // socat's address syntax: a link path cannot hold these.
  if (/[,:!\s]/.test(link))
    throw new DaemonError(
      "USAGE",
      `--port pty: đường dẫn không được chứa , : ! hoặc dấu cách / LINK must not contain , : ! or spaces: ${link}`,
    );
  const own = `${link}.sim`;
  let pair: SocatPair | undefined;
  let told = false;

  const unplug = async (): Promise<void> => {
    const p = pair;
    pair = undefined;
    await p?.stop("SIGTERM");
  };

  return {
    description: `pty ${link}`,
    // Like a listening socket, `open` resolves when the other side (hoadon) is there.
    waitsForPeer: true,
    async open(signal: AbortSignal): Promise<PortConnection> {
      await unplug();
      mkdirSync(dirname(link), { recursive: true });
      const waiting = startSocatPair({ a: link, b: own, waitForA: true, signal });
      if (!told) {
        told = true;
        // Say where hoadon reads once the link is there (socat makes it at once, then waits for hoadon to open it).
        let settled = false;
        waiting.then(
          () => (settled = true),
          () => (settled = true),
        );
        for (let t = 0; t < 1_000 && !settled && !existsSync(link); t++) await delay(5);
        options.onPty?.(link);
      }
      pair = await waiting;
      let conn: PortConnection;
      try {
        conn = await openSerialPort(own, serial);
      } catch (error) {
        await unplug();
        throw error;
      }
      const p = pair;
      // Closing this end is the unplug: socat goes, and hoadon's end with it.
      const close = async (): Promise<void> => {
        await conn.close();
        if (pair === p) await unplug();
      };
      conn.onClose(() => void close());
      return {
        description: `pty ${link}`,
        get closed() {
          return conn.closed;
        },
        write: (bytes) => conn.write(bytes),
        onData: (listener) => conn.onData(listener),
        onClose: (listener) => conn.onClose(listener),
        close,
        ...(conn.lines ? { lines: conn.lines } : {}),
      };
    },
    async close(): Promise<void> {
      await unplug();
      if (ownDir) rmSync(ownDir, { recursive: true, force: true });
    },
  };
}
