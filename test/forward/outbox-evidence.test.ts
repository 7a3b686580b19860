/**
 * Migration 003 and what it serves: a batch kept once (envelope + its invoices' own bytes), the T-VAN's transaction
 * id and the submit time written once, the deadline clock, oldest-first claims, and leases ended at start.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createBatchBuilder } from "../../src/forward/batch.js";
import { manualClock, vnEndOfDay } from "../../src/shared/clock.js";
import {
  type BatchGroup,
  type BuiltBatch,
  batchXml,
  claimBatch,
  createBatches,
  deadlineStatus,
  outboxStatus,
  releaseLeases,
  retryHoldUntil,
  settleSubmit,
} from "../../src/store/outbox.js";
import { tempDir } from "../support/tmp.js";
import { makeInvoices, makeTestSigner, TEST_ENVELOPE } from "./support/invoices.js";
import { type Db, openDbIn, openTestDb, seedInvoices } from "./support/store.js";

const T0 = Date.UTC(2026, 10, 20, 2, 0, 0); // 09:00 in Vietnam
const envelope = TEST_ENVELOPE;
const seller = makeTestSigner();

/** The real builder, remembering what it built. */
function recordingBuilder(now = T0): { build: (g: BatchGroup) => BuiltBatch; built: Map<string, Buffer> } {
  const real = createBatchBuilder({ envelope, signer: seller.signer, clock: manualClock(now) });
  const built = new Map<string, Buffer>();
  return {
    built,
    build: (g) => {
      const b = real(g);
      built.set(b.mtdiep, b.xml);
      return b;
    },
  };
}

function batchOf(db: Db, now = T0, maxInvoices = 1000): ReturnType<typeof recordingBuilder> {
  const r = recordingBuilder(now);
  createBatches(db, { now, maxInvoices, maxBytes: 2_000_000, build: r.build });
  return r;
}

describe("a batch stored once", () => {
  it("keeps the envelope only; the exact message comes back from the invoices' own bytes, checked by sha256", () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, makeInvoices(20, 1, { signer: seller.signer }), T0);
    const { built } = batchOf(db);
    const row = db.prepare("SELECT id, mtdiep, length(xml) AS kept, invoices_at, xml_sha256 FROM batches").get() as {
      id: number;
      mtdiep: string;
      kept: number;
      invoices_at: number;
      xml_sha256: string;
    };
    const full = built.get(row.mtdiep) as Buffer;
    expect(batchXml(db, row.id).equals(full)).toBe(true);
    expect(row.kept).toBeLessThan(full.length / 5);
    expect(full.subarray(row.invoices_at, row.invoices_at + 6).toString()).toBe("<HDon>");
    expect(claimBatch(db, T0, 1000)?.xml?.equals(full)).toBe(true);
  });

  it("one issue day per batch", () => {
    const db = openDbIn(tempDir());
    seedInvoices(
      db,
      makeInvoices(4, 1).map((inv, i) => ({ ...inv, nlap: i < 2 ? "2026-11-19" : "2026-11-20" })),
      T0,
    );
    batchOf(db);
    expect(db.prepare("SELECT invoice_count AS n FROM batches ORDER BY id").all()).toEqual([{ n: 2 }, { n: 2 }]);
  });

  it("a store from before migration 003 keeps working: its batches stay whole, new ones are kept once", () => {
    const file = join(tempDir(), "old.db");
    const old = openTestDb(file, 2);
    seedInvoices(old, makeInvoices(2, 1), T0);
    const mtdiep = `0100000099${"0".repeat(31)}1`;
    const whole = Buffer.from("<TDiep>whole</TDiep>");
    old
      .prepare(
        `INSERT INTO batches (mtdiep, khmshdon, khhdon, invoice_count, xml, created_at, state, next_attempt_at, updated_at)
         VALUES (?, '1', 'C26MAB', 2, ?, ?, 'ready', ?, ?)`,
      )
      .run(mtdiep, whole, T0, T0, T0);
    old.close();
    const db = openTestDb(file);
    expect(batchXml(db, 1).equals(whole)).toBe(true);
    seedInvoices(db, makeInvoices(1, 3), T0);
    const { built } = batchOf(db);
    expect(batchXml(db, 2).equals([...built.values()][0] as Buffer)).toBe(true);
  });
});

