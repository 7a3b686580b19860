import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  AUDIT_OUTAGES_USAGE,
  auditOutagesCommand,
  formatOutageReport,
  parseAuditTime,
} from "../../src/commands/audit-outages.js";
import { outageReport } from "../../src/forward/outages.js";
import { vnEndOfDay } from "../../src/shared/clock.js";
import { type AttemptRecord, recordAttempt } from "../../src/store/outbox.js";
import { tempDir } from "../support/tmp.js";
import { makeInvoices } from "./support/invoices.js";
import { type Db, openTestDb, seedInvoices } from "./support/store.js";

const H = 3_600_000;
const T0 = Date.UTC(2026, 10, 20, 1, 0, 0); // 08:00 Vietnam time, 2026-11-20
const END_OF_DAY = vnEndOfDay(T0);
const TVAN = "https://tvan.example.vn";

function attempt(at: number, extra: Partial<AttemptRecord> = {}): AttemptRecord {
  return {
    kind: "submit",
    at,
    outcome: "retry",
    side: "ours",
    failure: "refused",
    detail: "không kết nối được tới T-VAN: connect ECONNREFUSED",
    durationMs: 3,
    endpoint: `${TVAN}/v1/messages`,
    ...extra,
  };
}
const ok = (at: number, kind: AttemptRecord["kind"] = "submit", batch = 1): [number, AttemptRecord] => [
  batch,
  attempt(at, {
    kind,
    outcome: kind === "submit" ? "accepted" : "replies",
    side: undefined,
    failure: undefined,
    httpStatus: 202,
  }),
];

/** A store with `n` invoices made at `madeAt`, one batch holding them, taken by the T-VAN at `sentAt`. */
function store(n: number, madeAt: number[], sentAt: number | undefined): { db: Db; file: string } {
  const file = join(tempDir(), "hoadon.db");
  const db = openTestDb(file);
  seedInvoices(
    db,
    makeInvoices(n, 1).map((inv, i) => ({
      ...inv,
      createdAt: madeAt[i] ?? T0,
      deadlineAt: vnEndOfDay(madeAt[i] ?? T0),
    })),
  );
  db.prepare(
    `INSERT INTO batches (mtdiep, khmshdon, khhdon, invoice_count, xml, created_at, state, next_attempt_at, updated_at, submitted_at)
     VALUES (?, '1', 'C26MAB', ?, x'00', ?, ?, ?, ?, ?)`,
  ).run(`0100000099${"A".repeat(32)}`, n, T0, sentAt === undefined ? "ready" : "submitted", T0, T0, sentAt ?? null);
  db.prepare("UPDATE deliveries SET state = 'batched', batch_id = 1").run();
  return { db, file };
}

function add(db: Db, rows: [number | null, AttemptRecord][]): void {
  for (const [batch, a] of rows) recordAttempt(db, batch, a);
}

describe("outageReport", () => {
  it("turns failed attempts into one outage per host and side, ended by the first call that works", () => {
    // Down from 20:00 to 01:30 next day: the invoices of the 20th go out after their deadline.
    const down = T0 + 12 * H;
    const back = T0 + 17.5 * H;
    const { db } = store(3, [T0, T0 + 11 * H, T0 + 13 * H], back);
    add(db, [
      [1, attempt(down)],
      [1, attempt(down + H, { failure: "dns", detail: "không phân giải được tên máy chủ" })],
      [1, attempt(down + 2 * H, { side: "theirs", failure: undefined, httpStatus: 503, detail: "lỗi phía T-VAN" })],
      [1, attempt(down + 3 * H)],
      ok(back),
      ok(back + 60_000, "poll"),
    ]);
    const r = outageReport(db, { now: back + H });
    expect(r.outages.map((o) => [o.side, o.start, o.end, o.attempts, o.codes])).toEqual([
      [
        "ours",
        down,
        back,
        3,
        [
          { code: "refused", count: 2 },
          { code: "dns", count: 1 },
        ],
      ],
      ["theirs", down + 2 * H, back, 1, [{ code: "HTTP 503", count: 1 }]],
    ]);
    const ours = r.outages[0];
    expect(ours).toMatchObject({ n: 1, kind: "call", endpoint: TVAN, paths: ["/v1/messages"], batchIds: [1] });
    // Made before the recovery and not yet taken when it began: all three; the first two were due at midnight.
    expect(ours?.invoices.map((i) => [i.invoiceId, i.late, i.sentAt])).toEqual([
      [1, true, back],
      [2, true, back],
      [3, true, back],
    ]);
    expect(ours?.late).toBe(3);
    expect(back).toBeGreaterThan(END_OF_DAY);
  });

  it("an outage still going ends 'now'; unsent invoices past their deadline count as late", () => {
    const { db } = store(2, [T0, T0], undefined);
    add(db, [
      [1, attempt(T0 + H)],
      [1, attempt(T0 + 20 * H)],
    ]);
    const now = T0 + 30 * H;
    const [o] = outageReport(db, { now }).outages;
    expect(o).toMatchObject({ end: undefined, durationMs: 29 * H, late: 2 });
    expect(o?.invoices.every((i) => i.sentAt === undefined && i.state === "batched")).toBe(true);
  });

  it("keeps only outages overlapping --from/--to, and reads a store written before migration 003", () => {
    const { db } = store(1, [T0], T0 + 10 * H);
    add(db, [[1, attempt(T0 + H)], ok(T0 + 2 * H), [1, attempt(T0 + 5 * H)], ok(T0 + 10 * H)]);
    const now = T0 + 11 * H;
    expect(outageReport(db, { now }).outages).toHaveLength(2);
    expect(outageReport(db, { now, from: T0 + 3 * H }).outages.map((o) => o.start)).toEqual([T0 + 5 * H]);
    expect(outageReport(db, { now, to: T0 + 3 * H }).outages.map((o) => o.start)).toEqual([T0 + H]);

    const old = openTestDb(join(tempDir(), "old.db"), 2);
    seedInvoices(old, makeInvoices(1, 1), T0);
    old
      .prepare(
        `INSERT INTO attempts (batch_id, at, kind, outcome, http_status, side, detail, duration_ms)
         VALUES (NULL, ?, 'login', 'retry', NULL, 'ours', 'không kết nối được', 1)`,
      )
      .run(T0 + H);
    expect(outageReport(old, { now: T0 + 2 * H }).outages).toEqual([
      expect.objectContaining({ endpoint: "(không rõ / unknown)", codes: [{ code: "retry", count: 1 }] }),
    ]);
  });
});

