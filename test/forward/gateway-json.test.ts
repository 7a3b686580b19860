import { afterEach, describe, expect, it, vi } from "vitest";
import { buildTdiep206, newMtdiep } from "../../src/forward/batch.js";
import { startForwarder } from "../../src/forward/forwarder.js";
import { createJsonBase64Gateway, noticeToReply, readNotices } from "../../src/forward/gateway-json.js";
import { concludeBatch } from "../../src/forward/replies.js";
import { type Sandbox, startSandbox } from "../../src/sandbox/index.js";
import { systemClock, vnDateTime } from "../../src/shared/clock.js";
import { silentLogger } from "../../src/shared/log.js";
import { outboxStatus } from "../../src/store/outbox.js";
import { tempDir } from "../support/tmp.js";
import { makeInvoice, makeInvoices, makeTestSigner, TEST_ENVELOPE } from "./support/invoices.js";
import { attemptRows, openDbIn, seedInvoices } from "./support/store.js";

const envelope = TEST_ENVELOPE;
const seller = makeTestSigner();
const credentials = { username: "shop", password: "s3cret" };

let sandbox: Sandbox | undefined;
const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0)) await s();
  await sandbox?.close();
  sandbox = undefined;
});

async function start(replyDelayMs = 0): Promise<Sandbox> {
  sandbox = await startSandbox({ credentials, replyDelayMs, trustedCertPem: seller.identity.certPem });
  return sandbox;
}

function batch(invoices: readonly { xml: string }[]): { mtdiep: string; xml: Buffer } {
  const mtdiep = newMtdiep(envelope.mngui);
  const xml = buildTdiep206({
    envelope,
    mtdiep,
    invoices: invoices.map((i) => Buffer.from(i.xml)),
    signer: seller.signer,
    signingTime: vnDateTime(Date.now()),
  });
  return { mtdiep, xml };
}

describe("http-json-base64 adapter ↔ sandbox /ftvan-hddt", () => {
  it("submits base64 JSON with Basic auth, gets a maGDich, and polls by it: raw 999 and 204 plus the T-VAN summary", async () => {
    const sb = await start();
    const gw = createJsonBase64Gateway({ baseUrl: sb.url, ...credentials });
    const b = batch(makeInvoices(2, 1));
    const out = await gw.submit(b);
    expect(out).toMatchObject({
      kind: "accepted",
      httpStatus: 200,
      transportRef: expect.stringMatching(/^[0-9A-F]{20}$/),
    });
    expect(out.calls).toEqual([
      expect.objectContaining({ kind: "submit", outcome: "accepted", endpoint: `${sb.url}/ftvan-hddt/hdon/mttien` }),
    ]);
    const ref = out.kind === "accepted" ? out.transportRef : undefined;
    const got = await gw.replies(b.mtdiep, { transportRef: ref });
    expect(got.kind).toBe("replies");
    if (got.kind !== "replies") return;
    const parsed = got.replies.map((r) => (r.parsed.ok ? r.parsed.reply : undefined));
    expect(parsed.map((r) => [r?.mltdiep, r && "ltbao" in r ? r.ltbao : undefined])).toEqual([
      ["999", undefined],
      ["204", 2],
      ["204", 2], // loaiTBao 8: the T-VAN's "data valid"
    ]);
    expect(got.calls[0]?.endpoint).toBe(`${sb.url}/ftvan-hddt/tbao/tcuu/tcuutbao`);
    expect(sb.stats()).toMatchObject({ received: 1, invoicesAccepted: 2 });
  });

  it("a second POST of the same MTDiep is a duplicate that still names the maGDich", async () => {
    const sb = await start();
    const gw = createJsonBase64Gateway({ baseUrl: sb.url, ...credentials });
    const b = batch(makeInvoices(1, 10));
    const first = await gw.submit(b);
    const again = await gw.submit(b);
    expect(again).toMatchObject({ kind: "duplicate", httpStatus: 409 });
    expect(again.kind === "duplicate" && again.transportRef).toBe(first.kind === "accepted" && first.transportRef);
    expect(sb.stats()).toMatchObject({ received: 1, duplicates: 1 });
  });

  it("a wrong password is our side and never a relogin loop", async () => {
    const sb = await start();
    const gw = createJsonBase64Gateway({ baseUrl: sb.url, username: "shop", password: "wrong" });
    const out = await gw.submit(batch(makeInvoices(1, 20)));
    expect(out).toMatchObject({ kind: "retry", side: "ours", maybeReceived: false, httpStatus: 401 });
    expect(out.calls).toHaveLength(1);
  });

  it("looks up by MTDiep only when the T-VAN has such a query; otherwise says unknown without calling", async () => {
    const sb = await start();
    const b = batch(makeInvoices(1, 30));
    await createJsonBase64Gateway({ baseUrl: sb.url, ...credentials }).submit(b);
    const blind = createJsonBase64Gateway({ baseUrl: sb.url, ...credentials });
    expect(await blind.replies(b.mtdiep)).toEqual({ kind: "unknown", calls: [] });
    const seeing = createJsonBase64Gateway({ baseUrl: sb.url, ...credentials, lookupParam: "mtdiep" });
    expect((await seeing.replies(b.mtdiep)).kind).toBe("replies");
    expect((await seeing.replies(newMtdiep("0100000099"))).kind).toBe("unknown");
  });

  it("maps the T-VAN's error summary (loaiTBao 7) to the invoices it names", async () => {
    const sb = await start();
    const gw = createJsonBase64Gateway({ baseUrl: sb.url, ...credentials });
    const good = makeInvoice({ shdon: 41 });
    const bad = makeInvoice({ shdon: 42, breakTotal: true });
    const b = batch([good, bad]);
    const out = await gw.submit(b);
    const got = await gw.replies(b.mtdiep, { transportRef: out.kind === "accepted" ? out.transportRef : undefined });
    if (got.kind !== "replies") throw new Error(got.kind);
    const summary = got.replies.find((r) => r.raw.toString().includes('"loaiTBao":7'));
    expect(summary?.parsed).toMatchObject({ ok: true, reply: { mltdiep: "204", ltbao: 7 } });
    const only = summary?.parsed.ok ? [summary.parsed.reply] : [];
    const keys = [
      { invoiceId: 1, khmshdon: "1", khhdon: "C26MAB", shdon: 41, position: 1 },
      { invoiceId: 2, khmshdon: "1", khhdon: "C26MAB", shdon: 42, position: 2 },
    ];
    const verdict = concludeBatch(only, keys);
    expect(verdict.kind === "settled" && [...verdict.rejected.keys()]).toEqual([2]);
  });
});

