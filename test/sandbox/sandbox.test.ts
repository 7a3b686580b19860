import { afterEach, describe, expect, it, vi } from "vitest";
import { buildTdiep206, newMtdiep } from "../../src/forward/batch.js";
import { createHttpXmlGateway } from "../../src/forward/gateway.js";
import { parseReply } from "../../src/forward/replies.js";
import { runSandbox, type Sandbox, startSandbox } from "../../src/sandbox/index.js";
import { manualClock, vnDateTime } from "../../src/shared/clock.js";
import { makeInvoice, makeInvoices, makeTestSigner, TEST_ENVELOPE } from "../forward/support/invoices.js";

const envelope = TEST_ENVELOPE;
const seller = makeTestSigner();
const stranger = makeTestSigner("0300000002");
const credentials = { username: "shop", password: "s3cret" };

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function start(opts: { replyDelayMs?: number; trusted?: boolean } = {}): Promise<Sandbox> {
  sandbox = await startSandbox({
    host: "127.0.0.1",
    port: 0,
    replyDelayMs: opts.replyDelayMs ?? 0,
    credentials,
    tokenTtlMs: 60_000,
    ...(opts.trusted === false ? {} : { trustedCertPem: seller.identity.certPem }),
  });
  return sandbox;
}

function batch(
  invoices: readonly { xml: string }[],
  signer = seller.signer,
  mtdiep = newMtdiep(envelope.mngui),
): { mtdiep: string; xml: Buffer } {
  const xml = buildTdiep206({
    envelope,
    mtdiep,
    invoices: invoices.map((i) => Buffer.from(i.xml)),
    signer,
    signingTime: vnDateTime(Date.now()),
  });
  return { mtdiep, xml };
}

