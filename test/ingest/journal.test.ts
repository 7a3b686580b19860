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
import { rawFromRange } from "../../src/audit/journal.js";
import { concatBytes, toHex, utf8 } from "../../src/driver-api/index.js";
import type { JournalStream } from "../../src/ingest/journal-sink.js";
import { startRegisterSession, streamJournal } from "../../src/ingest/register-session.js";
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
    const db = openStore(":memory:");
    const journal = journalWriter(db);
    const wp = fakeWritePath();
    const pos = memoryPortSource("pos");
    const abort = new AbortController();
    const s = startRegisterSession({
      register: { id: "quay1", port: "unused" },
      driver: ndjson,
      options: ndjson.options.parse({}),
      ...wp,
      clock: systemClock,
      log: silent,
      signal: abort.signal,
      source: pos,
      journal,
    });
    const peer = await pos.nextPeer();
    const receipts = generateReceipts({ seed: 3, count: 3, startMs: Date.UTC(2026, 10, 20, 2) });
    const lines = receipts.map((r) => encodeReceipt(r));
    await peer.write(concatBytes([utf8("{bad\n"), lines[0]!, lines[1]!, lines[1]!]));
    await peer.write(lines[2]!);
    await vi.waitFor(() => expect(wp.recorded).toHaveLength(4));
    abort.abort();
    await s.stopped;
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
    const db = openStore(":memory:");
    const journal = journalWriter(db);
    const wp = fakeWritePath();
    const pos = memoryPortSource("pos");
    const abort = new AbortController();
    const s = startRegisterSession({
      register: { id: "quay1", port: "unused" },
      driver: datecsIsl,
      options: datecsIsl.options.parse({}),
      ...wp,
      clock: systemClock,
      log: silent,
      signal: abort.signal,
      source: pos,
      journal,
    });
    const peer = await pos.nextPeer();
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
    abort.abort();
    await s.stopped;
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
