/**
 * Issue 5, proof "outage": a week of sales queued while the authority's sandbox is down reaches it, oldest first,
 * when it comes back; nothing is sent twice; and the outage report shows one outage on our side covering every
 * invoice, with the late ones named. Time is a manual clock moved by the test (a week in well under a minute);
 * the sandbox and the forwarder are real (HTTP on loopback, the real store).
 */
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { EnvelopeConfig } from "../../src/forward/batch.js";
import { startForwarder } from "../../src/forward/forwarder.js";
import { createHttpXmlGateway } from "../../src/forward/gateway.js";
import { outageReport } from "../../src/forward/outages.js";
import { type Sandbox, startSandbox } from "../../src/sandbox/index.js";
import { manualClock, vnDate, vnEndOfDay } from "../../src/shared/clock.js";
import { silentLogger } from "../../src/shared/log.js";
import { openStore } from "../../src/store/db.js";
import { outboxStatus } from "../../src/store/outbox.js";
import { makeInvoices, makeTestSigner } from "../forward/support/invoices.js";
import { seedInvoices } from "../forward/support/store.js";
import { freePort } from "../support/net.js";
import { tempDir } from "../support/tmp.js";

const envelope: EnvelopeConfig = {
  pban: "2.1.1",
  mngui: "0100000099",
  mnnhan: "TCT",
  mst: "0100000001",
  invoiceSignatures: "keep",
};
const seller = makeTestSigner();
const credentials = { username: "shop", password: "s3cret" };
const H = 3_600_000;
/** Monday 2026-11-16, 00:00 in Vietnam. */
const MONDAY = Date.UTC(2026, 10, 15, 17, 0, 0);
const SALE_HOURS = [9, 12, 15, 19];
const PER_SALE_HOUR = 5;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("a week-long outage", () => {
  it("queues a week of sales while the sandbox is down and delivers them oldest first when it returns", {
    timeout: 120_000,
  }, async () => {
    const clock = manualClock(MONDAY + 8 * H);
    const port = await freePort(); // nothing listens: the sandbox is down
    const db = openStore(join(tempDir(), "hoadon.sqlite"));
    cleanups.push(() => {
      db.close();
    });
    const stop = new AbortController();
    const fw = startForwarder({
      db,
      gateway: createHttpXmlGateway({
        baseUrl: `http://127.0.0.1:${port}`,
        ...credentials,
        clock,
        timeoutMs: 2000,
        signal: stop.signal,
      }),
      signer: seller.signer,
      envelope,
      clock,
      log: silentLogger,
      signal: stop.signal,
      pollIntervalMs: 30_000,
      retry: { minDelayMs: 2000, maxDelayMs: 10 * 60_000 },
    });
    cleanups.push(async () => {
      stop.abort();
      await fw.stopped;
    });
    const attempts = (): number => (db.prepare("SELECT count(*) AS n FROM attempts").get() as { n: number }).n;

    // Seven days of sales, four times a day; at each, the forwarder tries (and fails) to send.
    let shdon = 1;
    const overdueSeen: number[] = [];
    for (let day = 0; day < 7; day++) {
      for (const hour of SALE_HOURS) {
        clock.set(MONDAY + day * 24 * H + hour * H);
        const madeAt = clock.now();
        const invoices = makeInvoices(PER_SALE_HOUR, shdon, { signer: seller.signer, now: madeAt }).map((inv) => ({
          ...inv,
          createdAt: madeAt,
          deadlineAt: vnEndOfDay(madeAt),
          nlap: vnDate(madeAt),
        }));
        shdon += PER_SALE_HOUR;
        seedInvoices(db, invoices);
        const before = attempts();
        fw.kick();
        await vi.waitFor(() => expect(attempts()).toBeGreaterThan(before), { timeout: 10_000, interval: 10 });
      }
      overdueSeen.push(outboxStatus(db, clock.now()).deadline.overdue);
    }
    const total = 7 * SALE_HOURS.length * PER_SALE_HOUR;
    expect(outboxStatus(db, clock.now())).toMatchObject({ backlog: total, accepted: 0 });
    // Each evening more of the week is overdue: every day before today.
    expect(overdueSeen).toEqual([0, 1, 2, 3, 4, 5, 6].map((d) => d * SALE_HOURS.length * PER_SALE_HOUR));
    const failures = db.prepare("SELECT DISTINCT side, failure, batch_id FROM attempts").all();
    expect(failures).toEqual([{ side: "ours", failure: "refused", batch_id: 1 }]); // only the oldest is tried

    // Sunday 22:00: the sandbox is back on the same address.
    const back = MONDAY + 6 * 24 * H + 22 * H;
    clock.set(back);
    const sandbox: Sandbox = await startSandbox({
      port,
      clock,
      replyDelayMs: 0,
      credentials,
      trustedCertPem: seller.identity.certPem,
    });
    cleanups.push(() => sandbox.close());
    await vi.waitFor(
      () => {
        clock.advance(60_000); // a minute per look: past any backoff and every poll interval within a few looks
        fw.kick();
        expect(outboxStatus(db, clock.now()).accepted).toBe(total);
      },
      { timeout: 60_000, interval: 20 },
    );

    // Oldest first: batches went out in the order they were made, and each invoice exactly once.
    const sent = (
      db.prepare("SELECT batch_id FROM attempts WHERE kind = 'submit' AND outcome = 'accepted' ORDER BY id").all() as {
        batch_id: number;
      }[]
    ).map((r) => r.batch_id);
    const batches = (db.prepare("SELECT id FROM batches ORDER BY id").all() as { id: number }[]).map((r) => r.id);
    expect(sent).toEqual(batches);
    expect(db.prepare("SELECT count(*) AS n FROM batches WHERE submitted_at IS NULL").get()).toEqual({ n: 0 });
    const firstInvoiceOf = db
      .prepare("SELECT min(invoice_id) AS first FROM deliveries GROUP BY batch_id ORDER BY batch_id")
      .all() as { first: number }[];
    expect(firstInvoiceOf.map((r) => r.first)).toEqual([...firstInvoiceOf.map((r) => r.first)].sort((a, b) => a - b));
    const stats = sandbox.stats();
    expect(stats).toMatchObject({ duplicates: 0, invoicesAccepted: total, invoicesRejected: 0, duplicateInvoices: 0 });
    expect(Object.values(stats.acceptedByMccqt).every((n) => n === 1)).toBe(true);

    // The evidence: one outage on our side, from the first refused call to the recovery, covering the week.
    const report = outageReport(db, { now: clock.now() });
    expect(report.outages).toHaveLength(1);
    const outage = report.outages[0];
    expect(outage).toMatchObject({
      side: "ours",
      kind: "call",
      codes: [{ code: "refused", count: expect.any(Number) }],
    });
    expect(outage?.start).toBe(MONDAY + 9 * H);
    expect(outage?.end).toBeGreaterThanOrEqual(back);
    expect(outage?.invoices).toHaveLength(total);
    // Sunday's sales made it on their day; every earlier day's went late.
    expect(outage?.late).toBe(6 * SALE_HOURS.length * PER_SALE_HOUR);
    expect(outboxStatus(db, clock.now()).deadline.sentLate).toBe(outage?.late);
  });
});
