import { afterEach, describe, expect, it, vi } from "vitest";
import { createBatchBuilder } from "../../src/forward/batch.js";
import {
  BUSY_BATCH_INVOICES,
  type Forwarder,
  type ForwarderEvent,
  startForwarder,
} from "../../src/forward/forwarder.js";
import { createHttpXmlGateway, type HttpXmlGatewayConfig } from "../../src/forward/gateway.js";
import { type Sandbox, type SandboxOptions, startSandbox } from "../../src/sandbox/index.js";
import { systemClock } from "../../src/shared/clock.js";
import { silentLogger } from "../../src/shared/log.js";
import { claimBatch, createBatches, outboxStatus } from "../../src/store/outbox.js";
import { tempDir } from "../support/tmp.js";
import { makeInvoice, makeInvoices, makeTestSigner, TEST_ENVELOPE } from "./support/invoices.js";
import { attemptRows, type Db, deliveryStates, openDbIn, seedInvoices } from "./support/store.js";

const envelope = TEST_ENVELOPE;
const seller = makeTestSigner();
const credentials = { username: "shop", password: "s3cret" };
const WAIT = { timeout: 15_000, interval: 20 };

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function sandboxOn(port = 0, extra: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  const sb = await startSandbox({
    host: "127.0.0.1",
    port,
    replyDelayMs: 40,
    trustedCertPem: seller.identity.certPem,
    credentials,
    tokenTtlMs: 3_600_000,
    ...extra,
  });
  cleanups.push(() => sb.close());
  return sb;
}

function forwarder(
  db: Db,
  url: string,
  opts: {
    gateway?: Partial<HttpXmlGatewayConfig>;
    leaseMs?: number;
    random?: () => number;
    lingerMs?: number;
    lingerInvoices?: number;
    pollIntervalMs?: number;
    maxInvoices?: number;
    sellingAtStart?: boolean;
  } = {},
) {
  const stop = new AbortController();
  const events: ForwarderEvent[] = [];
  const gateway = createHttpXmlGateway({
    baseUrl: url,
    ...credentials,
    timeoutMs: 2000,
    signal: stop.signal,
    ...opts.gateway,
  });
  const fw = startForwarder({
    db,
    gateway,
    signer: seller.signer,
    envelope,
    limits: { maxInvoices: opts.maxInvoices ?? 20 },
    clock: systemClock,
    log: silentLogger,
    signal: stop.signal,
    pollIntervalMs: opts.pollIntervalMs ?? 20,
    retry: { minDelayMs: 20, maxDelayMs: 200 },
    ...(opts.leaseMs ? { leaseMs: opts.leaseMs } : {}),
    ...(opts.lingerMs ? { lingerMs: opts.lingerMs } : {}),
    ...(opts.lingerInvoices ? { lingerInvoices: opts.lingerInvoices } : {}),
    ...(opts.random ? { random: opts.random } : {}),
    ...(opts.sellingAtStart ? { sellingAtStart: true } : {}),
    onEvent: (e) => events.push(e),
  });
  cleanups.push(async () => {
    stop.abort();
    await fw.stopped;
  });
  return { fw, events, stop };
}

function settledCount(db: Db): { accepted: number; rejected: number } {
  const s = outboxStatus(db);
  return { accepted: s.accepted, rejected: s.rejected };
}

