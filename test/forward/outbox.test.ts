import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type BatchGroup,
  type BuiltBatch,
  batchInvoices,
  batchXml,
  type ClaimedBatch,
  claimBatch,
  createBatches,
  insertBatches,
  outboxStatus,
  planBatches,
  StaleBatchPlan,
  settleInvoices,
  settlePoll,
  settleSubmit,
  storeReply,
} from "../../src/store/outbox.js";
import { tempDir } from "../support/tmp.js";
import { type Db, deliveryStates, openDbIn, openTestDb, type SeedInvoice, seedInvoices } from "./support/store.js";

const T0 = Date.UTC(2026, 10, 20, 2, 0, 0);

let mtdiepSeq = 0;
/** A stand-in for the real builder (tested in batch.test.ts): the invoices plus `overhead` bytes of envelope. */
function fakeBuild(overhead = 2000): (group: BatchGroup) => BuiltBatch {
  return (group) => {
    mtdiepSeq += 1;
    const mtdiep = `0100000099${mtdiepSeq.toString(16).toUpperCase().padStart(32, "0")}`;
    const env = Buffer.alloc(overhead, 0x20);
    return { mtdiep, xml: Buffer.concat([env, ...group.invoices.map((i) => i.signedXml)]) };
  };
}

let shdonSeq = 0;
function inv(khhdon = "C26MAB", khmshdon = "1", size = 300, createdAt = T0): SeedInvoice {
  shdonSeq += 1;
  return {
    khmshdon,
    khhdon,
    shdon: shdonSeq,
    mccqt: `M${khmshdon}-26-A1B2C-${String(shdonSeq).padStart(11, "0")}`,
    xml: `<HDon>${"x".repeat(Math.max(0, size - 13))}</HDon>`,
    createdAt,
  };
}

function batchRows(
  db: Db,
): { id: number; khhdon: string; khmshdon: string; invoice_count: number; state: string; bytes: number }[] {
  return db
    .prepare("SELECT id, khmshdon, khhdon, invoice_count, state, length(xml) AS bytes FROM batches ORDER BY id")
    .all() as ReturnType<typeof batchRows>;
}