describe("reading the T-VAN's notices", () => {
  it("accepts the list bare or under dsTBao/data/result, and refuses anything else", () => {
    const n = [{ loaiTBao: 8 }];
    for (const body of [n, { dsTBao: n }, { data: n }, { result: n }, { loaiTBao: 8 }])
      expect(readNotices(Buffer.from(JSON.stringify(body)))).toEqual(n);
    for (const body of ["nope", "{}", '{"data":[{"x":1}]}', "[1]"])
      expect(readNotices(Buffer.from(body))).toBeUndefined();
  });

  it("keeps an unknown notice type as 'other' and a type-1 notice without XML as a problem", () => {
    expect(noticeToReply({ loaiTBao: 3 }, "M", 1000).parsed).toMatchObject({ ok: true, reply: { mltdiep: "other" } });
    expect(noticeToReply({ loaiTBao: 1 }, "M", 1000).parsed).toMatchObject({ ok: false });
  });
});

describe("forwarder over http-json-base64", () => {
  it("delivers 30 invoices, stores each batch's maGDich and the time the T-VAN took it", async () => {
    const sb = await start(30);
    const db = openDbIn(tempDir());
    seedInvoices(db, makeInvoices(30, 100, { signer: seller.signer }));
    const stop = new AbortController();
    const fw = startForwarder({
      db,
      gateway: createJsonBase64Gateway({ baseUrl: sb.url, ...credentials, signal: stop.signal }),
      signer: seller.signer,
      envelope,
      limits: { maxInvoices: 10 },
      clock: systemClock,
      log: silentLogger,
      signal: stop.signal,
      pollIntervalMs: 20,
      retry: { minDelayMs: 20, maxDelayMs: 200 },
    });
    stops.push(async () => {
      stop.abort();
      await fw.stopped;
    });
    await vi.waitFor(() => expect(outboxStatus(db).accepted).toBe(30), { timeout: 15_000, interval: 20 });
    const batches = db.prepare("SELECT transport_ref, submitted_at FROM batches ORDER BY id").all() as {
      transport_ref: string | null;
      submitted_at: number | null;
    }[];
    expect(batches).toHaveLength(3);
    for (const b of batches) {
      expect(b.transport_ref).toMatch(/^[0-9A-F]{20}$/);
      expect(b.submitted_at).toBeGreaterThan(0);
    }
    expect(attemptRows(db).every((r) => r.side === null)).toBe(true);
    expect(sb.stats()).toMatchObject({ received: 3, duplicates: 0, invoicesAccepted: 30, duplicateInvoices: 0 });
  });
});
