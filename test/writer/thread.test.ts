/**
 * The writer thread (src/writer): the daemon's write path, journal rows, quarantine and identity pins behind
 * messages, on a real SQLite file and the compiled thread (dist/, built by the global setup). What crosses threads
 * must land exactly as on one thread: receipts with their journal bytes in one transaction, chains that continue
 * across restarts, errors with their codes, and a dead writer answered "send again", never "ok".
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { driverCatalogue } from "../../src/catalogue.js";
import { loadConfig } from "../../src/config/load.js";
import type { RecordInput } from "../../src/ingest/record-input.js";
import { silentLogger } from "../../src/shared/log.js";
import { createTestIdentity, type TestIdentity } from "../../src/sign/index.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { openStore } from "../../src/store/db.js";
import { readJournalRange, verifyJournal } from "../../src/store/journal.js";
import { startWriterThread, type WriterClient } from "../../src/writer/client.js";
import { writerConfig } from "../../src/writer/config.js";
import { writeDemoConfig } from "../support/demo-config.js";
import { tempDir } from "../support/tmp.js";

let identity: TestIdentity | undefined;
let running: WriterClient[] = [];
afterEach(async () => {
  for (const w of running) await w.stop();
  running = [];
});

const REGISTERS = ["quay-1", "quay-2"];

function setUp(): { dir: string; file: string } {
  const dir = tempDir("hoadon-writer-");
  identity ??= createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
  const { file } = writeDemoConfig(dir, {
    identity,
    // Refuses connections: the forwarder only retries, the test looks at the store.
    authorityUrl: "http://127.0.0.1:9/",
    registers: REGISTERS.map((id, i) => ({ id, driver: "ndjson-v1", port: `tcp-listen://127.0.0.1:${21_000 + i}` })),
    log: { level: "fatal" },
  });
  return { dir, file };
}

async function start(file: string): Promise<WriterClient> {
  const config = loadConfig(file, driverCatalogue);
  const writer = await startWriterThread({ config: writerConfig(config), env: {}, log: silentLogger });
  running.push(writer);
  return writer;
}

const storeOf = (file: string): string => loadConfig(file, driverCatalogue).store.path;

/** A receipt as a session hands it over: its line appended to the journal first. */
function handOver(writer: WriterClient, registerId: string, receipt: unknown): RecordInput {
  const raw = new TextEncoder().encode(`${JSON.stringify(receipt)}\n`);
  const stream = { registerId, side: "register" as const, direction: "in" as const };
  const start = writer.journal!.append(stream, raw, Date.now());
  return {
    registerId,
    driverId: "ndjson-v1",
    receipt,
    raw,
    receivedAt: Date.now(),
    journal: { ...stream, start, end: start + raw.length },
  };
}