describe("createBatches", () => {
  it("groups by (KHMSHDon, KHHDon), oldest first, and moves the deliveries to batched in the same transaction", () => {
    const db = openDbIn(tempDir());
    const ids = seedInvoices(
      db,
      [inv("C26MAB"), inv("C26MCD"), inv("C26MAB"), inv("C26MAB", "2"), inv("C26MCD"), inv("C26MAB")],
      T0,
    );
    const { batches } = createBatches(db, { now: T0, maxInvoices: 1000, maxBytes: 2_000_000, build: fakeBuild() });
    expect(batches.map((b) => [b.khmshdon, b.khhdon, b.invoiceIds])).toEqual([
      ["1", "C26MAB", [ids[0], ids[2], ids[5]]],
      ["1", "C26MCD", [ids[1], ids[4]]],
      ["2", "C26MAB", [ids[3]]],
    ]);
    const states = deliveryStates(db);
    for (const b of batches)
      for (const id of b.invoiceIds) expect(states.get(id)).toMatchObject({ state: "batched", batchId: b.id });
    expect(batchInvoices(db, batches[0]?.id ?? 0).map((i) => [i.invoiceId, i.position])).toEqual([
      [ids[0], 1],
      [ids[2], 2],
      [ids[5], 3],
    ]);
    // Nothing left to batch.
    expect(createBatches(db, { now: T0, maxInvoices: 1000, maxBytes: 2_000_000, build: fakeBuild() }).batches).toEqual(
      [],
    );
  });

  it("caps a batch at 1000 invoices (addendum §1d)", () => {
    const db = openDbIn(tempDir());
    seedInvoices(
      db,
      Array.from({ length: 2005 }, () => inv("C26MAB", "1", 40)),
      T0,
    );
    const { batches } = createBatches(db, { now: T0, maxInvoices: 1000, maxBytes: 2_000_000, build: fakeBuild() });
    expect(batches.map((b) => b.invoiceIds.length)).toEqual([1000, 1000, 5]);
    expect(() => createBatches(db, { now: T0, maxInvoices: 1001, maxBytes: 2_000_000, build: fakeBuild() })).toThrow(
      RangeError,
    );
  });

  it("keeps every message within 2 MB including the envelope, even when the envelope is bigger than planned", () => {
    const db = openDbIn(tempDir());
    const ids = seedInvoices(
      db,
      Array.from({ length: 45 }, () => inv("C26MAB", "1", 100_000)),
      T0,
    );
    for (const overhead of [2_000, 60_000]) {
      const { batches } = createBatches(db, {
        now: T0,
        maxInvoices: 1000,
        maxBytes: 2_000_000,
        build: fakeBuild(overhead),
        maxBatches: 1,
      });
      expect(batches).toHaveLength(1);
      expect(batches[0]?.bytes).toBeLessThanOrEqual(2_000_000);
      expect(batches[0]?.bytes).toBeGreaterThan(1_800_000);
    }
    createBatches(db, { now: T0, maxInvoices: 1000, maxBytes: 2_000_000, build: fakeBuild() });
    for (const b of batchRows(db)) expect(b.bytes).toBeLessThanOrEqual(2_000_000);
    const states = deliveryStates(db);
    expect(ids.every((id) => states.get(id)?.state === "batched")).toBe(true);
  });

  it("rejects an invoice that alone exceeds the limit, and batches the rest", () => {
    const db = openDbIn(tempDir());
    const [small, huge, other] = seedInvoices(db, [inv(), inv("C26MAB", "1", 2_100_000), inv()], T0);
    const { batches, oversized } = createBatches(db, {
      now: T0,
      maxInvoices: 1000,
      maxBytes: 2_000_000,
      build: fakeBuild(),
    });
    expect(oversized.map((o) => [o.invoiceId, o.accepted])).toEqual([[huge, false]]);
    expect(oversized[0]?.error).toMatch(/quá lớn/);
    expect(batches.flatMap((b) => b.invoiceIds).sort()).toEqual([small, other]);
    expect(deliveryStates(db).get(huge ?? 0)?.state).toBe("rejected");
  });

  it("leaves invoices created after `now` for later", () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, [inv("C26MAB", "1", 300, T0 + 1000)], T0);
    expect(createBatches(db, { now: T0, maxInvoices: 10, maxBytes: 2_000_000, build: fakeBuild() }).batches).toEqual(
      [],
    );
    expect(
      createBatches(db, { now: T0 + 1000, maxInvoices: 10, maxBytes: 2_000_000, build: fakeBuild() }).batches,
    ).toHaveLength(1);
  });

  it("rolls everything back when the builder throws", () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, [inv(), inv("C26MCD")], T0);
    let n = 0;
    const build = (g: BatchGroup): BuiltBatch => {
      if (++n === 2) throw new Error("signer broke");
      return fakeBuild()(g);
    };
    expect(() => createBatches(db, { now: T0, maxInvoices: 10, maxBytes: 2_000_000, build })).toThrow("signer broke");
    expect(batchRows(db)).toEqual([]);
    expect([...deliveryStates(db).values()].every((d) => d.state === "pending")).toBe(true);
  });

  it("plans (reads and builds) without writing; a plan gone stale stores nothing and the next plan batches", () => {
    const db = openDbIn(tempDir());
    const ids = seedInvoices(db, [inv(), inv(), inv("C26MAB", "1", 2_100_000), inv()], T0);
    const opts = { now: T0, maxInvoices: 2, maxBytes: 2_000_000, maxBatches: 1, build: fakeBuild() };
    const plan = planBatches(db, opts);
    expect(plan.batches.map((b) => b.invoiceIds)).toEqual([ids.slice(0, 2)]);
    expect(plan.more).toBe(true);
    expect(batchRows(db)).toEqual([]);
    // Another writer moved one of its invoices meanwhile (here: rejected it by hand).
    db.prepare("UPDATE deliveries SET state = 'rejected' WHERE invoice_id = ?").run(ids[1]);
    expect(() => db.transaction(() => insertBatches(db, plan, T0)).immediate()).toThrow(StaleBatchPlan);
    expect(batchRows(db)).toEqual([]);
    expect(deliveryStates(db).get(ids[0] ?? 0)?.state).toBe("pending");
    // Planned again: the huge one is rejected as oversized; it splits the rest, which keeps the oldest-first order.
    const again = planBatches(db, { ...opts, maxBatches: 8 });
    expect(again.more).toBe(false);
    const stored = db.transaction(() => insertBatches(db, again, T0)).immediate();
    expect(stored.batches.map((b) => b.invoiceIds)).toEqual([[ids[0]], [ids[3]]]);
    expect(stored.oversized.map((o) => o.invoiceId)).toEqual([ids[2]]);
    expect(batchRows(db)).toHaveLength(2);
  });
});

