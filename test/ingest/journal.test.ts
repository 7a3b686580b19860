/**
 * The raw capture journal (migration 004, src/store/journal.ts): contiguous offsets and a hash chain per stream that
 * survive a restart, a range read back byte for byte, tampering found by verification, receipts located in the journal
 * when the driver gives no span (ndjson), and register identity pins with their alerts in the event log.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { bareCommand, hostFrame, nextSeq, receiptCommands } from "../../drivers/datecs-isl/encode.js";
import { datecsIsl } from "../../drivers/datecs-isl/index.js";
import { encodeReceipt } from "../../drivers/ndjson/encode.js";
import { ndjson } from "../../drivers/ndjson/index.js";
import { checkJournal, journalCapture, rawFromRange } from "../../src/audit/journal.js";
import { concatBytes, type Driver, toHex, utf8 } from "../../src/driver-api/index.js";
import { replayCapture } from "../../src/ingest/capture.js";
import type { JournalStream } from "../../src/ingest/journal-sink.js";
import { startRegisterSession, streamJournal } from "../../src/ingest/register-session.js";
import type { ReceiptInput } from "../../src/receipt/model.js";
import { systemClock } from "../../src/shared/clock.js";
import { datecsEncodeOptions } from "../../src/simulator/datecs.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { openStore } from "../../src/store/db.js";
import {
  identityPins,
  JOURNAL_GENESIS,
  journalRangeOf,
  journalWriter,
  linkJournal,
  nextChain,
  pruneJournal,
  readJournalRange,
  verifyJournal,
} from "../../src/store/journal.js";
import { fakeWritePath, memoryPortSource, silent } from "./helpers.js";

const IN: JournalStream = { registerId: "quay1", side: "register", direction: "in" };
const OUT: JournalStream = { registerId: "quay1", side: "register", direction: "out" };

let dirs: string[] = [];
afterEach(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});
const tempDb = (): string => {
  const dir = mkdtempSync(join(tmpdir(), "hoadon-journal-"));
  dirs.push(dir);
  return join(dir, "store.sqlite");
};

/** A one-port session of `driver` (default options) over an in-memory link, journaled into an in-memory store. */
async function journaledSession<O>(driver: Driver<O>) {
  const db = openStore(":memory:");
  const journal = journalWriter(db);
  const wp = fakeWritePath();
  const pos = memoryPortSource("pos");
  const abort = new AbortController();
  const s = startRegisterSession({
    register: { id: "quay1", port: "unused" },
    driver,
    options: driver.options.parse({}),
    ...wp,
    clock: systemClock,
    log: silent,
    signal: abort.signal,
    source: pos,
    journal,
  });
  const peer = await pos.nextPeer();
  const stop = async (): Promise<void> => {
    abort.abort();
    await s.stopped;
  };
  return { db, journal, wp, peer, pos, stop };
}