async function token(url: string): Promise<string> {
  const res = await fetch(`${url}/auth/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(credentials),
  });
  return ((await res.json()) as { token: string }).token;
}

async function post(
  url: string,
  body: Buffer | string,
  tok?: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/v1/messages`, {
    method: "POST",
    headers: { "content-type": "application/xml", ...(tok ? { authorization: `Bearer ${tok}` } : {}) },
    body,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function replies(url: string, mtdiep: string, tok: string): Promise<string[]> {
  const res = await fetch(`${url}/v1/messages/${mtdiep}/replies`, { headers: { authorization: `Bearer ${tok}` } });
  return ((await res.json()) as { replies: string[] }).replies;
}

function parsed(xml: string | undefined) {
  const r = parseReply(xml ?? "");
  if (!r.ok) throw new Error(r.problem);
  return r.reply;
}

describe("sandbox authentication", () => {
  it("gives a bearer token for the right credentials, 401 otherwise and without a token", async () => {
    const { url } = await start();
    const bad = await fetch(`${url}/auth/login`, {
      method: "POST",
      body: JSON.stringify({ username: "shop", password: "x" }),
    });
    expect(bad.status).toBe(401);
    const ok = await fetch(`${url}/auth/login`, { method: "POST", body: JSON.stringify(credentials) });
    const body = (await ok.json()) as { token: string; expiresAt: string };
    expect(body.token).toMatch(/^[\w-]{20,}$/);
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(Date.now());
    expect((await post(url, "<TDiep/>")).status).toBe(401);
    expect((await post(url, "<TDiep/>", "nope")).status).toBe(401);
  });

  it("refuses tokens after expireTokens(); the http-xml gateway logs in again by itself", async () => {
    const sb = await start();
    const gw = createHttpXmlGateway({ baseUrl: sb.url, ...credentials, tokenSkewMs: 0 });
    expect((await gw.replies(newMtdiep("A"))).kind).toBe("unknown");
    sb.expireTokens();
    const again = await gw.replies(newMtdiep("A"));
    expect(again.kind).toBe("unknown");
    expect(again.calls.map((c) => [c.kind, c.httpStatus, c.outcome])).toEqual([
      ["replies", 401, "relogin"],
      ["login", 200, "token"],
      ["replies", 404, "unknown"],
    ]);
    expect(sb.stats().logins).toBe(2);
  });
});

describe("sandbox messages", () => {
  it("takes a valid 206: 999 TTTNhan=0 at once, 204 LTBao 2 after the delay", async () => {
    const clock = manualClock(Date.now());
    sandbox = await startSandbox({ replyDelayMs: 150, credentials, trustedCertPem: seller.identity.certPem, clock });
    const { url } = sandbox;
    const tok = await token(url);
    const b = batch(makeInvoices(3, 1, { signer: seller.signer }));
    expect(await post(url, b.xml, tok)).toEqual({
      status: 202,
      body: { mtdiep: b.mtdiep, maGDich: expect.stringMatching(/^[0-9A-F]{20}$/) },
    });
    const first = await replies(url, b.mtdiep, tok);
    expect(first).toHaveLength(1);
    expect(parsed(first[0])).toMatchObject({
      mltdiep: "999",
      received: true,
      mtdtchieu: b.mtdiep,
      mtdiep: expect.stringMatching(/^TCT[0-9A-F]{32}$/),
    });
    clock.advance(149);
    expect(await replies(url, b.mtdiep, tok)).toHaveLength(1);
    clock.advance(1);
    const all = await replies(url, b.mtdiep, tok);
    expect(all).toHaveLength(2);
    expect(parsed(all[1])).toMatchObject({ mltdiep: "204", ltbao: 2, errors: [] });
    expect(sandbox?.stats()).toMatchObject({ received: 1, invoicesAccepted: 3, invoicesRejected: 0 });
  });

  it("answers the same MTDiep again with 409 and does not process it twice", async () => {
    const { url } = await start();
    const tok = await token(url);
    const b = batch(makeInvoices(1, 1));
    expect((await post(url, b.xml, tok)).status).toBe(202);
    expect(await post(url, b.xml, tok)).toEqual({
      status: 409,
      body: { mtdiep: b.mtdiep, maGDich: expect.any(String), error: "Mã thông điệp đã tồn tại" },
    });
    expect(sandbox?.stats()).toMatchObject({ received: 1, duplicates: 1, invoicesAccepted: 1 });
  });

  it("rejects with 204 LTBao 7 only the invoices that fail, naming them KHMSHDon;KHHDon;SHDon;", async () => {
    const { url } = await start();
    const tok = await token(url);
    const good = makeInvoices(2, 10);
    const bad = makeInvoice({ shdon: 12, breakTotal: true });
    const b = batch([good[0] as { xml: string }, bad, good[1] as { xml: string }]);
    await post(url, b.xml, tok);
    await vi.waitFor(async () => expect(await replies(url, b.mtdiep, tok)).toHaveLength(2), {
      timeout: 5000,
      interval: 25,
    });
    const r204 = parsed((await replies(url, b.mtdiep, tok))[1]);
    expect(r204).toMatchObject({ mltdiep: "204", ltbao: 7 });
    expect(r204.errors).toHaveLength(1);
    expect(r204.errors[0]).toMatchObject({
      code: "H105",
      stt: 2,
      text: expect.stringMatching(/^1;C26MAB;12; .*TgTTTBSo/),
    });
    expect(sandbox?.stats()).toMatchObject({ invoicesAccepted: 2, invoicesRejected: 1 });
  });

  it("rejects an MCCQT accepted before, even in a new message", async () => {
    const { url } = await start();
    const tok = await token(url);
    await post(url, batch(makeInvoices(1, 30)).xml, tok);
    const b = batch(makeInvoices(1, 30));
    await post(url, b.xml, tok);
    await vi.waitFor(async () => expect(await replies(url, b.mtdiep, tok)).toHaveLength(2), {
      timeout: 5000,
      interval: 25,
    });
    expect(parsed((await replies(url, b.mtdiep, tok))[1]).errors[0]).toMatchObject({ code: "H104" });
    expect(sandbox?.stats().acceptedByMccqt).toEqual({ "M1-26-A1B2C-00000000030": 1 });
  });

  it("answers envelope problems with 999 TTTNhan=1 and DSLDo/LDo(MLoi, MTa)", async () => {
    const { url } = await start({ trusted: false });
    const tok = await token(url);
    const mixed = batch([makeInvoice({ shdon: 1 }), makeInvoice({ shdon: 2, khhdon: "C26TAB" })]);
    await post(url, mixed.xml, tok);
    const r = parsed((await replies(url, mixed.mtdiep, tok))[0]);
    expect(r).toMatchObject({ mltdiep: "999", received: false });
    expect(r.errors.map((e) => e.code).sort()).toEqual(["E106", "E107"]);
    // SLuong not matching the HDon count.
    const b = batch(makeInvoices(2, 5));
    const lying = Buffer.from(b.xml.toString().replace("<SLuong>2</SLuong>", "<SLuong>3</SLuong>"));
    await post(url, lying, tok);
    expect(parsed((await replies(url, b.mtdiep, tok))[0]).errors.map((e) => e.code)).toEqual(["E104"]);
  });

  it("answers a batch signed by an untrusted key, or altered after signing, with -2", async () => {
    const { url } = await start();
    const tok = await token(url);
    const foreign = batch(makeInvoices(1, 40), stranger.signer);
    await post(url, foreign.xml, tok);
    expect(parsed((await replies(url, foreign.mtdiep, tok))[0])).toMatchObject({ mltdiep: "-2" });
    const b = batch(makeInvoices(1, 41));
    const altered = Buffer.from(b.xml.toString().replace("<THHDVu>Bia lon</THHDVu>", "<THHDVu>Bia chai</THHDVu>"));
    await post(url, altered, tok);
    expect(parsed((await replies(url, b.mtdiep, tok))[0])).toMatchObject({ mltdiep: "-2", errors: [{ code: "E110" }] });
    expect(sandbox?.stats()).toMatchObject({ refused: 2, invoicesAccepted: 0 });
  });

  it("answers malformed XML and DOCTYPE with -1 when it can read the MTDiep, else 400", async () => {
    const { url } = await start();
    const tok = await token(url);
    const mtdiep = newMtdiep("0100000099");
    await post(
      url,
      `<!DOCTYPE TDiep [<!ENTITY x SYSTEM "file:///etc/passwd">]><TDiep><TTChung><MTDiep>${mtdiep}</MTDiep></TTChung>&x;</TDiep>`,
      tok,
    );
    const r = parsed((await replies(url, mtdiep, tok))[0]);
    expect(r).toMatchObject({ mltdiep: "-1", mtdtchieu: mtdiep });
    expect(r.errors[0]?.text).toMatch(/DOCTYPE/);
    expect((await post(url, "<TDiep><oops></TDiep>", tok)).status).toBe(400);
    expect(sandbox?.stats()).toMatchObject({ malformed: 1 });
  });

  it("404 for replies to an MTDiep it never received", async () => {
    const { url } = await start();
    const res = await fetch(`${url}/v1/messages/${newMtdiep("X")}/replies`, {
      headers: { authorization: `Bearer ${await token(url)}` },
    });
    expect(res.status).toBe(404);
  });
});

describe("runSandbox", () => {
  it("prints where it listens, serves until the signal aborts, then prints and returns its counters", async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    const done = runSandbox({ port: 0, replyDelayMs: 0, signal: stop.signal, out: (l) => lines.push(l) });
    await vi.waitFor(() => expect(lines[0]).toMatch(/http:\/\/127\.0\.0\.1:\d+/), { timeout: 5000, interval: 10 });
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(lines[0] ?? "")?.[0] ?? "";
    const login = await fetch(`${url}/auth/login`, {
      method: "POST",
      body: JSON.stringify({ username: "demo", password: "demo" }),
    });
    expect(login.status).toBe(200);
    stop.abort();
    expect(await done).toMatchObject({ received: 0, logins: 1 });
    expect(lines.at(-1)).toMatch(/^Đã nhận 0 thông điệp/);
  });
});