describe("forwarder ↔ sandbox", () => {
  it("delivers 50 invoices, each accepted exactly once", async () => {
    const db = openDbIn(tempDir());
    const sb = await sandboxOn();
    const invoices = makeInvoices(50, 1, { signer: seller.signer });
    seedInvoices(db, invoices);
    const { events } = forwarder(db, sb.url);
    await vi.waitFor(() => expect(settledCount(db)).toEqual({ accepted: 50, rejected: 0 }), WAIT);
    const stats = sb.stats();
    expect(stats).toMatchObject({ received: 3, duplicates: 0, invoicesAccepted: 50, invoicesRejected: 0 });
    expect(Object.keys(stats.acceptedByMccqt).sort()).toEqual(invoices.map((i) => i.mccqt).sort());
    expect(Object.values(stats.acceptedByMccqt).every((n) => n === 1)).toBe(true);
    const accepted = events.filter((e) => e.type === "invoice-accepted");
    expect(new Set(accepted.map((e) => (e.type === "invoice-accepted" ? e.mccqt : ""))).size).toBe(50);
    expect(outboxStatus(db).batchesByState).toMatchObject({ done: 3, ready: 0, submitted: 0, received: 0, failed: 0 });
    const replies = db.prepare("SELECT mltdiep, count(*) AS n FROM replies GROUP BY mltdiep ORDER BY mltdiep").all();
    expect(replies).toEqual([
      { mltdiep: "204", n: 3 },
      { mltdiep: "999", n: 3 },
    ]);
  });

  // The daemon kicks with the number of invoices it committed (no store read while they linger); a bare kick reads
  // the store.
  const KICKS = [
    ["kick()", (fw: Forwarder, _n: number) => fw.kick()],
    ["kick(n)", (fw: Forwarder, n: number) => fw.kick(n)],
  ] as const;

  it.each(KICKS)(
    "lingers: two commits' invoices within lingerMs share one batch, made at the linger's end, not the next poll (%s)",
    async (_, kick) => {
      const db = openDbIn(tempDir());
      const sb = await sandboxOn();
      const invoices = makeInvoices(10, 1, { signer: seller.signer });
      // Polls (for replies, or for new invoices without a kick) every 3 s: only the linger's own wake-up makes the
      // batch at about 400 ms.
      const { fw, events } = forwarder(db, sb.url, { lingerMs: 400, pollIntervalMs: 3_000 });
      const t0 = Date.now();
      seedInvoices(db, invoices.slice(0, 5), t0);
      kick(fw, 5);
      await new Promise((r) => setTimeout(r, 150));
      expect(events.filter((e) => e.type === "batch-created")).toEqual([]);
      seedInvoices(db, invoices.slice(5), Date.now());
      kick(fw, 5);
      await vi.waitFor(() => expect(events.filter((e) => e.type === "batch-created")).toHaveLength(1), WAIT);
      const madeAfter = Date.now() - t0;
      expect(madeAfter).toBeGreaterThanOrEqual(400);
      expect(madeAfter).toBeLessThan(2_500);
      expect(events.find((e) => e.type === "batch-created")).toMatchObject({ invoices: 10 });
      await vi.waitFor(() => expect(settledCount(db)).toEqual({ accepted: 10, rejected: 0 }), WAIT);
      expect(sb.stats()).toMatchObject({ received: 1, invoicesAccepted: 10 });
    },
  );

  it.each(KICKS)(
    "ends the linger at once when lingerInvoices wait: a busy shop's batches stay small (%s)",
    async (_, kick) => {
      const db = openDbIn(tempDir());
      const sb = await sandboxOn();
      const invoices = makeInvoices(10, 1, { signer: seller.signer });
      // A 60 s linger and a 3 s poll: only the tenth invoice's kick can make the batch within 2.5 s.
      const { fw, events } = forwarder(db, sb.url, { lingerMs: 60_000, lingerInvoices: 10, pollIntervalMs: 3_000 });
      seedInvoices(db, invoices.slice(0, 9));
      kick(fw, 9);
      await new Promise((r) => setTimeout(r, 300));
      expect(events.filter((e) => e.type === "batch-created")).toEqual([]);
      const t = Date.now();
      seedInvoices(db, invoices.slice(9));
      kick(fw, 1);
      await vi.waitFor(() => expect(events.filter((e) => e.type === "batch-created")).toHaveLength(1), WAIT);
      expect(Date.now() - t).toBeLessThan(2_500);
      expect(events.find((e) => e.type === "batch-created")).toMatchObject({ invoices: 10 });
      await vi.waitFor(() => expect(settledCount(db)).toEqual({ accepted: 10, rejected: 0 }), WAIT);
    },
  );

  it.each([
    ["no sales", "none", [300]],
    ["registers selling", "kick", [BUSY_BATCH_INVOICES, BUSY_BATCH_INVOICES, 300 - 2 * BUSY_BATCH_INVOICES]],
    ["a restart while selling", "start", [BUSY_BATCH_INVOICES, BUSY_BATCH_INVOICES, 300 - 2 * BUSY_BATCH_INVOICES]],
  ] as const)(
    "sends a backlog in batches of up to 1000, smaller while registers sell (%s)",
    async (_, selling, sizes) => {
      const db = openDbIn(tempDir());
      const sb = await sandboxOn();
      const backlog = makeInvoices(300, 1);
      // A restart finds the backlog at once; otherwise it is found after a kick.
      if (selling === "start") seedInvoices(db, backlog);
      const { fw, events } = forwarder(db, sb.url, {
        maxInvoices: 1000,
        pollIntervalMs: 3_000,
        sellingAtStart: selling === "start",
      });
      if (selling !== "start") seedInvoices(db, backlog);
      if (selling === "kick") fw.kick(1);
      else fw.kick();
      await vi.waitFor(() => expect(settledCount(db)).toEqual({ accepted: 300, rejected: 0 }), WAIT);
      expect(events.flatMap((e) => (e.type === "batch-created" ? [e.invoices] : []))).toEqual(sizes);
    },
  );

  it("with the authority down: attempts are logged as our side, backoff grows, everything goes once it is back", async () => {
    const db = openDbIn(tempDir());
    const first = await sandboxOn();
    const port = first.port;
    await first.close();
    seedInvoices(db, makeInvoices(5, 100));
    // Jitter fixed near its top, so each wait is close to min · 2^(n−1).
    forwarder(db, `http://127.0.0.1:${port}`, { random: () => 0.99 });
    await vi.waitFor(() => expect(attemptRows(db).length).toBeGreaterThanOrEqual(5), WAIT);
    const rows = attemptRows(db);
    expect(rows.every((r) => r.side === "ours" && r.outcome === "retry" && r.http_status === null)).toBe(true);
    expect(rows[0]?.detail).toMatch(/không kết nối được/);
    const gaps = rows.slice(1, 5).map((r, i) => r.at - (rows[i]?.at ?? 0));
    for (const [i, gap] of gaps.entries()) expect(gap).toBeGreaterThanOrEqual(Math.floor(20 * 2 ** i * 0.995));
    expect(outboxStatus(db)).toMatchObject({ backlog: 5, accepted: 0, oldestUnsent: { invoiceId: 1 } });

    const back = await sandboxOn(port);
    await vi.waitFor(() => expect(settledCount(db)).toEqual({ accepted: 5, rejected: 0 }), WAIT);
    expect(back.stats()).toMatchObject({ received: 1, duplicates: 0, invoicesAccepted: 5 });
  });

  it("rejects only the invoice with wrong arithmetic; the rest are accepted and the queue keeps flowing", async () => {
    const db = openDbIn(tempDir());
    const sb = await sandboxOn();
    const good = makeInvoices(9, 200);
    const bad = makeInvoice({ shdon: 209, breakTotal: true });
    const ids = seedInvoices(db, [...good.slice(0, 4), bad, ...good.slice(4)]);
    const { fw, events } = forwarder(db, sb.url);
    await vi.waitFor(() => expect(settledCount(db)).toEqual({ accepted: 9, rejected: 1 }), WAIT);
    const badState = deliveryStates(db).get(ids[4] ?? 0);
    expect(badState?.state).toBe("rejected");
    expect(badState?.error).toMatch(/^H105: 1;C26MAB;209; .*TgTTTBSo/);
    const rejected = events.filter((e) => e.type === "invoice-rejected");
    expect(rejected).toEqual([expect.objectContaining({ mccqt: bad.mccqt, reason: expect.stringMatching(/H105/) })]);

    seedInvoices(db, makeInvoices(3, 300));
    fw.kick();
    await vi.waitFor(() => expect(settledCount(db)).toEqual({ accepted: 12, rejected: 1 }), WAIT);
  });

  it("after a lost answer it looks the MTDiep up instead of sending it again", async () => {
    const db = openDbIn(tempDir());
    const sb = await sandboxOn();
    // The sandbox takes the message but answers after the client has given up.
    sb.injectFault({ route: "submit", kind: "delay-response", ms: 3000 });
    seedInvoices(db, makeInvoices(4, 400));
    const { events } = forwarder(db, sb.url, { gateway: { timeoutMs: 600 } });
    await vi.waitFor(() => expect(settledCount(db)).toEqual({ accepted: 4, rejected: 0 }), WAIT);
    expect(sb.stats()).toMatchObject({ received: 1, duplicates: 0, invoicesAccepted: 4 });
    const rows = attemptRows(db).map((r) => [r.kind, r.outcome]);
    expect(rows.slice(0, 3)).toEqual([
      ["login", "token"],
      ["submit", "retry"],
      ["lookup", "replies"],
    ]);
    expect(rows.filter(([k]) => k === "submit")).toHaveLength(1);
    expect(events).toContainEqual(expect.objectContaining({ type: "batch-submitted", via: "lookup" }));
  });

  it("logs in again when the token is refused", async () => {
    const db = openDbIn(tempDir());
    const sb = await sandboxOn();
    seedInvoices(db, makeInvoices(2, 500));
    const { fw } = forwarder(db, sb.url);
    await vi.waitFor(() => expect(settledCount(db).accepted).toBe(2), WAIT);
    sb.expireTokens();
    seedInvoices(db, makeInvoices(2, 502));
    fw.kick();
    await vi.waitFor(() => expect(settledCount(db).accepted).toBe(4), WAIT);
    const rows = attemptRows(db);
    expect(rows.filter((r) => r.kind === "login" && r.outcome === "token")).toHaveLength(2);
    expect(rows).toContainEqual(expect.objectContaining({ http_status: 401, outcome: "relogin" }));
    expect(sb.stats()).toMatchObject({ logins: 2, duplicates: 0 });
  });

  it("a crash after the POST but before the settle: the next start ends the lease at once, a lookup finds it, no duplicate", async () => {
    const db = openDbIn(tempDir());
    const sb = await sandboxOn();
    seedInvoices(db, makeInvoices(3, 600));
    // The previous process: batched, claimed, POSTed, then died before writing the outcome.
    createBatches(db, {
      now: Date.now(),
      maxInvoices: 20,
      maxBytes: 2_000_000,
      build: createBatchBuilder({ envelope, signer: seller.signer, clock: systemClock }),
    });
    const claim = claimBatch(db, Date.now(), 300_000); // the dead process's lease: 5 min
    const gone = createHttpXmlGateway({ baseUrl: sb.url, ...credentials });
    expect((await gone.submit({ mtdiep: claim?.mtdiep ?? "", xml: claim?.xml ?? Buffer.alloc(0) })).kind).toBe(
      "accepted",
    );

    forwarder(db, sb.url);
    await vi.waitFor(() => expect(settledCount(db).accepted).toBe(3), { timeout: 5000, interval: 20 });
    expect(sb.stats()).toMatchObject({ received: 1, duplicates: 0 });
    expect(attemptRows(db).map((r) => r.kind)).not.toContain("submit");
  });

  it("stops when its signal aborts", async () => {
    const db = openDbIn(tempDir());
    const sb = await sandboxOn();
    const { fw, stop } = forwarder(db, sb.url);
    stop.abort();
    await expect(fw.stopped).resolves.toBeUndefined();
  });
});