describe("journal writer", () => {
  it("keeps chunks per stream with contiguous offsets and a chain that continues after a restart", () => {
    const path = tempDb();
    let db = openStore(path);
    let j = journalWriter(db);
    expect(j.append(IN, utf8("abc"), 1)).toBe(0);
    expect(j.append(IN, utf8("de"), 2)).toBe(3);
    expect(j.append(OUT, utf8("ok"), 3)).toBe(0);
    expect(j.pending()).toBe(3);
    j.flush();
    expect(j.pending()).toBe(0);
    db.close();

    db = openStore(path);
    j = journalWriter(db);
    expect(j.offset(IN)).toBe(5);
    expect(j.append(IN, utf8("fgh"), 4)).toBe(5);
    j.flush();
    expect(new TextDecoder().decode(readJournalRange(db, { ...IN, start: 1, end: 7 }))).toBe("bcdefg");
    expect(readJournalRange(db, { ...IN, start: 6, end: 9 })).toBeUndefined();
    expect(verifyJournal(db)).toEqual({ ok: true, streams: 2, chunks: 4, bytes: 10 });
    const first = db.prepare("SELECT chain FROM journal ORDER BY id LIMIT 1").get() as { chain: string };
    expect(first.chain).toBe(createHash("sha256").update(JOURNAL_GENESIS).update("abc").digest("hex"));
    db.close();
  });

  it("is append-only, and verification names the first chunk someone altered", () => {
    const db = openStore(":memory:");
    const j = journalWriter(db);
    j.append(IN, utf8("one"), 1);
    j.append(IN, utf8("two"), 2);
    j.flush();
    expect(() => db.prepare("UPDATE journal SET bytes = x'00'").run()).toThrow(/append-only/);
    expect(() => db.prepare("DELETE FROM journal").run()).toThrow(/append-only/);
    db.exec("DROP TRIGGER journal_no_update");
    db.prepare("UPDATE journal SET bytes = ? WHERE stream_offset = 3").run(Buffer.from("TWO"));
    const verdict = verifyJournal(db);
    expect(verdict).toMatchObject({ ok: false, stream: IN, reason: expect.stringMatching(/chuỗi băm/) });
    db.close();
  });

  it("links a receipt row to its range inside the caller's transaction", () => {
    const db = openStore(":memory:");
    const link = linkJournal(db);
    db.transaction(() => link("receipt", 7, { ...IN, start: 10, end: 20 }))();
    expect(journalRangeOf(db, "receipt", 7)).toEqual({ ...IN, start: 10, end: 20 });
    expect(journalRangeOf(db, "quarantine", 7)).toBeUndefined();
    db.close();
  });

  it("flushes on a timer and once more when stopped", async () => {
    const db = openStore(":memory:");
    const j = journalWriter(db);
    const stop = j.autoFlush(10);
    j.append(IN, utf8("x"), 1);
    await vi.waitFor(() => expect(j.pending()).toBe(0));
    j.append(IN, utf8("y"), 2);
    stop();
    expect(j.pending()).toBe(0);
    db.close();
  });
});

