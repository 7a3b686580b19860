/**
 * Group commit (src/store/group-commit.ts) on the real write path and a real SQLite file: the receipts of one
 * event-loop turn in one transaction with their journal chunks; one bad receipt among good ones is quarantined
 * (bytes and journal link kept) while the others are invoiced; a store that fills up in the middle of a group answers
 * the whole group "failed" and writes nothing of it, and the journal bytes are written with the next commit.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { driverCatalogue } from "../../src/catalogue.js";
import { loadConfig } from "../../src/config/load.js";
import type { JournalStream } from "../../src/ingest/journal-sink.js";
import type { RecordInput } from "../../src/ingest/record-input.js";
import { createRecorder } from "../../src/record.js";
import { manualClock } from "../../src/shared/clock.js";
import { silentLogger } from "../../src/shared/log.js";
import { createSigner, createTestIdentity, loadPkcs12 } from "../../src/sign/index.js";
import { openStore } from "../../src/store/db.js";
import { createGroupCommit, type GroupCommit } from "../../src/store/group-commit.js";
import { ingestStore } from "../../src/store/ingest.js";
import { journalRangeOf, journalWriter, readJournalRange, verifyJournal } from "../../src/store/journal.js";
import { recorderSettings } from "../../src/writer/core.js";
import { writeDemoConfig } from "../support/demo-config.js";
import { tempDir } from "../support/tmp.js";

const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
const sale = (id: string, total = 98000): Record<string, unknown> => ({
  receiptId: id,
  issuedAt: "2026-11-20T09:41:07+07:00",
  lines: [
    { name: "Cà phê sữa đá", unit: "ly", quantity: "2", unitPrice: 27000, amount: 54000, vatRate: "8%" },
    { name: "Bia lon", unit: "lon", quantity: "2", unitPrice: 22000, amount: 44000, group: "beer" },
  ],
  payments: [{ method: "cash", amount: 98000 }],
  total,
});

function setup(budgetMs = 10_000) {
  const dir = tempDir();
  const config = loadConfig(writeDemoConfig(dir).file, driverCatalogue);
  const path = join(dir, "hoadon.sqlite");
  const db = openStore(path);
  const clock = manualClock(Date.parse("2026-11-20T02:41:10Z"));
  const store = ingestStore(db);
  const record = createRecorder({
    store,
    signer: createSigner(loadPkcs12(identity.pfx, identity.password)),
    settings: recorderSettings(config),
    clock,
    log: silentLogger,
    storePath: path,
  });
  const journal = journalWriter(db);
  const group = createGroupCommit({ db, journal, log: silentLogger, storePath: path, budgetMs });
  /** What each receipt's work returned inside its group, before the commit. */
  const seen: string[] = [];
  /** The receipt's bytes arrive on its register's port (journal) and are handed to the group. */
  const hand = (registerId: string, receipt: Record<string, unknown>) => {
    const raw = new TextEncoder().encode(`${JSON.stringify(receipt)}\n`);
    const stream: JournalStream = { registerId, side: "register", direction: "in" };
    const start = journal.append(stream, raw, clock.now());
    const input: RecordInput = {
      registerId,
      driverId: "ndjson-v1",
      receipt,
      raw,
      receivedAt: clock.now(),
      journal: { ...stream, start, end: start + raw.length },
    };
    return group.submit(() => {
      const outcome = record(input);
      seen.push(outcome.status);
      return outcome;
    });
  };
  const count = (table: string): number => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  return { db, group, journal, hand, count, seen };
}

