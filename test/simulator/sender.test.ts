/**
 * The ndjson sender against a scripted daemon over an in-memory link.
 */
import { describe, expect, it } from "vitest";
import { parseReply } from "../../drivers/ndjson/encode.js";
import { ndjson, receiptReply } from "../../drivers/ndjson/index.js";
import { type DecoderEvent, type RecordOutcome, utf8 } from "../../src/driver-api/index.js";
import { createMemoryLink, type PortConnection } from "../../src/ingest/connection.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { ndjsonSender, type SendResult } from "../../src/simulator/sender.js";

const RECEIPTS = generateReceipts({ seed: 4, count: 4, startMs: Date.UTC(2026, 10, 20, 2) });

const okFor = (n: number): Extract<RecordOutcome, { status: "ok" }> => ({
  status: "ok",
  invoice: { mccqt: `M1-26-TEST0-${String(n).padStart(11, "0")}`, khmshdon: "1", khhdon: "C26MAB", shdon: n, qr: "q" },
});

/** A daemon stand-in: decodes with the real decoder and lets the test decide each answer. */
function fakeDaemon(
  conn: PortConnection,
  answer: (event: Extract<DecoderEvent, { type: "receipt" }>, seen: number) => Uint8Array | undefined,
): { lines: string[] } {
  const decoder = ndjson.createDecoder(ndjson.options.parse({}));
  const lines: string[] = [];
  let seen = 0;
  conn.onData((bytes) => {
    for (const e of decoder.push(bytes, 0)) {
      if (e.type !== "receipt") continue;
      seen++;
      lines.push((e.receipt as { receiptId: string }).receiptId);
      const reply = answer(e, seen);
      if (reply) void conn.write(reply).catch(() => undefined);
    }
  });
  return { lines };
}

describe("ndjsonSender", () => {
  it("retransmits the same id when an ack is lost, and counts dup", async () => {
    const { a: register, b: daemon } = createMemoryLink();
    const shdon = new Map<string, number>();
    fakeDaemon(daemon, (e, seen) => {
      const id = (e.receipt as { receiptId: string }).receiptId;
      const known = shdon.get(id);
      if (seen === 1) {
        shdon.set(id, 1);
        return undefined; // committed, but the ack is lost on the line
      }
      if (known !== undefined) return e.reply({ ...okFor(known), status: "dup" });
      shdon.set(id, seen);
      return e.reply(okFor(seen));
    });
    const results: SendResult[] = [];
    const report = await ndjsonSender(register, RECEIPTS.slice(0, 2), {
      ackTimeoutMs: 30,
      onResult: (r) => results.push(r),
    });
    expect(report).toMatchObject({ sent: 2, acked: 1, dup: 1, nak: 0, retransmits: 1, stoppedBy: "done" });
    expect(results.map((r) => [r.id, r.status, r.attempts])).toEqual([
      [RECEIPTS[0]!.receiptId, "dup", 2],
      [RECEIPTS[1]!.receiptId, "ok", 1],
    ]);
    expect(results[0]!.reply).toMatchObject({ type: "ack", mccqt: "M1-26-TEST0-00000000001" });
  });

  it("resends after a retryable nak, gives up on a final one, and stops after maxAttempts", async () => {
    const { a: register, b: daemon } = createMemoryLink();
    fakeDaemon(daemon, (e, seen) => {
      const id = (e.receipt as { receiptId: string }).receiptId;
      if (id === RECEIPTS[0]!.receiptId && seen === 1)
        return e.reply({ status: "failed", code: "STORE_FULL", message: "đầy / full" });
      if (id === RECEIPTS[1]!.receiptId) return e.reply({ status: "rejected", code: "BAD", message: "sai / wrong" });
      if (id === RECEIPTS[2]!.receiptId) return undefined; // never answers
      return e.reply(okFor(seen));
    });
    const results: SendResult[] = [];
    const report = await ndjsonSender(register, RECEIPTS, {
      ackTimeoutMs: 20,
      retryDelayMs: 5,
      maxAttempts: 3,
      onResult: (r) => results.push(r),
    });
    expect(report).toMatchObject({ sent: 4, acked: 2, nak: 1, unacked: 1, retransmits: 3 });
    expect(results.map((r) => r.status)).toEqual(["ok", "nak", "unacked", "ok"]);
    expect(results[1]!.reply).toEqual({
      type: "nak",
      id: RECEIPTS[1]!.receiptId,
      code: "BAD",
      error: "sai / wrong",
      retry: false,
    });
  });

  it("ignores late answers for other ids and treats a nak without id as 'resend'", async () => {
    const { a: register, b: daemon } = createMemoryLink();
    fakeDaemon(daemon, (e, seen) => {
      if (seen === 1)
        return utf8(
          '{"ack":"someone-else","status":"ok"}\n{"pong":true}\n{"nak":null,"status":"error","code":"BAD_JSON","error":"x","retry":true}\n',
        );
      return e.reply(okFor(seen));
    });
    const report = await ndjsonSender(register, RECEIPTS.slice(0, 1), { ackTimeoutMs: 1_000, retryDelayMs: 1 });
    expect(report).toMatchObject({ acked: 1, retransmits: 1 });
  });

  it("stops when the link goes down and lists what is left", async () => {
    const { a: register, b: daemon } = createMemoryLink();
    fakeDaemon(daemon, (e, seen) => {
      if (seen === 2) {
        void daemon.close();
        return undefined;
      }
      return e.reply(okFor(seen));
    });
    const report = await ndjsonSender(register, RECEIPTS, { ackTimeoutMs: 1_000 });
    expect(report).toMatchObject({ sent: 2, acked: 1, stoppedBy: "closed" });
    expect(report.pending.map((r) => r.receiptId)).toEqual(RECEIPTS.slice(1).map((r) => r.receiptId));
  });

  it("stops on abort", async () => {
    const { a: register, b: daemon } = createMemoryLink();
    fakeDaemon(daemon, () => undefined);
    const abort = new AbortController();
    setTimeout(() => abort.abort(), 20);
    const report = await ndjsonSender(register, RECEIPTS, { ackTimeoutMs: 10_000, signal: abort.signal });
    expect(report).toMatchObject({ stoppedBy: "aborted", pending: RECEIPTS });
  });

  it("paces bytes at the given baud rate and can add the CRC trailer", async () => {
    const { a: register, b: daemon } = createMemoryLink();
    let chunks = 0;
    daemon.onData(() => chunks++);
    const raw: string[] = [];
    fakeDaemon(daemon, (e, seen) => {
      raw.push(new TextDecoder().decode(e.raw));
      return e.reply(okFor(seen));
    });
    const t0 = performance.now();
    const report = await ndjsonSender(register, RECEIPTS.slice(0, 1), { baudRate: 115_200, crc: true });
    const elapsed = performance.now() - t0;
    const bytes = raw[0]!.length;
    expect(report.acked).toBe(1);
    expect(raw[0]).toMatch(/\}\*[0-9a-f]{8}\n$/);
    // 11.52 bytes per ms at 115200 8N1: the line takes bytes/11.52 ms and arrives in several pieces.
    expect(elapsed).toBeGreaterThanOrEqual((bytes / 11.52) * 0.8);
    expect(chunks).toBeGreaterThan(2);
  });

  it("parses replies with the CRC trailer the daemon adds", () => {
    const line = receiptReply("X", okFor(1), true);
    expect(parseReply(line)).toMatchObject({ type: "ack", id: "X" });
  });
});
