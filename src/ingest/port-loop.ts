/**
 * One port's life, shared by the one-port and the two-port session: open, serve until the connection goes down,
 * reopen with backoff (100 ms doubling to 5 s, ±20 % jitter; a connection that stayed up a while or carried bytes
 * starts over; none after a drop when the source listens, see `waitsForPeer`), log only when the error changes, stop
 * when the signal aborts. Never throws out.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Clock } from "../shared/clock.js";
import type { Logger } from "../shared/log.js";
import type { PortConnection, PortSource } from "./connection.js";

/** How long a connection must stay up before the backoff starts again from the minimum. */
const STABLE_MS = 5_000;

export const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : error === undefined ? "closed" : String(error);

/** Reconnect backoff; default 100 ms doubling to 5 s, ±20 % jitter (never above the maximum). */
export interface Backoff {
  readonly minMs?: number;
  readonly maxMs?: number;
  readonly random?: () => number;
}

export interface PortLoopDeps {
  readonly source: PortSource;
  readonly signal: AbortSignal;
  readonly clock: Clock;
  /** Already carries the session's context (and the side, for a two-port session). */
  readonly log: Logger;
  readonly backoff?: Backoff;
  /** An open failed; the next try is in `retryInMs`. */
  readonly openFailed: (message: string, retryInMs: number) => void;
  /** A connection is up: serve it until it goes down (resolves with its error, if any). May throw: then it is closed. */
  readonly serve: (conn: PortConnection, upAt: number) => Promise<Error | undefined>;
  /** The connection went down (or serving threw). */
  readonly down: (error: Error | undefined, downAt: number) => void;
}

/** Run the loop until the signal aborts. */
export async function runPortLoop(deps: PortLoopDeps): Promise<void> {
  const { source, signal, clock, log } = deps;
  const minMs = deps.backoff?.minMs ?? 100;
  const maxMs = deps.backoff?.maxMs ?? 5_000;
  const random = deps.backoff?.random ?? Math.random;
  const backoffMs = (attempt: number): number => {
    const base = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
    return Math.min(maxMs, Math.round(base * (0.8 + 0.4 * random())));
  };
  const sleep = async (ms: number): Promise<void> => {
    try {
      await delay(ms, undefined, { signal });
    } catch {
      // aborted
    }
  };

  let failures = 0;
  let loggedError: string | undefined;
  while (!signal.aborted) {
    let conn: PortConnection;
    try {
      conn = await source.open(signal);
    } catch (error) {
      if (signal.aborted) break;
      const message = messageOf(error);
      const wait = backoffMs(failures++);
      if (message !== loggedError) {
        log.warn({ err: message, port: source.description, retryInMs: wait }, "port open failed");
        loggedError = message;
      } else {
        log.debug({ err: message, retryInMs: wait }, "port open failed again");
      }
      deps.openFailed(message, wait);
      await sleep(wait);
      continue;
    }
    const upAt = clock.now();
    loggedError = undefined;
    log.info({ port: conn.description }, "port up");
    let error: Error | undefined;
    let failed = false;
    let carried = false;
    try {
      const served = deps.serve(conn, upAt);
      // After `serve` has subscribed (synchronously): bytes that came before any listener go to the first one only.
      conn.onData(() => {
        carried = true;
      });
      error = await served;
    } catch (e) {
      // The driver failed to start (createDecoder threw): close this connection and retry later.
      failed = true;
      error = e instanceof Error ? e : new Error(String(e));
      log.error({ err: error }, "session failed");
      await conn.close();
    }
    const downAt = clock.now();
    deps.down(error, downAt);
    if (signal.aborted) break;
    loggedError = error ? messageOf(error) : "closed";
    log.warn({ err: loggedError }, "port down");
    // A listening source waits for the peer's next connection anyway: back off only when our side failed.
    if (source.waitsForPeer && !failed) continue;
    // A connection that stayed up a while, or carried bytes, starts the backoff over (a flapping line that works
    // between drops — a printer switched off and on, a device server's link — comes back in 100 ms); one that drops
    // at once with nothing on it keeps growing it.
    if (downAt - upAt >= STABLE_MS || carried) failures = 0;
    await sleep(backoffMs(failures++));
  }
}
