/**
 * Baud pacing for simulated registers (register-protocols.md §3.1): a pseudo-terminal ignores baud rates, so the
 * simulator writes no faster than a real 8N1 line would, scheduled by absolute time so delays do not add up.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { PortConnection } from "../ingest/connection.js";

/**
 * Writes that go out one after another, each paced at `baudRate` (a paced write awaits between its pieces, so two
 * started at once would interleave). Undefined baud: straight to the port.
 */
export function pacedWriter(conn: PortConnection, baudRate?: number): (bytes: Uint8Array) => Promise<void> {
  if (baudRate === undefined) return (bytes) => conn.write(bytes);
  let tail: Promise<void> = Promise.resolve();
  return (bytes) => {
    const next = tail.then(() => writePaced(conn, bytes, baudRate));
    tail = next.catch(() => undefined);
    return next;
  };
}

/** Write `bytes` no faster than `baudRate` (8N1: 10 bits a byte); undefined: as fast as the port takes them. */
export async function writePaced(conn: PortConnection, bytes: Uint8Array, baudRate?: number): Promise<void> {
  if (baudRate === undefined) {
    await conn.write(bytes);
    return;
  }
  const bytesPerMs = baudRate / 10_000;
  const t0 = performance.now();
  let sent = 0;
  while (sent < bytes.length) {
    const due = Math.min(bytes.length, Math.max(sent + 1, Math.floor((performance.now() - t0) * bytesPerMs)));
    await conn.write(bytes.subarray(sent, due));
    sent = due;
    if (sent < bytes.length) await delay(Math.max(1, sent / bytesPerMs - (performance.now() - t0)));
  }
}
