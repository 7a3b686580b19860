/**
 * The register side of ndjson-v1: send receipts one at a time, wait for the ack naming the same id, retransmit the
 * same line (same id) when no answer comes, so a lost ack never loses or doubles a sale (the daemon answers "dup").
 */
import { setTimeout as delay } from "node:timers/promises";
import {
  type DayClose,
  encodeDayClose,
  encodeReceipt,
  type NdjsonReply,
  parseReply,
} from "../../drivers/ndjson/encode.js";
import { lineFramer } from "../driver-api/index.js";
import type { PortConnection } from "../ingest/connection.js";
import type { ReceiptInput } from "../receipt/model.js";
import { writePaced } from "./pacing.js";

/** What happened to one receipt. */
export interface SendResult {
  readonly receipt: ReceiptInput;
  readonly id: string;
  /** `unacked`: gave up after `maxAttempts` without an answer. */
  readonly status: "ok" | "dup" | "nak" | "unacked";
  /** The daemon's answer (invoice code on ok/dup, error on nak). */
  readonly reply?: NdjsonReply;
  /** Transmissions of this receipt on this connection. */
  readonly attempts: number;
}

/** Totals of one {@link ndjsonSender} run. */
export interface SenderReport {
  /** Receipts transmitted at least once. */
  readonly sent: number;
  readonly acked: number;
  readonly dup: number;
  readonly nak: number;
  /** Gave up after `maxAttempts`. */
  readonly unacked: number;
  /** Extra transmissions (same id) after a timeout or a retryable nak. */
  readonly retransmits: number;
  /** Receipts not finished because the connection went down or the run was aborted, in order. */
  readonly pending: readonly ReceiptInput[];
  /** Why the run ended. */
  readonly stoppedBy: "done" | "closed" | "aborted";
}

/** Options of {@link ndjsonSender}. */
export interface SenderOptions {
  /** Add the CRC-32 trailer to each line. */
  readonly crc?: boolean;
  /** Retransmit when no answer came after this long (default 2000 ms). */
  readonly ackTimeoutMs?: number;
  /** Wait before resending after a nak that says `retry: true` (default 500 ms). */
  readonly retryDelayMs?: number;
  /** Transmissions per receipt before giving up (default 10). */
  readonly maxAttempts?: number;
  /** Pause between receipts (default 0). */
  readonly gapMs?: number;
  /** Pace bytes like a real line at this baud rate, 8N1 (ptys ignore baud rates). Default: as fast as possible. */
  readonly baudRate?: number;
  readonly signal?: AbortSignal;
  /** Each receipt's fate, as it is known. */
  readonly onResult?: (result: SendResult) => void;
  /** Each transmission (attempt 1 is the first). */
  readonly onTransmit?: (id: string, attempt: number) => void;
}

type Wait = { kind: "reply"; reply: NdjsonReply } | { kind: "timeout" } | { kind: "closed" } | { kind: "aborted" };

/**
 * Send `receipts` over `conn`, stop-and-wait. Resolves when every receipt is answered (or given up), or when the
 * connection goes down or `signal` aborts (then `pending` lists what is left). Never rejects.
 */
