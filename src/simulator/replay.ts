/**
 * `hoadon simulate register --replay FILE.cap`: a register that says again what a capture recorded (style.md Part
 * 4): the register's own bytes (`<` chunks), chunk by chunk as they were read, at their recorded times, on a live
 * port — a shop's capture played to a running hoadon, to see the whole data path take it again. Gaps are kept up
 * to `maxGapMs` (longer than any driver's idle gap, so receipts split where they split), and where the capture notes
 * that the register's line went down, the replay drops the line and connects again. What hoadon answers is counted,
 * not checked: a capture's answers were hoadon's, not the register's.
 */
import { setTimeout as delay } from "node:timers/promises";
import type { Capture } from "../ingest/capture.js";
import type { PortConnection } from "../ingest/connection.js";

/** How long the replay listens after its last chunk, for the answers to it. */
const ANSWER_WAIT_MS = 300;

export interface ReplayOptions {
  /** Longest pause kept between two chunks (default 10 s). */
  readonly maxGapMs?: number;
  /** Play this many times faster (default 1). */
  readonly speed?: number;
  readonly signal?: AbortSignal;
  /** After each chunk is written. */
  readonly onChunk?: (index: number, bytes: number) => void;
}

export interface ReplayReport {
  /** Register-side chunks and bytes written. */
  readonly chunks: number;
  readonly bytes: number;
  /** Bytes hoadon wrote back. */
  readonly answered: number;
  /** Times the line was dropped and connected again, as the capture said. */
  readonly reconnects: number;
  readonly stoppedBy: "done" | "closed" | "aborted";
}

/** Play `capture`'s register bytes on connections from `connect` (called again after each noted drop). */
export async function replayRegisterSide(
  capture: Capture,
  connect: () => Promise<PortConnection>,
  options: ReplayOptions = {},
): Promise<ReplayReport> {
  const maxGapMs = options.maxGapMs ?? 10_000;
  const speed = options.speed ?? 1;
  const drops = new Set(capture.links.filter((l) => l.side === "register" && l.event !== "up").map((l) => l.before));
  let chunks = 0;
  let bytes = 0;
  let answered = 0;
  let reconnects = 0;
  const listen = (c: PortConnection): (() => void) =>
    c.onData((b) => {
      answered += b.length;
    });
  let conn = await connect();
  let stopListening = listen(conn);
  let stoppedBy: ReplayReport["stoppedBy"] = "done";
  let previousAt: number | undefined;
  let dropPending = false;
  try {
    for (let i = 0; i < capture.chunks.length; i++) {
      const chunk = capture.chunks[i]!;
      if (options.signal?.aborted) {
        stoppedBy = "aborted";
        break;
      }
      if (drops.has(i) && chunks > 0) dropPending = true;
      if (chunk.side !== "register" || chunk.direction !== "in") continue;
      if (previousAt !== undefined) {
        const gap = Math.min(maxGapMs, chunk.atMs - previousAt) / speed;
        if (gap >= 1) await delay(gap, undefined, options.signal ? { signal: options.signal } : {}).catch(() => {});
      }
      previousAt = chunk.atMs;
      if (dropPending) {
        // The capture says the line went down before this chunk: so does the replay.
        dropPending = false;
        stopListening();
        await conn.close();
        conn = await connect();
        stopListening = listen(conn);
        reconnects++;
      }
      if (conn.closed) {
        stoppedBy = "closed";
        break;
      }
      try {
        await conn.write(chunk.bytes);
      } catch {
        stoppedBy = "closed";
        break;
      }
      chunks++;
      bytes += chunk.bytes.length;
      options.onChunk?.(i, chunk.bytes.length);
    }
    // Let the last answers come in.
    if (stoppedBy === "done") await delay(ANSWER_WAIT_MS);
  } finally {
    stopListening();
  }
  await conn.close();
  return { chunks, bytes, answered, reconnects, stoppedBy };
}
