/**
 * The forwarder's gateway-level backoff: after an outage the oldest batch goes first; a batch the T-VAN keeps
 * refusing on its own is set apart and never holds up the rest; a result that does not come in time is recorded
 * as the authority's fault.
 */
import { createHash } from "node:crypto";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ISOLATE_AFTER, startForwarder } from "../../src/forward/forwarder.js";
import {
  type AuthorityGateway,
  createHttpXmlGateway,
  type GatewayCall,
  type ReplyFetch,
  type SubmitOutcome,
} from "../../src/forward/gateway.js";
import { outageReport } from "../../src/forward/outages.js";
import { parseFaults, startSandbox } from "../../src/sandbox/index.js";
import { systemClock } from "../../src/shared/clock.js";
import { silentLogger } from "../../src/shared/log.js";
import { outboxStatus } from "../../src/store/outbox.js";
import { tempDir } from "../support/tmp.js";
import { makeInvoices, makeTestSigner, TEST_ENVELOPE } from "./support/invoices.js";
import { attemptRows, type Db, openDbIn, seedInvoices } from "./support/store.js";

const envelope = TEST_ENVELOPE;
const seller = makeTestSigner();
const WAIT = { timeout: 15_000, interval: 20 };
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
});

/** An in-memory T-VAN: `fail(mtdiep)` decides a submit's fate; replies are a 204 LTBao 2 at once. */
function fakeGateway(fail: (mtdiep: string) => "down" | "500" | undefined): AuthorityGateway & { taken: string[] } {
  const taken: string[] = [];
  const call = (kind: GatewayCall["kind"], outcome: string, extra: Partial<GatewayCall> = {}): GatewayCall => ({
    kind,
    at: Date.now(),
    durationMs: 1,
    outcome,
    detail: outcome,
    endpoint: "https://tvan.test/v1/messages",
    ...extra,
  });
  return {
    taken,
    async submit(batch): Promise<SubmitOutcome> {
      const f = fail(batch.mtdiep);
      if (f === "down")
        return {
          kind: "retry",
          side: "ours",
          cause: "refused",
          maybeReceived: false,
          calls: [call("submit", "retry", { side: "ours", failure: "refused" })],
        };
      if (f === "500")
        return {
          kind: "retry",
          side: "theirs",
          cause: "HTTP 500",
          httpStatus: 500,
          maybeReceived: false,
          calls: [call("submit", "retry", { side: "theirs", httpStatus: 500 })],
        };
      taken.push(batch.mtdiep);
      return { kind: "accepted", httpStatus: 202, calls: [call("submit", "accepted", { httpStatus: 202 })] };
    },
    async replies(mtdiep): Promise<ReplyFetch> {
      const id = `TCT${createHash("md5").update(mtdiep).digest("hex").toUpperCase()}`;
      const raw = Buffer.from(`<TDiep><!-- 204 for ${mtdiep} --></TDiep>`);
      return {
        kind: "replies",
        replies: [
          { raw, parsed: { ok: true, reply: { mltdiep: "204", ltbao: 2, mtdiep: id, mtdtchieu: mtdiep, errors: [] } } },
        ],
        calls: [call("replies", "replies", { httpStatus: 200 })],
      };
    },
  };
}

function run(db: Db, gateway: AuthorityGateway, extra: { replyDeadlineMs?: number; leaseMs?: number } = {}): void {
  const stop = new AbortController();
  const fw = startForwarder({
    db,
    gateway,
    signer: seller.signer,
    envelope,
    limits: { maxInvoices: 1 },
    clock: systemClock,
    log: silentLogger,
    signal: stop.signal,
    pollIntervalMs: 15,
    retry: { minDelayMs: 10, maxDelayMs: 40 },
    ...extra,
  });
  stops.push(async () => {
    stop.abort();
    await fw.stopped;
  });
}

function mtdieps(db: Db): string[] {
  return (db.prepare("SELECT mtdiep FROM batches ORDER BY id").all() as { mtdiep: string }[]).map((r) => r.mtdiep);
}