describe("journal retention (journal.keepDays)", () => {
  const DAY = 86_400_000;
  const NOW = Date.UTC(2026, 10, 28, 3);
  /** A store with IN chunks "aa" "bb" "cc" "dd" 40, 30, 20 and 1 days old, and one OUT chunk 40 days old. */
  const aged = (path = ":memory:") => {
    const db = openStore(path);
    const j = journalWriter(db);
    for (const [text, days] of [
      ["aa", 40],
      ["bb", 30],
      ["cc", 20],
      ["dd", 1],
    ] as const)
      j.append(IN, utf8(text), NOW - days * DAY);
    j.append(OUT, utf8("ok"), NOW - 40 * DAY);
    j.flush();
    return { db, j };
  };

  it("sheds old chunks behind a mark, and what is kept still verifies and continues", () => {
    const path = tempDb();
    const { db } = aged(path);
    expect(pruneJournal(db, { keepDays: 25, now: NOW })).toEqual({ streams: 2, chunks: 3, bytes: 6, more: false });
    expect(db.prepare("SELECT up_to, keep_days, chunks, bytes FROM journal_pruned ORDER BY id").all()).toEqual([
      { up_to: 4, keep_days: 25, chunks: 2, bytes: 4 },
      { up_to: 2, keep_days: 25, chunks: 1, bytes: 2 },
    ]);
    expect(verifyJournal(db)).toEqual({ ok: true, streams: 1, chunks: 2, bytes: 4 });
    expect(readJournalRange(db, { ...IN, start: 4, end: 8 })).toEqual(utf8("ccdd"));
    expect(readJournalRange(db, { ...IN, start: 2, end: 6 })).toBeUndefined(); // partly shed
    // Nothing more to shed at the same age; the OUT stream, now empty, goes on from its mark.
    expect(pruneJournal(db, { keepDays: 25, now: NOW })).toEqual({ streams: 0, chunks: 0, bytes: 0, more: false });
    db.close();
    const again = openStore(path);
    const j = journalWriter(again);
    expect(j.append(OUT, utf8("ok"), NOW)).toBe(2);
    expect(j.append(IN, utf8("ee"), NOW)).toBe(8);
    j.flush();
    expect(verifyJournal(again)).toEqual({ ok: true, streams: 2, chunks: 4, bytes: 8 });
    again.close();
  });

  it("goes a bounded slice per run, and stops at the first young chunk even if older ones follow", () => {
    const { db, j } = aged();
    j.append(IN, utf8("ee"), NOW - 50 * DAY); // a clock that went backwards once
    j.flush();
    // Old enough: "aa" "bb" "cc" and OUT's "ok"; "ee" is older but behind the young "dd".
    expect(pruneJournal(db, { keepDays: 10, now: NOW, maxChunks: 2 })).toMatchObject({ chunks: 2, more: true });
    expect(pruneJournal(db, { keepDays: 10, now: NOW, maxChunks: 2 })).toMatchObject({ chunks: 2, more: true });
    expect(pruneJournal(db, { keepDays: 10, now: NOW, maxChunks: 2 })).toMatchObject({ chunks: 0, more: false });
    expect(readJournalRange(db, { ...IN, start: 6, end: 10 })).toEqual(utf8("ddee"));
    expect(verifyJournal(db)).toMatchObject({ ok: true });
    db.close();
  });

  it("lets nothing go without a true mark: no delete past it, no mark off a chunk's end or chain, none backwards", () => {
    const { db } = aged();
    pruneJournal(db, { keepDays: 25, now: NOW });
    expect(() => db.prepare("DELETE FROM journal WHERE stream_offset = 4").run()).toThrow(/append-only/);
    const chainAt = (end: number): string =>
      (
        db
          .prepare("SELECT chain FROM journal WHERE direction = 'in' AND stream_offset + length(bytes) = ?")
          .get(end) as {
          chain: string;
        }
      ).chain;
    const mark = db.prepare(
      `INSERT INTO journal_pruned (register_id, side, direction, up_to, chain, at, keep_days, chunks, bytes)
       VALUES ('quay1', 'register', 'in', ?, ?, 0, 1, 0, 0)`,
    );
    expect(() => mark.run(7, chainAt(8))).toThrow(/end of a kept chunk/); // not a chunk's end
    expect(() => mark.run(8, "0".repeat(64))).toThrow(/end of a kept chunk/); // not its chain
    expect(() => db.prepare("UPDATE journal_pruned SET up_to = 0").run()).toThrow(/append-only/);
    expect(() => db.prepare("DELETE FROM journal_pruned").run()).toThrow(/append-only/);
    mark.run(8, chainAt(8));
    expect(() => mark.run(8, chainAt(8))).toThrow(/forward/);
    db.close();
  });

  it("audit verify counts a receipt whose bytes were shed as pruned, not broken", () => {
    const { db } = aged();
    const link = linkJournal(db);
    db.prepare(
      `INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json)
       VALUES ('quay1', 'A-1', 'ndjson-v1', 0, '2026-10-19T09:00:00+07:00', x'61616262', '{}'),
              ('quay1', 'A-2', 'ndjson-v1', 0, '2026-11-27T09:00:00+07:00', x'6464', '{}')`,
    ).run();
    link("receipt", 1, { ...IN, start: 0, end: 4 });
    link("receipt", 2, { ...IN, start: 6, end: 8 });
    expect(checkJournal(db)).toMatchObject({ ok: true, tied: 2, pruned: 0, receipts: 2 });
    pruneJournal(db, { keepDays: 25, now: NOW });
    expect(checkJournal(db)).toMatchObject({ ok: true, tied: 1, pruned: 1, receipts: 2 });
    db.close();
  });
});

