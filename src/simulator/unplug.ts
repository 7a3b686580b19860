/**
 * An unplugged cable for the simulators (`hoadon simulate register --unplug EVERY_MS:FOR_MS`): a register's side that
 * drops the line EVERY_MS into each connection and connects again FOR_MS later, going on where it was; a printer's
 * side that drops the line EVERY_MS after its first bytes and is absent (refusing connections) for FOR_MS.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { PortConnection, PortSource } from "../ingest/connection.js";

/** `--unplug EVERY_MS:FOR_MS`. */
export interface Unplug {
  readonly everyMs: number;
  readonly forMs: number;
}

/** How long a register keeps trying to connect again after an unplug before it gives up. */
const RECONNECT_FOR_MS = 10_000;

/** `EVERY_MS:FOR_MS` → {@link Unplug}; RangeError otherwise. */
export function parseUnplugSpec(text: string): Unplug {
  const m = /^(\d+):(\d+)$/.exec(text);
  if (!m || Number(m[1]) < 1) throw new RangeError(`not EVERY_MS:FOR_MS: ${text}`);
  return { everyMs: Number(m[1]), forMs: Number(m[2]) };
}

/**
 * A register's side: run `round` on one connection after another; each is closed `everyMs` after it opened (the
 * unplug), the next opens `forMs` later; a round that ends other than `closed` is the last. Without `unplug`, one
 * round.
 */
export async function withUnplugs<R extends { readonly stoppedBy: string }>(
  connect: (signal: AbortSignal) => Promise<PortConnection>,
  unplug: Unplug | undefined,
  signal: AbortSignal,
  round: (conn: PortConnection) => Promise<R>,
): Promise<{ readonly last: R; readonly unplugs: number; readonly conn: PortConnection }> {
  let unplugs = 0;
  for (;;) {
    let conn: PortConnection | undefined;
    const giveUpAt = Date.now() + (unplugs > 0 ? RECONNECT_FOR_MS : 0);
    while (!conn) {
      try {
        conn = await connect(signal);
      } catch (error) {
        if (Date.now() >= giveUpAt || signal.aborted) throw error;
        await delay(200);
      }
    }
    const c = conn;
    const timer = unplug ? setTimeout(() => void c.close(), unplug.everyMs) : undefined;
    const last = await round(c);
    clearTimeout(timer);
    if (!unplug || last.stoppedBy !== "closed" || signal.aborted) return { last, unplugs, conn: c };
    unplugs++;
    await c.close();
    await delay(unplug.forMs);
  }
}

/**
 * A printer's side: serve each connection of `source` with `attach` until it closes. Without `unplug`, one
 * connection (the line closed by the other side ends it). With `unplug`, the line drops `everyMs` after its first
 * bytes (the printer goes away in the middle of a sale, not while the line is idle: hoadon backs off further from a
 * device that drops with nothing said, its hot-loop guard), and the printer is absent for `forMs` (`source` closed,
 * refusing connections); until `signal` aborts or the other side closes the line. Throws what `source.open` threw.
 */
export async function servePrinterLine(
  source: PortSource,
  unplug: Unplug | undefined,
  stop: AbortSignal,
  attach: (conn: PortConnection) => void,
  /** Also stop once the line, having carried bytes, has been quiet this long (`--until-idle`). */
  untilIdleMs?: number,
): Promise<{ readonly unplugs: number; readonly idle: boolean }> {
  const quiet = new AbortController();
  const signal = untilIdleMs === undefined ? stop : AbortSignal.any([stop, quiet.signal]);
  let idleTimer: NodeJS.Timeout | undefined;
  const heard = (): void => {
    if (untilIdleMs === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => quiet.abort(), untilIdleMs);
  };
  try {
    return { unplugs: await serve(source, unplug, signal, attach, heard), idle: quiet.signal.aborted };
  } finally {
    clearTimeout(idleTimer);
  }
}

async function serve(
  source: PortSource,
  unplug: Unplug | undefined,
  signal: AbortSignal,
  attach: (conn: PortConnection) => void,
  heard: () => void,
): Promise<number> {
  let unplugs = 0;
  while (!signal.aborted) {
    const conn = await source.open(signal).catch((error: unknown) => {
      if (signal.aborted) return undefined;
      throw error;
    });
    if (!conn) break;
    attach(conn);
    conn.onData(heard);
    let unplugged = false;
    let timer: NodeJS.Timeout | undefined;
    const stopArming = conn.onData(() => {
      stopArming();
      if (unplug)
        timer = setTimeout(() => {
          unplugged = true;
          void conn.close();
        }, unplug.everyMs);
    });
    await new Promise<void>((resolve) => {
      conn.onClose(() => resolve());
      // Stopped while the line was being opened (a pty's open awaits socat, then the port): an abort listener added
      // now would never fire, and the printer would wait for the other side to close the line.
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });
    clearTimeout(timer);
    await conn.close();
    if (!unplugged || !unplug) break; // the other side closed the line, or we were stopped
    unplugs++;
    await source.close(); // absent: the port refuses connections
    await delay(unplug.forMs, undefined, { signal }).catch(() => undefined);
  }
  return unplugs;
}