describe("forwarder resilience", () => {
  it("after an outage, batches reach the T-VAN oldest first", async () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, makeInvoices(6, 1));
    let down = true;
    const gw = fakeGateway(() => (down ? "down" : undefined));
    run(db, gw);
    await vi.waitFor(() => expect(attemptRows(db).length).toBeGreaterThanOrEqual(8), WAIT);
    // During the outage only the oldest batch is tried: the gateway rests between rounds.
    expect(new Set(attemptRows(db).map((r) => r.batch_id))).toEqual(new Set([1]));
    down = false;
    await vi.waitFor(() => expect(outboxStatus(db).accepted).toBe(6), WAIT);
    expect(gw.taken).toEqual(mtdieps(db));
  });

  it(`a batch refused on its own ${ISOLATE_AFTER} times is set apart; the rest flow past it`, async () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, makeInvoices(5, 1));
    let poisoned: string | undefined;
    const gw = fakeGateway((m) => {
      poisoned ??= m;
      return m === poisoned ? "500" : undefined;
    });
    run(db, gw);
    await vi.waitFor(() => expect(outboxStatus(db).accepted).toBe(4), WAIT);
    const tries = attemptRows(db).filter((r) => r.kind === "submit" && r.batch_id === 1);
    expect(tries.length).toBeGreaterThanOrEqual(ISOLATE_AFTER);
    expect(tries.every((r) => r.side === "theirs" && r.http_status === 500)).toBe(true);
    expect(gw.taken).toEqual(mtdieps(db).slice(1));
    expect(outboxStatus(db)).toMatchObject({ backlog: 1, batchesByState: { ready: 1, done: 4 } });
  });

  it("a round that fails on the store (disk full) frees its batch at once, not after the lease", async () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, makeInvoices(3, 1));
    // The first attempt row cannot be written: the store fails right after the T-VAN took the batch.
    let failures = 1;
    db.function("fail_once", () => (failures-- > 0 ? 1 : 0));
    db.exec(
      "CREATE TEMP TRIGGER store_full BEFORE INSERT ON attempts WHEN fail_once() BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END",
    );
    const gw = fakeGateway(() => undefined);
    run(db, gw, { leaseMs: 300_000 });
    await vi.waitFor(() => expect(outboxStatus(db).accepted).toBe(3), { timeout: 5000, interval: 20 });
    // The batch the failed round held went out once and was found by a lookup afterwards, not sent twice.
    expect(gw.taken).toEqual(mtdieps(db));
    expect(attemptRows(db).filter((r) => r.kind === "lookup")).toHaveLength(1);
  });

  it("no result in time after the T-VAN took the batch: later polls are the authority's fault, and the report shows it", async () => {
    const db = openDbIn(tempDir());
    const credentials = { username: "shop", password: "s3cret" };
    const sb = await startSandbox({ credentials, replyDelayMs: 0, faults: parseFaults("no204=1") });
    stops.push(() => sb.close());
    seedInvoices(db, makeInvoices(2, 1));
    run(db, createHttpXmlGateway({ baseUrl: sb.url, ...credentials }), { replyDeadlineMs: 100 });
    await vi.waitFor(
      () => expect(attemptRows(db).filter((r) => r.outcome === "overdue").length).toBeGreaterThanOrEqual(3),
      WAIT,
    );
    const overdue = db.prepare("SELECT side, failure, kind, detail FROM attempts WHERE outcome = 'overdue'").get();
    expect(overdue).toMatchObject({ side: "theirs", failure: "no-result", kind: "poll" });
    expect(outboxStatus(db).batchesByState.received).toBe(2);
    const report = outageReport(db, { now: Date.now() });
    expect(report.outages).toEqual([
      expect.objectContaining({
        kind: "result",
        side: "theirs",
        end: undefined,
        endpoint: sb.url,
        paths: ["/v1/messages/{MTDiep}/replies"],
        codes: [expect.objectContaining({ code: "no-result" })],
        batchIds: [1, 2],
      }),
    ]);
    expect(report.outages[0]?.invoices.map((i) => i.invoiceId)).toEqual([1, 2]);
  });
});