describe("stream journal", () => {
  it("finds receipts without a span in order, a resend after the original", () => {
    const db = openStore(":memory:");
    const sj = streamJournal(journalWriter(db), IN);
    const line = utf8('{"x":1}\n');
    sj.append(concatBytes([utf8("noise\n"), line]), 1);
    sj.append(line.subarray(0, 3), 2);
    sj.append(line.subarray(3), 3);
    expect(sj.rangeOf(line, undefined)).toEqual({ ...IN, start: 6, end: 14 });
    expect(sj.rangeOf(line, undefined)).toEqual({ ...IN, start: 14, end: 22 });
    expect(sj.rangeOf(line, undefined)).toBeUndefined();
    db.close();
  });

  it("turns a decoder span into journal offsets from where the decoder started", () => {
    const db = openStore(":memory:");
    const j = journalWriter(db);
    j.append(IN, utf8("before"), 1);
    const sj = streamJournal(j, IN);
    sj.restart();
    expect(sj.rangeOf(new Uint8Array(4), { side: "register", start: 2, end: 6 })).toEqual({ ...IN, start: 8, end: 12 });
    db.close();
  });

  it("gives an ndjson session's receipts the journal range of their line", async () => {
    const { db, journal, wp, peer, stop } = await journaledSession(ndjson);
    const receipts = generateReceipts({ seed: 3, count: 3, startMs: Date.UTC(2026, 10, 20, 2) });
    const lines = receipts.map((r) => encodeReceipt(r));
    await peer.write(concatBytes([utf8("{bad\n"), lines[0]!, lines[1]!, lines[1]!]));
    await peer.write(lines[2]!);
    await vi.waitFor(() => expect(wp.recorded).toHaveLength(4));
    await stop();
    for (const input of wp.recorded) expect(toHex(readJournalRange(db, input.journal!)!)).toBe(toHex(input.raw));
    expect(wp.recorded.map((r) => r.journal!.start)).toEqual([
      5,
      5 + lines[0]!.length,
      5 + lines[0]!.length + lines[1]!.length,
      5 + lines[0]!.length + 2 * lines[1]!.length,
    ]);
    expect(wp.quarantined[0]!.journal).toEqual({ ...IN, start: 0, end: 5 });
    // What we wrote back (the acks) is journaled too.
    expect(journal.offset(OUT)).toBeGreaterThan(0);
    expect(verifyJournal(db)).toMatchObject({ ok: true, streams: 2 });
    db.close();
  });
});