describe("hoadon audit outages", () => {
  it("prints the report in Vietnamese first, or as JSON", async () => {
    const { db, file } = store(1, [T0], T0 + 3 * H);
    add(db, [[1, attempt(T0 + H)], ok(T0 + 3 * H)]);
    db.close();
    const out: string[] = [];
    const ctx = { lang: "vi" as const, out: (l: string) => out.push(l), err: () => {} };
    expect(await auditOutagesCommand({ db: file }, [], ctx, () => T0 + 4 * H)).toBe(0);
    const text = out.join("\n");
    expect(text).toContain("Sự cố gửi hóa đơn / delivery outages (toàn bộ / all time");
    expect(text).toContain("#1 gọi T-VAN thất bại / calls failed — phía cửa hàng");
    expect(text).toContain(
      "từ / from 2026-11-20T09:00:00 đến / to 2026-11-20T11:00:00 (khôi phục / recovered) — 2 giờ 0 phút",
    );
    expect(text).toContain("mã / codes: refused ×1");
    expect(text).toContain(
      "hóa đơn bị ảnh hưởng / invoices affected: 1 (M1-26-A1B2C-00000000001 … M1-26-A1B2C-00000000001) · trễ hạn / late: 0",
    );
    out.length = 0;
    await auditOutagesCommand({ db: file, json: true, from: "2026-11-20", to: "2026-11-20" }, [], ctx, () => T0);
    const json = JSON.parse(out.join("\n"));
    expect(json).toMatchObject({ from: END_OF_DAY - 86_400_000, to: END_OF_DAY - 1, outages: [{ side: "ours" }] });
  });

  it("refuses bad dates and a missing --db with a usage error", async () => {
    const ctx = { lang: "vi" as const, out: () => {}, err: () => {} };
    await expect(auditOutagesCommand({}, [], ctx)).rejects.toMatchObject({ code: "USAGE" });
    expect(() => parseAuditTime("2026-13-01", "from", false)).toThrow(/YYYY-MM-DD/);
    expect(() => parseAuditTime("2026-11-20T10:00", "from", false)).toThrow(/USAGE|ISO/);
    expect(parseAuditTime("2026-11-20T10:00:00+07:00", "to", true)).toBe(Date.UTC(2026, 10, 20, 3));
    expect(AUDIT_OUTAGES_USAGE).toMatch(/^hoadon audit outages --db FILE/);
    expect(formatOutageReport({ from: undefined, to: undefined, now: 0, outages: [], resultsOverdue: [] }).at(-1)).toBe(
      "Không có sự cố nào / no outages.",
    );
  });
});

describe("outage windows by side", () => {
  it("a T-VAN whose intake fails while its polls work: the outage on its side lasts until a submit works", () => {
    const { db } = store(1, [T0], T0 + 4 * H);
    const fiveOhThree = { side: "theirs" as const, failure: undefined, httpStatus: 503, detail: "lỗi phía T-VAN" };
    add(db, [
      [1, attempt(T0 + H, fiveOhThree)],
      // Another batch's poll works, on another path.
      [null, { ...(ok(T0 + 2 * H, "poll")[1] as AttemptRecord), endpoint: `${TVAN}/v1/messages/{MTDiep}/replies` }],
      [1, attempt(T0 + 3 * H, fiveOhThree)],
      ok(T0 + 4 * H),
    ]);
    const outages = outageReport(db, { now: T0 + 5 * H }).outages;
    expect(outages.map((o) => [o.side, o.start, o.end, o.attempts])).toEqual([["theirs", T0 + H, T0 + 4 * H, 2]]);
  });
});