describe("group commit", () => {
  it("commits the receipts of one turn in one transaction; a bad one is quarantined, the others invoiced", async () => {
    const { db, group, journal, hand, count } = setup();
    const outcomes = await Promise.all([
      hand("quay-1", sale("A-1")),
      hand("quay-2", sale("B-1", 12345)), // the total does not match its lines
      hand("quay-3", sale("C-1")),
      hand("quay-4", sale("D-1")),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(["ok", "rejected", "ok", "ok"]);
    expect(outcomes.filter((o) => o.status === "ok").map((o) => o.status === "ok" && o.invoice.shdon)).toEqual([
      1, 2, 3,
    ]);
    expect(group.stats()).toEqual({ groups: 1, receipts: 4, largest: 4 });
    expect([count("receipts"), count("invoices"), count("deliveries"), count("quarantine")]).toEqual([3, 3, 3, 1]);
    // The journal chunks went in with the group; the quarantined bytes are tied to them.
    expect(journal.pending()).toBe(0);
    const q = db.prepare("SELECT id, raw FROM quarantine").get() as { id: number; raw: Buffer };
    const range = journalRangeOf(db, "quarantine", q.id)!;
    expect(Buffer.from(readJournalRange(db, range)!)).toEqual(q.raw);
    expect(verifyJournal(db)).toMatchObject({ ok: true, streams: 4, chunks: 4 });
  });

  it("answers the whole group failed when the store fills up in its middle, and writes nothing of it", async () => {
    const { db, journal, hand, count, seen } = setup();
    const pagesOf = (): number => db.pragma("page_count", { simple: true }) as number;
    expect((await hand("quay-1", sale("A-0"))).status).toBe("ok");
    const before = pagesOf();
    expect((await hand("quay-1", sale("A-1"))).status).toBe("ok");
    // A real SQLITE_FULL: the database may grow by one receipt's pages, not two.
    db.pragma(`max_page_count = ${pagesOf() + (pagesOf() - before)}`);
    seen.length = 0;
    const outcomes = await Promise.all(["B-1", "B-2", "B-3", "B-4"].map((id, i) => hand(`quay-${i + 2}`, sale(id))));
    // In the middle: the first receipt was written in the group's transaction, a later one met the full store.
    expect(seen[0]).toBe("ok");
    expect(seen).toContain("failed");
    expect(outcomes).toEqual(Array(4).fill(expect.objectContaining({ status: "failed", code: "STORE_FULL" })));
    expect([count("receipts"), count("invoices"), count("deliveries"), count("quarantine"), count("journal")]).toEqual([
      2, 2, 2, 0, 2,
    ]);
    // The bytes are not lost: pending again, written with the next commit that has room.
    expect(journal.pending()).toBe(4);

    db.pragma("max_page_count = 1073741823");
    const again = await Promise.all(["B-1", "B-2", "B-3", "B-4"].map((id, i) => hand(`quay-${i + 2}`, sale(id))));
    expect(again.map((o) => o.status === "ok" && o.invoice.shdon)).toEqual([3, 4, 5, 6]);
    expect([count("receipts"), count("invoices"), count("journal")]).toEqual([6, 6, 10]);
    expect(verifyJournal(db)).toMatchObject({ ok: true, chunks: 10 });
  });

  it("commits what is done once a group's work passes its time budget; the rest follows in the next group", async () => {
    const { group, hand, count } = setup(0);
    const outcomes = await Promise.all(["A-1", "B-1", "C-1"].map((id, i) => hand(`quay-${i + 1}`, sale(id))));
    expect(outcomes.map((o) => o.status === "ok" && o.invoice.shdon)).toEqual([1, 2, 3]);
    expect(group.stats()).toEqual({ groups: 3, receipts: 3, largest: 1 });
    expect(count("invoices")).toBe(3);
  });

  it.each([
    ["a receipt", (g: GroupCommit, work: () => never) => g.submit(work)],
    ["joined work", (g: GroupCommit, work: () => never) => g.join(work)],
  ] as const)("undoes only the savepoint of %s whose write throws, and rejects its promise", async (_, queue) => {
    const { db, group, hand, count } = setup();
    const bug = queue(group, () => {
      db.prepare("INSERT INTO events (at, kind, register_id, detail) VALUES (1, 'half-written', NULL, '{}')").run();
      throw new Error("bug");
    });
    const good = hand("quay-1", sale("A-1"));
    await expect(bug).rejects.toThrow("bug");
    expect(await good).toMatchObject({ status: "ok", invoice: { shdon: 1 } });
    expect(db.prepare("SELECT count(*) AS n FROM events WHERE kind = 'half-written'").get()).toEqual({ n: 0 });
    expect(count("invoices")).toBe(1);
  });

  it("joins the daemon's own writes to the turn's group: one commit with the receipts, their value after it", async () => {
    const { db, group, hand, count } = setup();
    const other = openStore(db.name);
    const invoicesSeenBy = (conn: typeof db): number =>
      (conn.prepare("SELECT count(*) AS n FROM invoices").get() as { n: number }).n;
    let inside: { mine: number; others: number } | undefined;
    const first = hand("quay-1", sale("A-1"));
    const joined = group.join(() => {
      db.prepare("INSERT INTO events (at, kind, register_id, detail) VALUES (1, 'forwarder-write', NULL, '{}')").run();
      // The receipt before it is written in this same transaction, not committed yet.
      inside = { mine: invoicesSeenBy(db), others: invoicesSeenBy(other) };
      return "batched";
    });
    const second = hand("quay-2", sale("B-1"));
    expect(await joined).toBe("batched");
    expect((await first).status).toBe("ok");
    expect((await second).status).toBe("ok");
    expect(inside).toEqual({ mine: 1, others: 0 });
    // Receipts are counted, joined work is not; all three went in one group.
    expect(group.stats()).toEqual({ groups: 1, receipts: 2, largest: 2 });
    expect(invoicesSeenBy(other)).toBe(2);
    expect(count("events")).toBeGreaterThanOrEqual(1);
    other.close();
  });

  it("rejects joined work with the store's error when its group is lost, and answers the receipts failed", async () => {
    const { db, group, hand, count } = setup();
    expect((await hand("quay-1", sale("A-1"))).status).toBe("ok");
    const pagesOf = (): number => db.pragma("page_count", { simple: true }) as number;
    const before = pagesOf();
    expect((await hand("quay-1", sale("A-2"))).status).toBe("ok");
    db.pragma(`max_page_count = ${pagesOf() + (pagesOf() - before)}`);
    const receipts = ["B-1", "B-2", "B-3"].map((id, i) => hand(`quay-${i + 2}`, sale(id)));
    const joined = group.join(() => "never committed");
    await expect(joined).rejects.toMatchObject({ code: "STORE_FULL" });
    expect(await Promise.all(receipts)).toEqual(
      Array(3).fill(expect.objectContaining({ status: "failed", code: "STORE_FULL" })),
    );
    expect(count("invoices")).toBe(2);
  });
});