describe("connection starts in the journal (migration 007)", () => {
  it("marks where each connection began, so the journal replays as the session read it across an unplug", async () => {
    const { db, journal, wp, peer, pos, stop } = await journaledSession(ndjson);
    const receipts = generateReceipts({ seed: 4, count: 2, startMs: Date.UTC(2026, 10, 20, 2) });
    const cut = encodeReceipt(receipts[0]!).subarray(0, 40);
    await peer.write(cut);
    await vi.waitFor(() => expect(journal.offset(IN)).toBe(cut.length));
    await peer.close();
    const second = await pos.nextPeer();
    await second.write(encodeReceipt(receipts[1]!));
    await vi.waitFor(() => expect(wp.recorded).toHaveLength(1));
    await stop();
    // The session: the cut line held as TRUNCATED, the next connection's sale invoiced.
    expect(wp.quarantined.map((q) => q.code)).toEqual(["TRUNCATED"]);
    const rows = db
      .prepare("SELECT starts, chain, bytes FROM journal WHERE direction = 'in' ORDER BY stream_offset")
      .all() as { starts: number; chain: string; bytes: Buffer }[];
    expect(rows.map((r) => r.starts)).toEqual([2, 1]);
    // The mark is chained: the second chunk's chain is not the one of its bytes alone.
    expect(rows[1]!.chain).toBe(nextChain(rows[0]!.chain, rows[1]!.bytes, "connection"));
    expect(rows[1]!.chain).not.toBe(nextChain(rows[0]!.chain, rows[1]!.bytes));
    expect(verifyJournal(db)).toMatchObject({ ok: true });
    // The journal as a capture replays to what the session read (before: the cut line glued to the sale, lost).
    const text = [...journalCapture(db, { registerId: "quay1" })].join("");
    expect(text).toMatch(/^# started: /m);
    expect(text).toMatch(/^# disconnected: /m);
    const events = replayCapture(ndjson, ndjson.options.parse({}), text);
    expect(events.flatMap((e) => (e.type === "problem" ? [e.code] : []))).toEqual(["TRUNCATED"]);
    expect(events.flatMap((e) => (e.type === "receipt" ? [(e.receipt as ReceiptInput).receiptId] : []))).toEqual([
      receipts[1]!.receiptId,
    ]);
    db.close();
  });
});

describe("identity pins", () => {
  it("pins the first report, extends it with new fields, and alerts on a change", () => {
    const db = openStore(":memory:");
    const pin = identityPins(db);
    expect(pin("quay1", { serial: "DT123", model: "FP-700X" }, 1)).toMatchObject({ status: "pinned" });
    expect(pin("quay1", { serial: "DT123" }, 2)).toMatchObject({ status: "same" });
    expect(pin("quay1", { serial: "DT123", firmware: "2.01" }, 3)).toMatchObject({
      status: "pinned",
      identity: { serial: "DT123", model: "FP-700X", firmware: "2.01" },
    });
    expect(pin("quay1", { serial: "DT999" }, 4)).toEqual({
      status: "changed",
      identity: { serial: "DT999" },
      previous: { serial: "DT123", model: "FP-700X", firmware: "2.01" },
    });
    expect(pin("quay2", { model: "TM-T82" }, 5)).toMatchObject({ status: "pinned" });
    const events = db.prepare("SELECT kind, register_id, detail FROM events ORDER BY id").all() as {
      kind: string;
      register_id: string;
      detail: string;
    }[];
    expect(events.map((e) => `${e.kind}:${e.register_id}`)).toEqual([
      "register-identity-pinned:quay1",
      "register-identity-pinned:quay1",
      "register-identity-changed:quay1",
      "register-identity-pinned:quay2",
    ]);
    expect(JSON.parse(events[2]!.detail)).toMatchObject({ fields: ["serial"] });
    expect(() => db.prepare("UPDATE register_identity SET serial = 'x'").run()).toThrow(/append-only/);
    db.close();
  });
});

describe("Datecs receipts in the journal", () => {
  it("ties a receipt to its range when other frames come between its own (a status query, a resend)", async () => {
    const { db, wp, peer, stop } = await journaledSession(datecsIsl);
    const options = datecsEncodeOptions();
    const [receipt] = generateReceipts({ seed: 4, count: 1, startMs: Date.UTC(2026, 10, 20, 2) });
    // A status query before the sale (not part of it), then the sale's frames with its second frame sent twice
    // (its answer was lost) and a status query in the middle, as a POS polling the printer does.
    let seq = 0x20;
    const frame = (command: Parameters<typeof hostFrame>[2]): Uint8Array => {
      const bytes = hostFrame(options.framing, seq, command);
      seq = nextSeq(options.framing, seq);
      return bytes;
    };
    const status = bareCommand(options, 0x4a, "status");
    const before = frame(status);
    const sale: Uint8Array[] = [];
    for (const [i, command] of receiptCommands(receipt!, options).entries()) {
      const bytes = frame(command);
      sale.push(bytes);
      if (i === 1) sale.push(bytes, frame(status));
    }
    await peer.write(concatBytes([before, ...sale]));
    await vi.waitFor(() => expect(wp.recorded).toHaveLength(1));
    await stop();
    const input = wp.recorded[0]!;
    expect(input.journal).toEqual({ ...IN, start: before.length, end: before.length + concatBytes(sale).length });
    const bytes = readJournalRange(db, input.journal!)!;
    expect(toHex(bytes)).toBe(toHex(concatBytes(sale)));
    expect(input.raw.length).toBeLessThan(bytes.length); // the receipt keeps only its own frames …
    expect(rawFromRange(bytes, input.raw)).toBe(true); // … found in order in its range
    db.close();
  });
});

describe("a receipt's kept bytes against its journal range (audit verify)", () => {
  const b = (text: string): Uint8Array => utf8(text);
  it("accepts the same bytes, and frames in order with other traffic between them", () => {
    expect(rawFromRange(b("{sale}\n"), b("{sale}\n"))).toBe(true);
    // A Datecs receipt: its frames, with a status query and its answer's resend in the middle.
    expect(rawFromRange(b("[open][status][item][item][close]"), b("[open][item][close]"))).toBe(true);
  });
  it("refuses changed, missing or extra bytes and a range that does not start and end with the receipt", () => {
    expect(rawFromRange(b("{sale}\n"), b("{sble}\n"))).toBe(false);
    expect(rawFromRange(b("[open][item]"), b("[open][item][close]"))).toBe(false);
    expect(rawFromRange(b("x[open][close]"), b("[open][close]"))).toBe(false);
    expect(rawFromRange(b("[open][close]x"), b("[open][close]"))).toBe(false);
    expect(rawFromRange(b("[open][close]"), b(""))).toBe(false);
    expect(rawFromRange(b("[open][iten][close]"), b("[open][item][close]"))).toBe(false);
  });
});