describe("transaction id and submit time", () => {
  it("are written when the T-VAN first takes the batch, and never changed after", () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, makeInvoices(2, 1), T0);
    batchOf(db);
    const c = claimBatch(db, T0, 1000);
    expect(c).toMatchObject({ transportRef: undefined, submittedAt: undefined });
    settleSubmit(db, {
      batchId: 1,
      now: T0 + 5,
      attempts: [],
      result: { kind: "submitted", nextPollAt: T0 + 10, transportRef: "GD1" },
    });
    settleSubmit(db, {
      batchId: 1,
      now: T0 + 50,
      attempts: [],
      result: { kind: "submitted", nextPollAt: T0 + 60, transportRef: "GD2" },
    });
    expect(claimBatch(db, T0 + 60, 1000)).toMatchObject({
      state: "submitted",
      transportRef: "GD1",
      submittedAt: T0 + 5,
    });
    expect(() => db.prepare("UPDATE batches SET transport_ref = 'X' WHERE id = 1").run()).toThrow(/keeps/);
    expect(() => db.prepare("UPDATE batches SET submitted_at = 1 WHERE id = 1").run()).toThrow(/keeps/);
    expect(() => db.prepare("UPDATE batches SET invoices_at = 1 WHERE id = 1").run()).toThrow(/keeps/);
  });
});

describe("the deadline clock", () => {
  it("counts overdue unsent invoices, names the next deadline, and counts those the T-VAN took late", () => {
    const db = openDbIn(tempDir());
    const day1 = vnEndOfDay(T0 - 86_400_000); // end of 2026-11-19, Vietnam time
    const day2 = vnEndOfDay(T0);
    seedInvoices(db, [
      ...makeInvoices(2, 1).map((i) => ({ ...i, createdAt: T0 - 86_400_000, deadlineAt: day1 })),
      ...makeInvoices(3, 3).map((i) => ({ ...i, createdAt: T0, deadlineAt: day2 })),
    ]);
    const now = T0 + 3_600_000; // 10:00 on the 20th: the two from the 19th are overdue
    expect(deadlineStatus(db, now)).toEqual({
      now,
      overdue: 2,
      dueWithinHour: 0,
      next: { invoiceId: 3, mccqt: "M1-26-A1B2C-00000000003", deadlineAt: day2, msLeft: day2 - now },
      sentLate: 0,
    });
    // The 19th's two go out now (late), in their own batch.
    createBatches(db, {
      now,
      maxInvoices: 2,
      maxBytes: 2_000_000,
      maxBatches: 1,
      build: recordingBuilder(now).build,
    });
    claimBatch(db, now, 1000);
    settleSubmit(db, { batchId: 1, now, attempts: [], result: { kind: "submitted", nextPollAt: now } });
    const late = deadlineStatus(db, day2 - 30 * 60_000);
    expect(late).toMatchObject({ overdue: 0, dueWithinHour: 3, sentLate: 2 });
    expect(outboxStatus(db, day2 + 1).deadline).toMatchObject({ overdue: 3, next: undefined });
  });
});

describe("claims after an outage", () => {
  it("take the oldest due batch first, whatever its retry time, and can leave one out", () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, makeInvoices(3, 1), T0);
    batchOf(db, T0, 1);
    // Batch 1 failed most and waits longest; batches 2 and 3 are due earlier.
    db.prepare("UPDATE batches SET next_attempt_at = ?, last_error = 'x' WHERE id = 1").run(T0 + 500);
    db.prepare("UPDATE batches SET next_attempt_at = ? WHERE id > 1").run(T0 + 100);
    expect(retryHoldUntil(db, T0)).toBe(T0 + 500);
    expect(claimBatch(db, T0 + 200, 1000)?.id).toBe(2);
    expect(claimBatch(db, T0 + 600, 1000)?.id).toBe(1);
    expect(claimBatch(db, T0 + 600, 1000, { skip: [3] })).toBeUndefined();
    expect(claimBatch(db, T0 + 600, 1000)?.id).toBe(3);
  });

  it("leases of a dead process end at start", () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, makeInvoices(1, 1), T0);
    batchOf(db);
    expect(claimBatch(db, T0, 300_000)?.inDoubt).toBe(false);
    expect(claimBatch(db, T0 + 1, 300_000)).toBeUndefined();
    expect(releaseLeases(db, T0 + 1)).toBe(1);
    expect(claimBatch(db, T0 + 1, 300_000)).toMatchObject({ id: 1, inDoubt: true });
  });
});
