/**
 * The give-up alarm (issue 5): the T-VAN took a batch, its result (204) never comes. After the reply deadline the
 * forwarder writes one `result-overdue` event per batch (also after a restart), logs an error, `hoadon status` and
 * `hoadon audit outages` show it, and the forwarder keeps asking: the invoices stay in their batch, never dropped.
 * Real sandbox on loopback that never sends a 204 and drops some answers; the time is a manual clock.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { formatOutageReport } from "../../src/commands/audit-outages.js";
import { formatResultsOverdue } from "../../src/forward/deadline.js";
import { type ForwarderEvent, startForwarder } from "../../src/forward/forwarder.js";
import { createHttpXmlGateway } from "../../src/forward/gateway.js";
import { outageReport } from "../../src/forward/outages.js";
import { parseFaults, startSandbox } from "../../src/sandbox/index.js";
import { manualClock } from "../../src/shared/clock.js";
import { createLogger } from "../../src/shared/log.js";
import { outboxStatus, RESULT_OVERDUE } from "../../src/store/outbox.js";
import { tempDir } from "../support/tmp.js";
import { makeInvoices, makeTestSigner, TEST_ENVELOPE } from "./support/invoices.js";
import { attemptRows, type Db, deliveryStates, openDbIn, seedInvoices } from "./support/store.js";

const envelope = TEST_ENVELOPE;
const seller = makeTestSigner();
const credentials = { username: "shop", password: "s3cret" };
const T0 = Date.UTC(2026, 10, 20, 2, 0, 0); // 09:00 in Vietnam
const DEADLINE = 10 * 60_000;
const WAIT = { timeout: 20_000, interval: 20 };

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

function alarms(db: Db): { at: number; detail: { batchId: number; mtdiep: string; deadlineMs: number } }[] {
  return (
    db.prepare("SELECT at, detail FROM events WHERE kind = ? ORDER BY id").all(RESULT_OVERDUE) as {
      at: number;
      detail: string;
    }[]
  ).map((r) => ({ at: r.at, detail: JSON.parse(r.detail) }));
}

describe("give-up alarm: a result (204) that never comes", () => {
  it("raises one alarm per batch after the deadline, shows it, and keeps asking without dropping anything", {
    timeout: 60_000,
  }, async () => {
    const clock = manualClock(T0);
    const db = openDbIn(tempDir());
    // The sandbox never sends a 204 and drops a third of its answers after processing them.
    const sb = await startSandbox({
      credentials,
      replyDelayMs: 0,
      clock,
      faults: parseFaults("no204=1,replies.drop=0.3,seed=5"),
    });
    stops.push(() => sb.close());
    seedInvoices(db, makeInvoices(3, 1), T0);

    const logged: { level: number; msg: string; batch?: number }[] = [];
    const log = createLogger({ level: "warn" }, { write: (line: string) => logged.push(JSON.parse(line)) });
    const events: ForwarderEvent[] = [];
    const start = (): void => {
      const stop = new AbortController();
      const fw = startForwarder({
        db,
        gateway: createHttpXmlGateway({ baseUrl: sb.url, ...credentials, clock, timeoutMs: 2000, signal: stop.signal }),
        signer: seller.signer,
        envelope,
        limits: { maxInvoices: 2 },
        clock,
        log,
        signal: stop.signal,
        pollIntervalMs: 20,
        retry: { minDelayMs: 10, maxDelayMs: 40 },
        replyDeadlineMs: DEADLINE,
        onEvent: (e) => events.push(e),
      });
      stops.push(async () => {
        stop.abort();
        await fw.stopped;
      });
    };
    /** Moves the manual clock on in small steps until `check` passes (the forwarder's waits follow it). */
    const advanceUntil = async (stepMs: number, check: () => void): Promise<void> => {
      await vi.waitFor(() => {
        clock.advance(stepMs);
        check();
      }, WAIT);
    };
    start();

    // Both batches are taken and get their 999; no result, and no alarm before the deadline.
    await advanceUntil(1000, () => expect(outboxStatus(db, clock.now()).batchesByState.received).toBe(2));
    expect(alarms(db)).toEqual([]);
    expect(outboxStatus(db, clock.now()).resultsOverdue).toEqual({ batches: 0, invoices: 0, oldest: undefined });
    const takenAt = new Map(
      (db.prepare("SELECT id, submitted_at FROM batches").all() as { id: number; submitted_at: number }[]).map((b) => [
        b.id,
        b.submitted_at,
      ]),
    );

    // Past the deadline: one alarm per batch, an error in the log, an event for the listener.
    await advanceUntil(30_000, () => expect(alarms(db)).toHaveLength(2));
    const raised = alarms(db);
    expect(raised.map((a) => a.detail.batchId).sort()).toEqual([1, 2]);
    for (const a of raised) {
      expect(a.detail.deadlineMs).toBe(DEADLINE);
      expect(a.at - (takenAt.get(a.detail.batchId) ?? 0)).toBeGreaterThan(DEADLINE);
    }
    expect(logged.filter((l) => l.level === 50 && /result overdue/.test(l.msg))).toHaveLength(2);
    expect(events.filter((e) => e.type === "result-overdue")).toHaveLength(2);

    // It keeps asking, and asking again changes nothing: still one alarm per batch, the invoices still in their batch.
    const polls = attemptRows(db).filter((r) => r.kind === "poll").length;
    await advanceUntil(30_000, () =>
      expect(attemptRows(db).filter((r) => r.kind === "poll").length).toBeGreaterThan(polls + 10),
    );
    expect(alarms(db)).toHaveLength(2);
    expect([...deliveryStates(db).values()].map((d) => d.state)).toEqual(["batched", "batched", "batched"]);

    // A restart (a new forwarder on the same store) does not raise them again.
    await stops.pop()?.();
    start();
    const before = attemptRows(db).length;
    await advanceUntil(30_000, () => expect(attemptRows(db).length).toBeGreaterThan(before + 6));
    expect(alarms(db)).toHaveLength(2);
    // Some polls lost their answer on the way (and were asked again); none of it sent anything twice.
    expect(sb.stats().faults.drop).toBeGreaterThan(0);
    expect(sb.stats()).toMatchObject({ duplicates: 0 });

    // `hoadon status`: the count and the oldest; `hoadon audit outages`: every alarm.
    const status = outboxStatus(db, clock.now()).resultsOverdue;
    expect(status).toMatchObject({ batches: 2, invoices: 3, oldest: { batchId: 1, state: "received" } });
    const lines = formatResultsOverdue(status, clock.now());
    expect(lines[0]).toMatch(/^CHƯA CÓ KẾT QUẢ \/ RESULT OVERDUE: 2 lô \(3 hóa đơn\)/);
    expect(lines[1]).toContain(status.oldest?.mtdiep);
    const report = outageReport(db, { now: clock.now() });
    expect(report.resultsOverdue.map((r) => [r.batchId, r.invoices, r.resultAt])).toEqual([
      [1, 2, undefined],
      [2, 1, undefined],
    ]);
    const text = formatOutageReport(report).join("\n");
    expect(text).toContain("batches whose result (204) was overdue");
    expect(text).toContain("still no result, still asking");
    expect(report.outages).toEqual(
      expect.arrayContaining([expect.objectContaining({ kind: "result", side: "theirs", end: undefined })]),
    );
  });

  it("a result that comes after the alarm ends it: status no longer counts it, the report says when it came", {
    timeout: 60_000,
  }, async () => {
    const clock = manualClock(T0);
    const db = openDbIn(tempDir());
    // The 204 is due 20 minutes after receipt: after the 10-minute deadline.
    const sb = await startSandbox({ credentials, replyDelayMs: 20 * 60_000, clock });
    stops.push(() => sb.close());
    seedInvoices(db, makeInvoices(1, 1), T0);
    const stop = new AbortController();
    const fw = startForwarder({
      db,
      gateway: createHttpXmlGateway({ baseUrl: sb.url, ...credentials, clock, signal: stop.signal }),
      signer: seller.signer,
      envelope,
      clock,
      log: createLogger({ level: "silent" }),
      signal: stop.signal,
      pollIntervalMs: 20,
      retry: { minDelayMs: 10, maxDelayMs: 40 },
      replyDeadlineMs: DEADLINE,
    });
    stops.push(async () => {
      stop.abort();
      await fw.stopped;
    });
    await vi.waitFor(() => {
      clock.advance(30_000);
      expect(alarms(db)).toHaveLength(1);
    }, WAIT);
    expect(outboxStatus(db, clock.now()).resultsOverdue.batches).toBe(1);
    await vi.waitFor(() => {
      clock.advance(30_000);
      expect(outboxStatus(db, clock.now()).accepted).toBe(1);
    }, WAIT);
    expect(outboxStatus(db, clock.now()).resultsOverdue).toEqual({ batches: 0, invoices: 0, oldest: undefined });
    const [alarm] = outageReport(db, { now: clock.now() }).resultsOverdue;
    expect(alarm).toMatchObject({ batchId: 1, state: "done" });
    expect(alarm?.resultAt).toBeGreaterThan(alarm?.raisedAt ?? Number.POSITIVE_INFINITY);
    expect(formatOutageReport(outageReport(db, { now: clock.now() })).join("\n")).toContain("xong / done");
  });
});