describe("claim, lease and settle", () => {
  it("a crash mid-send: the lease expires, the batch comes back in doubt with the same MTDiep", () => {
    const dir = tempDir();
    let db = openDbIn(dir);
    seedInvoices(db, [inv()], T0);
    const { batches } = createBatches(db, { now: T0, maxInvoices: 10, maxBytes: 2_000_000, build: fakeBuild() });
    const first = claimBatch(db, T0, 1000);
    expect(first).toMatchObject({ id: batches[0]?.id, state: "ready", attempts: 1, inDoubt: false });
    expect(first?.xml?.length).toBeGreaterThan(0);
    // The process dies here, between claim and settle.
    db.close();
    db = openDbIn(dir);
    expect(claimBatch(db, T0 + 999, 1000)).toBeUndefined();
    const again = claimBatch(db, T0 + 1000, 1000);
    expect(again).toMatchObject({ id: first?.id, mtdiep: first?.mtdiep, attempts: 2, inDoubt: true });
    expect(again?.xml?.equals(first?.xml ?? Buffer.alloc(0))).toBe(true);
    // The forwarder reads the bytes after the claim's commit instead: the same bytes.
    const third = claimBatch(db, T0 + 2000, 1000, { readXml: false });
    expect(third).toMatchObject({ id: first?.id, attempts: 3, xml: undefined });
    expect(batchXml(db, third?.id ?? 0).equals(first?.xml ?? Buffer.alloc(0))).toBe(true);
  });

  it("retry → submitted → received → done, attempts appended, rejected invoices named", () => {
    const db = openDbIn(tempDir());
    const ids = seedInvoices(db, [inv(), inv(), inv()], T0);
    createBatches(db, { now: T0, maxInvoices: 10, maxBytes: 2_000_000, build: fakeBuild() });
    const c1 = claimBatch(db, T0, 60_000) as ClaimedBatch;
    const attempt = {
      kind: "submit" as const,
      at: T0,
      outcome: "retry",
      side: "ours" as const,
      detail: "refused",
      durationMs: 3,
    };
    settleSubmit(db, {
      batchId: c1.id,
      now: T0,
      attempts: [attempt],
      result: { kind: "retry", nextAttemptAt: T0 + 500, inDoubt: false, error: "refused" },
    });
    expect(claimBatch(db, T0 + 499, 60_000)).toBeUndefined();
    const c2 = claimBatch(db, T0 + 500, 60_000) as ClaimedBatch;
    expect(c2).toMatchObject({ attempts: 2, inDoubt: false });
    settleSubmit(db, {
      batchId: c2.id,
      now: T0 + 500,
      attempts: [{ ...attempt, outcome: "accepted", side: undefined }],
      result: { kind: "submitted", nextPollAt: T0 + 600 },
    });
    const p1 = claimBatch(db, T0 + 600, 60_000) as ClaimedBatch;
    expect(p1).toMatchObject({ state: "submitted", xml: undefined, attempts: 2 });
    expect(
      storeReply(db, p1.id, { mltdiep: "999", replyMtdiep: "TCT1", raw: Buffer.from("<TDiep/>"), parsed: {} }, T0),
    ).toBe(true);
    expect(
      storeReply(db, p1.id, { mltdiep: "999", replyMtdiep: "TCT1", raw: Buffer.from("<TDiep/>"), parsed: {} }, T0),
    ).toBe(false);
    settlePoll(db, { batchId: p1.id, now: T0 + 600, attempts: [], state: "received", nextPollAt: T0 + 700 });
    const p2 = claimBatch(db, T0 + 700, 60_000) as ClaimedBatch;
    expect(p2.state).toBe("received");
    const settled = settleInvoices(db, {
      batchId: p2.id,
      now: T0 + 700,
      state: "done",
      rejected: new Map([[ids[1] ?? 0, "H105: sai"]]),
    });
    expect(settled.map((s) => [s.invoiceId, s.accepted, s.error])).toEqual([
      [ids[0], true, undefined],
      [ids[1], false, "H105: sai"],
      [ids[2], true, undefined],
    ]);
    expect(claimBatch(db, T0 + 10_000_000, 60_000)).toBeUndefined();
    const status = outboxStatus(db);
    expect(status).toMatchObject({ backlog: 0, accepted: 2, rejected: 1, oldestUnsent: undefined });
    expect(status.lastAccepted?.invoiceId).toBe(ids[2]);
    expect(status.batchesByState.done).toBe(1);
    expect((db.prepare("SELECT count(*) AS n FROM attempts").get() as { n: number }).n).toBe(2);
  });

  it("a failed submit rejects every invoice of the batch with the reason", () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, [inv(), inv()], T0);
    createBatches(db, { now: T0, maxInvoices: 10, maxBytes: 2_000_000, build: fakeBuild() });
    const c = claimBatch(db, T0, 1000) as ClaimedBatch;
    const settled = settleSubmit(db, {
      batchId: c.id,
      now: T0,
      attempts: [],
      result: { kind: "failed", reason: "HTTP 400: sai" },
    });
    expect(settled.map((s) => s.error)).toEqual(["HTTP 400: sai", "HTTP 400: sai"]);
    expect(batchRows(db)[0]?.state).toBe("failed");
  });

  it("reports backlog, the oldest unsent invoice with its deadline, and batch counts", () => {
    const db = openDbIn(tempDir());
    const [a] = seedInvoices(db, [inv(), inv()], T0);
    expect(outboxStatus(db)).toMatchObject({
      backlog: 2,
      pending: 2,
      oldestUnsent: { invoiceId: a, createdAt: T0, deadlineAt: T0 + 86_400_000 },
    });
    createBatches(db, { now: T0, maxInvoices: 10, maxBytes: 2_000_000, build: fakeBuild() });
    expect(outboxStatus(db)).toMatchObject({
      backlog: 2,
      batched: 2,
      oldestUnsent: { invoiceId: a },
      batchesByState: { ready: 1 },
    });
  });
});