export async function ndjsonSender(
  conn: PortConnection,
  receipts: readonly ReceiptInput[],
  options: SenderOptions = {},
): Promise<SenderReport> {
  const ackTimeoutMs = options.ackTimeoutMs ?? 2_000;
  const retryDelayMs = options.retryDelayMs ?? 500;
  const maxAttempts = options.maxAttempts ?? 10;
  const signal = options.signal;
  const framer = lineFramer({ maxLength: 1 << 16 });
  const inbox: NdjsonReply[] = [];
  let wake: (() => void) | undefined;
  let closed = conn.closed;

  const stopListening = conn.onData((bytes) => {
    for (const frame of framer.push(bytes)) {
      if (frame.type !== "line") continue;
      const reply = parseReply(frame.line);
      if (reply) inbox.push(reply);
    }
    wake?.();
  });
  conn.onClose(() => {
    closed = true;
    wake?.();
  });
  const onAbort = (): void => wake?.();
  signal?.addEventListener("abort", onAbort);

  /** The next reply for `id` (or a nak without id), or why none came. */
  const waitFor = async (id: string, timeoutMs: number): Promise<Wait> => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      while (inbox.length > 0) {
        const reply = inbox.shift()!;
        if (reply.type === "ack" && reply.id === id) return { kind: "reply", reply };
        if (reply.type === "nak" && (reply.id === id || reply.id === null)) return { kind: "reply", reply };
        // A late answer to an earlier transmission, or a pong: not ours.
      }
      if (signal?.aborted) return { kind: "aborted" };
      if (closed) return { kind: "closed" };
      const left = deadline - performance.now();
      if (left <= 0) return { kind: "timeout" };
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      wake = undefined;
    }
  };

  let sent = 0;
  let acked = 0;
  let dup = 0;
  let nak = 0;
  let unacked = 0;
  let retransmits = 0;
  let stoppedBy: SenderReport["stoppedBy"] = "done";
  let index = 0;

  try {
    outer: for (; index < receipts.length; index++) {
      const receipt = receipts[index]!;
      const id = receipt.receiptId;
      const line = encodeReceipt(receipt, { crc: options.crc === true });
      if (index > 0 && options.gapMs) await delay(options.gapMs);
      let attempts = 0;
      for (;;) {
        if (signal?.aborted) {
          stoppedBy = "aborted";
          break outer;
        }
        if (closed) {
          stoppedBy = "closed";
          break outer;
        }
        if (attempts >= maxAttempts) {
          unacked++;
          options.onResult?.({ receipt, id, status: "unacked", attempts });
          break;
        }
        attempts++;
        if (attempts === 1) sent++;
        else retransmits++;
        options.onTransmit?.(id, attempts);
        try {
          await writePaced(conn, line, options.baudRate);
        } catch {
          // The link went down mid-write: the loop sees `closed` and stops.
          if (!closed) await delay(10);
          continue;
        }
        const got = await waitFor(id, ackTimeoutMs);
        if (got.kind === "aborted") {
          stoppedBy = "aborted";
          break outer;
        }
        if (got.kind === "closed") {
          stoppedBy = "closed";
          break outer;
        }
        if (got.kind === "timeout") continue;
        const reply = got.reply;
        if (reply.type === "ack") {
          if (reply.status === "ok") acked++;
          else dup++;
          options.onResult?.({ receipt, id, status: reply.status, reply, attempts });
          break;
        }
        if (reply.type === "nak" && reply.retry) {
          await delay(retryDelayMs, undefined, signal ? { signal } : {}).catch(() => undefined);
          continue;
        }
        nak++;
        options.onResult?.({ receipt, id, status: "nak", reply, attempts });
        break;
      }
    }
  } finally {
    stopListening();
    signal?.removeEventListener("abort", onAbort);
  }
  return {
    sent,
    acked,
    dup,
    nak,
    unacked,
    retransmits,
    pending: stoppedBy === "done" ? [] : receipts.slice(index),
    stoppedBy,
  };
}

/**
 * Send a day close and wait for its ack, sending it again after `ackTimeoutMs` (default 2 s) up to `maxAttempts`
 * (default 5) times. Resolves true once acked.
 */
export async function ndjsonSendDayClose(
  conn: PortConnection,
  close: DayClose,
  options: { readonly ackTimeoutMs?: number; readonly maxAttempts?: number; readonly crc?: boolean } = {},
): Promise<boolean> {
  const framer = lineFramer({ maxLength: 1 << 16 });
  let acked = false;
  let wake: (() => void) | undefined;
  const stop = conn.onData((bytes) => {
    for (const frame of framer.push(bytes)) {
      if (frame.type !== "line") continue;
      const reply = parseReply(frame.line);
      if (reply?.type === "ack" && reply.id === close.id) acked = true;
    }
    if (acked) wake?.();
  });
  try {
    const line = encodeDayClose(close, { crc: options.crc === true });
    for (let attempt = 0; attempt < (options.maxAttempts ?? 5) && !acked && !conn.closed; attempt++) {
      await conn.write(line).catch(() => undefined);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, options.ackTimeoutMs ?? 2_000);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
        if (acked) wake();
      });
    }
    return acked;
  } finally {
    stop();
  }
}