describe("writer thread", () => {
  it("commits receipts with their journal bytes, and the chains continue after a restart", async () => {
    const { file } = setUp();
    const receipts = generateReceipts({ seed: 3, count: 12, registerId: "QUAY1", startMs: Date.now() });
    for (const round of [0, 1]) {
      const writer = await start(file);
      // One event-loop turn of both registers: one group in the writer.
      const outcomes = await Promise.all(
        receipts.slice(round * 6, round * 6 + 6).map((r, i) => writer.record(handOver(writer, REGISTERS[i % 2]!, r))),
      );
      expect(outcomes.map((o) => o.status)).toEqual(Array(6).fill("ok"));
      await writer.stop();
    }
    const db = openStore(storeOf(file));
    try {
      const rows = db
        .prepare<[], { id: number; raw: Buffer; start_offset: number; end_offset: number; register_id: string }>(
          `SELECT r.id, r.raw, s.start_offset, s.end_offset, s.register_id FROM receipts r
             JOIN journal_sources s ON s.kind = 'receipt' AND s.row_id = r.id ORDER BY r.id`,
        )
        .all();
      expect(rows).toHaveLength(12);
      for (const row of rows) {
        const bytes = readJournalRange(db, {
          registerId: row.register_id,
          side: "register",
          direction: "in",
          start: row.start_offset,
          end: row.end_offset,
        });
        expect(Buffer.from(bytes ?? [])).toEqual(row.raw);
      }
      // Two writer threads, one after the other: each stream is one unbroken chain.
      expect(verifyJournal(db)).toMatchObject({ ok: true, streams: 2, chunks: 12 });
      const shdon = db.prepare<[], { shdon: number }>("SELECT shdon FROM invoices ORDER BY id").all();
      expect(shdon.map((r) => r.shdon)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    } finally {
      db.close();
    }
  });

  it("notes each run's start and stop in the event log, and still serves when it cannot note the start", async () => {
    const { file } = setUp();
    const first = await start(file);
    await first.stop();
    const db = openStore(storeOf(file));
    try {
      const runs = db.prepare("SELECT kind, detail FROM events WHERE kind LIKE 'daemon-%' ORDER BY id").all() as {
        kind: string;
        detail: string;
      }[];
      expect(runs.map((r) => r.kind)).toEqual(["daemon-start", "daemon-stop"]);
      expect(JSON.parse(runs[0]!.detail)).toEqual({ pid: process.pid, registers: [...REGISTERS] });
      // As a full disk would: the start cannot be written.
      db.exec(
        "CREATE TRIGGER no_start BEFORE INSERT ON events WHEN NEW.kind = 'daemon-start' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
      );
    } finally {
      db.close();
    }
    const second = await start(file);
    const [receipt] = generateReceipts({ seed: 4, count: 1, registerId: "QUAY1", startMs: Date.now() });
    expect((await second.record(handOver(second, REGISTERS[0]!, receipt))).status).toBe("ok");
    await second.stop();
  });

  it("keeps quarantined bytes with their journal range, and pins identities", async () => {
    const { file } = setUp();
    const writer = await start(file);
    const raw = new TextEncoder().encode("{not json\n");
    const stream = { registerId: "quay-2", side: "register" as const, direction: "in" as const };
    const start0 = writer.journal!.append(stream, raw, Date.now());
    writer.quarantine({
      registerId: "quay-2",
      driverId: "ndjson-v1",
      code: "BAD_JSON",
      detail: "test",
      raw,
      receivedAt: Date.now(),
      journal: { ...stream, start: start0, end: start0 + raw.length },
    });
    expect(await writer.identity("quay-1", { serial: "DT-1", model: "FP-700" }, 1)).toMatchObject({ status: "pinned" });
    expect(await writer.identity("quay-1", { serial: "DT-1" }, 2)).toMatchObject({ status: "same" });
    expect(await writer.identity("quay-1", { serial: "DT-2" }, 3)).toMatchObject({
      status: "changed",
      previous: { serial: "DT-1", model: "FP-700" },
    });
    await writer.stop();
    const db = openStore(storeOf(file));
    try {
      const q = db.prepare<[], { id: number; code: string; raw: Buffer }>("SELECT id, code, raw FROM quarantine").all();
      expect(q).toEqual([{ id: 1, code: "BAD_JSON", raw: Buffer.from(raw) }]);
      expect(
        db.prepare("SELECT start_offset, end_offset FROM journal_sources WHERE kind = 'quarantine'").get(),
      ).toEqual({ start_offset: 0, end_offset: raw.length });
      expect(db.prepare("SELECT kind FROM events WHERE kind LIKE 'register-identity-%' ORDER BY id").all()).toEqual([
        { kind: "register-identity-pinned" },
        { kind: "register-identity-changed" },
      ]);
    } finally {
      db.close();
    }
  });

  it("refuses to start with a wrong key password, with the same error code as on one thread", async () => {
    const { dir, file } = setUp();
    writeFileSync(join(dir, "test-only-seller.pass"), "wrong");
    await expect(start(file)).rejects.toMatchObject({ name: "DaemonError", code: "SIGNING_PASSWORD_WRONG" });
  });

  it("answers 'send again' for everything when the writer thread dies, and says so", async () => {
    const { file } = setUp();
    const writer = await start(file);
    const [receipt] = generateReceipts({ seed: 9, count: 1, registerId: "QUAY1", startMs: Date.now() });
    await writer.kill();
    await expect(writer.died).resolves.toMatchObject({ code: "INTERNAL" });
    const outcome = await writer.record(handOver(writer, "quay-1", receipt));
    expect(outcome).toMatchObject({ status: "failed", code: "STORE_UNAVAILABLE" });
    await expect(writer.identity("quay-1", { serial: "X" }, 1)).rejects.toMatchObject({ code: "INTERNAL" });
  });
});