describe("append-only and fixed columns (triggers)", () => {
  function withBatch(): { db: Db; batchId: number } {
    const db = openDbIn(tempDir());
    seedInvoices(db, [inv()], T0);
    const { batches } = createBatches(db, { now: T0, maxInvoices: 10, maxBytes: 2_000_000, build: fakeBuild() });
    const batchId = batches[0]?.id ?? 0;
    const c = claimBatch(db, T0, 1000) as ClaimedBatch;
    settleSubmit(db, {
      batchId: c.id,
      now: T0,
      attempts: [{ kind: "submit", at: T0, outcome: "accepted", detail: "", durationMs: 1 }],
      result: { kind: "submitted", nextPollAt: T0 },
    });
    storeReply(db, batchId, { mltdiep: "999", replyMtdiep: "TCTX", raw: Buffer.from("x"), parsed: {} }, T0);
    return { db, batchId };
  }

  it("refuses UPDATE and DELETE on attempts and replies", () => {
    const { db } = withBatch();
    expect(() => db.exec("UPDATE attempts SET outcome = 'x'")).toThrow(/append-only/);
    expect(() => db.exec("DELETE FROM attempts")).toThrow(/append-only/);
    expect(() => db.exec("UPDATE replies SET raw = x'00'")).toThrow(/append-only/);
    expect(() => db.exec("DELETE FROM replies")).toThrow(/append-only/);
  });

  it("refuses changing a batch's MTDiep or bytes, deleting it, or moving its state back", () => {
    const { db, batchId } = withBatch();
    expect(() => db.prepare("UPDATE batches SET xml = ? WHERE id = ?").run(Buffer.from("other"), batchId)).toThrow(
      /MTDiep and bytes/,
    );
    expect(() => db.prepare("UPDATE batches SET mtdiep = 'X' WHERE id = ?").run(batchId)).toThrow(/MTDiep and bytes/);
    expect(() => db.prepare("DELETE FROM batches WHERE id = ?").run(batchId)).toThrow(/never deleted/);
    expect(() => db.prepare("UPDATE batches SET state = 'ready' WHERE id = ?").run(batchId)).toThrow(/forward/);
    db.prepare("UPDATE batches SET state = 'failed' WHERE id = ?").run(batchId);
    expect(() => db.prepare("UPDATE batches SET state = 'done' WHERE id = ?").run(batchId)).toThrow(/forward/);
    // Same bytes written again is not a change.
    expect(() =>
      db.prepare("UPDATE batches SET xml = xml, next_attempt_at = 1 WHERE id = ?").run(batchId),
    ).not.toThrow();
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Model test: random create / claim / settle / crash / time sequences keep the outbox's promises.

interface Real {
  db: Db;
  readonly file: string;
  now: number;
  /** Claims held by the (simulated) process; a crash forgets them. */
  claims: ClaimedBatch[];
}
interface Model {
  seeded: number;
  /** Last seen rank per delivery / batch, to check that states only move forward. */
  deliveryRank: Map<number, number>;
  batchRank: Map<number, number>;
  rows: { attempts: number; replies: number; batches: number };
}

const D_RANK: Record<string, number> = { pending: 0, batched: 1, accepted: 2, rejected: 2 };
const B_RANK: Record<string, number> = { ready: 0, submitted: 1, received: 2, done: 3, failed: 3 };
const LEASE = 100;
const SYMBOLS = [
  ["1", "C26MAB"],
  ["1", "C26MCD"],
  ["2", "C26MAB"],
] as const;

function checkInvariants(m: Model, r: Real): void {
  const { db } = r;
  const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;
  // No invoice lost: one delivery per invoice, all invoices present.
  expect(count("SELECT count(*) AS n FROM invoices")).toBe(m.seeded);
  expect(count("SELECT count(*) AS n FROM deliveries")).toBe(m.seeded);
  // None in two batches: each batch holds exactly its invoice_count deliveries, of one form and symbol.
  const batches = db.prepare("SELECT id, state, invoice_count, khmshdon, khhdon FROM batches").all() as {
    id: number;
    state: string;
    invoice_count: number;
    khmshdon: string;
    khhdon: string;
  }[];
  for (const b of batches) {
    const members = db
      .prepare(
        "SELECT d.state, i.khmshdon, i.khhdon FROM deliveries d JOIN invoices i ON i.id = d.invoice_id WHERE d.batch_id = ?",
      )
      .all(b.id) as { state: string; khmshdon: string; khhdon: string }[];
    expect(members.length).toBe(b.invoice_count);
    for (const x of members) expect([x.khmshdon, x.khhdon]).toEqual([b.khmshdon, b.khhdon]);
    const open = members.filter((x) => x.state === "batched").length;
    // A final batch has settled every invoice; an open one has settled none.
    expect(open).toBe(b.state === "done" || b.state === "failed" ? 0 : b.invoice_count);
  }
  expect(count("SELECT count(*) AS n FROM deliveries WHERE state = 'pending' AND batch_id IS NOT NULL")).toBe(0);
  // States only move forward; rows are never deleted.
  for (const d of db.prepare("SELECT invoice_id AS id, state FROM deliveries").all() as {
    id: number;
    state: string;
  }[]) {
    const before = m.deliveryRank.get(d.id) ?? 0;
    const now = D_RANK[d.state] as number;
    expect(now).toBeGreaterThanOrEqual(before);
    m.deliveryRank.set(d.id, now);
  }
  for (const b of batches) {
    const now = B_RANK[b.state] as number;
    expect(now).toBeGreaterThanOrEqual(m.batchRank.get(b.id) ?? 0);
    m.batchRank.set(b.id, now);
  }
  const rows = {
    attempts: count("SELECT count(*) AS n FROM attempts"),
    replies: count("SELECT count(*) AS n FROM replies"),
    batches: batches.length,
  };
  expect(rows.attempts).toBeGreaterThanOrEqual(m.rows.attempts);
  expect(rows.replies).toBeGreaterThanOrEqual(m.rows.replies);
  expect(rows.batches).toBeGreaterThanOrEqual(m.rows.batches);
  m.rows = rows;
}

type Cmd = fc.Command<Model, Real>;
const cmd = (
  name: string,
  run: (m: Model, r: Real) => void,
  check: (m: Readonly<Model>) => boolean = () => true,
): Cmd => ({
  check,
  run: (m, r) => {
    run(m, r);
    checkInvariants(m, r);
  },
  toString: () => name,
});

const attempt = (r: Real): { kind: "submit"; at: number; outcome: string; detail: string; durationMs: number } => ({
  kind: "submit",
  at: r.now,
  outcome: "x",
  detail: "",
  durationMs: 1,
});

const commands = [
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 2 })).map(([k, s]) =>
    cmd(`enqueue(${k}, ${s})`, (m, r) => {
      const [khmshdon, khhdon] = SYMBOLS[s] as (typeof SYMBOLS)[number];
      seedInvoices(
        r.db,
        Array.from({ length: k }, () => inv(khhdon, khmshdon, 200, r.now)),
        r.now,
      );
      m.seeded += k;
    }),
  ),
  fc.integer({ min: 1, max: 3 }).map((max) =>
    cmd(`batch(${max})`, (_m, r) => {
      createBatches(r.db, { now: r.now, maxInvoices: max, maxBytes: 2_000_000, build: fakeBuild(), maxBatches: 2 });
    }),
  ),
  fc.constant(
    cmd("claim", (_m, r) => {
      const c = claimBatch(r.db, r.now, LEASE);
      if (c) {
        r.claims = r.claims.filter((x) => x.id !== c.id);
        r.claims.push(c);
      }
    }),
  ),
  fc.constantFrom("submitted", "retry", "retry-doubt", "failed").map((how) =>
    cmd(`settleSubmit(${how})`, (_m, r) => {
      const c = r.claims.find((x) => x.state === "ready");
      if (!c) return;
      r.claims = r.claims.filter((x) => x !== c);
      const result =
        how === "submitted"
          ? { kind: "submitted" as const, nextPollAt: r.now + 10 }
          : how === "failed"
            ? { kind: "failed" as const, reason: "HTTP 400" }
            : { kind: "retry" as const, nextAttemptAt: r.now + 20, inDoubt: how === "retry-doubt", error: "e" };
      settleSubmit(r.db, { batchId: c.id, now: r.now, attempts: [attempt(r)], result });
    }),
  ),
  fc.tuple(fc.constantFrom("received", "done", "failed"), fc.integer({ min: 0, max: 7 })).map(([how, mask]) =>
    cmd(`settleReplies(${how}, ${mask})`, (_m, r) => {
      const c = r.claims.find((x) => x.state !== "ready");
      if (!c) return;
      r.claims = r.claims.filter((x) => x !== c);
      storeReply(
        r.db,
        c.id,
        { mltdiep: "999", replyMtdiep: `TCT-${c.id}`, raw: Buffer.from("<TDiep/>"), parsed: {} },
        r.now,
      );
      if (how === "received") {
        settlePoll(r.db, { batchId: c.id, now: r.now, attempts: [], state: "received", nextPollAt: r.now + 10 });
        return;
      }
      const invoices = batchInvoices(r.db, c.id);
      const rejected = new Map(
        invoices.filter((_, i) => how === "failed" || (mask >> i) % 2 === 1).map((i) => [i.invoiceId, "sai"] as const),
      );
      settleInvoices(r.db, { batchId: c.id, now: r.now, state: how === "failed" ? "failed" : "done", rejected });
    }),
  ),
  fc.integer({ min: 1, max: 150 }).map((ms) =>
    cmd(`advance(${ms})`, (_m, r) => {
      r.now += ms;
    }),
  ),
  fc.constant(
    cmd("crash", (_m, r) => {
      r.claims = [];
      r.db.close();
      r.db = openTestDb(r.file);
    }),
  ),
];

/** After any history: with time passing and the authority answering, every invoice ends accepted or rejected. */
function drain(r: Real): void {
  r.claims = [];
  for (let i = 0; i < 10_000; i++) {
    createBatches(r.db, { now: r.now, maxInvoices: 3, maxBytes: 2_000_000, build: fakeBuild() });
    const c = claimBatch(r.db, r.now, LEASE);
    if (!c) {
      const open = (
        r.db.prepare("SELECT count(*) AS n FROM deliveries WHERE state IN ('pending', 'batched')").get() as {
          n: number;
        }
      ).n;
      if (open === 0) return;
      r.now += LEASE;
      continue;
    }
    if (c.state === "ready")
      settleSubmit(r.db, {
        batchId: c.id,
        now: r.now,
        attempts: [attempt(r)],
        result: { kind: "submitted", nextPollAt: r.now },
      });
    else settleInvoices(r.db, { batchId: c.id, now: r.now, state: "done", rejected: new Map() });
  }
  throw new Error("the outbox did not drain");
}

describe("outbox model", () => {
  it("no invoice lost, none in two batches, states only move forward, rows never deleted, all drain", () => {
    const dir = tempDir();
    let run = 0;
    fc.assert(
      fc.property(fc.commands(commands, { maxCommands: 60 }), (cmds) => {
        run += 1;
        const file = join(dir, `model-${run}.db`);
        const real: Real = { db: openTestDb(file), file, now: T0, claims: [] };
        const model: Model = {
          seeded: 0,
          deliveryRank: new Map(),
          batchRank: new Map(),
          rows: { attempts: 0, replies: 0, batches: 0 },
        };
        try {
          fc.modelRun(() => ({ model, real }), cmds);
          drain(real);
          checkInvariants(model, real);
          const left = real.db
            .prepare("SELECT count(*) AS n FROM deliveries WHERE state NOT IN ('accepted', 'rejected')")
            .get() as { n: number };
          expect(left.n).toBe(0);
        } finally {
          real.db.close();
        }
      }),
      { numRuns: 60 },
    );
  });
});
