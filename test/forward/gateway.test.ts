import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  classify,
  createHttpXmlGateway,
  OUTCOME_TABLE,
  type OutcomeRule,
  type TransportFailure,
  transportFailureOf,
} from "../../src/forward/gateway.js";

type Call = "login" | "submit" | "replies";
type Event = { status: number } | { failure: TransportFailure };
type Expect = { verdict: OutcomeRule["verdict"]; side?: "ours" | "theirs"; maybeReceived?: boolean };

/** The whole decision table, spelled out case by case. */
const CASES: readonly [Call, Event, Expect][] = [
  ["login", { status: 200 }, { verdict: "token" }],
  ["login", { status: 401 }, { verdict: "retry", side: "ours" }],
  ["login", { status: 403 }, { verdict: "retry", side: "ours" }],
  ["login", { status: 400 }, { verdict: "retry", side: "ours" }],
  ["login", { status: 500 }, { verdict: "retry", side: "theirs" }],
  ["login", { failure: "bad-body" }, { verdict: "retry", side: "theirs" }],
  ["submit", { status: 200 }, { verdict: "accepted" }],
  ["submit", { status: 202 }, { verdict: "accepted" }],
  ["submit", { status: 409 }, { verdict: "duplicate" }],
  ["submit", { status: 401 }, { verdict: "relogin" }],
  ["submit", { status: 403 }, { verdict: "retry", side: "ours", maybeReceived: false }],
  ["submit", { status: 408 }, { verdict: "retry", side: "theirs", maybeReceived: true }],
  ["submit", { status: 429 }, { verdict: "retry", side: "theirs", maybeReceived: false }],
  ["submit", { status: 400 }, { verdict: "rejected" }],
  ["submit", { status: 413 }, { verdict: "rejected" }],
  ["submit", { status: 422 }, { verdict: "rejected" }],
  ["submit", { status: 500 }, { verdict: "retry", side: "theirs", maybeReceived: true }],
  ["submit", { status: 503 }, { verdict: "retry", side: "theirs", maybeReceived: true }],
  ["submit", { status: 302 }, { verdict: "retry", side: "theirs", maybeReceived: true }],
  ["replies", { status: 200 }, { verdict: "replies" }],
  ["replies", { status: 404 }, { verdict: "unknown" }],
  ["replies", { status: 401 }, { verdict: "relogin" }],
  ["replies", { status: 400 }, { verdict: "retry", side: "ours" }],
  ["replies", { status: 408 }, { verdict: "retry", side: "theirs" }],
  ["replies", { status: 429 }, { verdict: "retry", side: "theirs" }],
  ["replies", { status: 502 }, { verdict: "retry", side: "theirs" }],
  ["replies", { failure: "bad-body" }, { verdict: "retry", side: "theirs" }],
  ["submit", { failure: "timeout" }, { verdict: "retry", side: "ours", maybeReceived: true }],
  ["submit", { failure: "no-answer" }, { verdict: "retry", side: "theirs", maybeReceived: true }],
  ["replies", { failure: "no-answer" }, { verdict: "retry", side: "theirs" }],
  ["submit", { failure: "reset" }, { verdict: "retry", side: "ours", maybeReceived: true }],
  ["submit", { failure: "network" }, { verdict: "retry", side: "ours", maybeReceived: true }],
  ["submit", { failure: "stopped" }, { verdict: "retry", side: "ours", maybeReceived: true }],
  ["submit", { failure: "dns" }, { verdict: "retry", side: "ours", maybeReceived: false }],
  ["submit", { failure: "refused" }, { verdict: "retry", side: "ours", maybeReceived: false }],
  ["submit", { failure: "tls" }, { verdict: "retry", side: "ours", maybeReceived: false }],
  ["submit", { failure: "too-large" }, { verdict: "retry", side: "theirs", maybeReceived: true }],
  ["replies", { failure: "timeout" }, { verdict: "retry", side: "ours" }],
  ["login", { failure: "refused" }, { verdict: "retry", side: "ours" }],
];

describe("the outcome table", () => {
  it.each(CASES)("%s %j → %j", (call, event, want) => {
    const rule = classify(call, event);
    expect(rule.verdict).toBe(want.verdict);
    if (want.side) expect(rule.side).toBe(want.side);
    if (want.maybeReceived !== undefined) expect(rule.maybeReceived ?? false).toBe(want.maybeReceived);
  });

  it("has no dead rows: every row is the first match for some case", () => {
    const hit = new Set(CASES.map(([call, event]) => classify(call, event)));
    const dead = OUTCOME_TABLE.filter((r) => !hit.has(r));
    expect(dead).toEqual([]);
  });

  it("blames the authority only when it showed itself: an HTTP status, an unusable answer, or no answer to a delivered request", () => {
    for (const r of OUTCOME_TABLE.filter((row) => row.side === "theirs")) {
      expect(
        "status" in r.on || r.on.failure === "bad-body" || r.on.failure === "too-large" || r.on.failure === "no-answer",
      ).toBe(true);
    }
  });

  it("covers every status 100..599 for every call", () => {
    for (const call of ["login", "submit", "replies"] as const)
      for (let s = 100; s < 600; s++) expect(classify(call, { status: s }).why).not.toBe("?");
  });
});

describe("transportFailureOf", () => {
  const fetchError = (code: string): Error =>
    Object.assign(new TypeError("fetch failed"), { cause: { code, message: code } });

  it.each([
    ["ECONNREFUSED", "refused"],
    ["ENOTFOUND", "dns"],
    ["EAI_AGAIN", "dns"],
    ["ECONNRESET", "reset"],
    ["UND_ERR_SOCKET", "reset"],
    ["UND_ERR_CONNECT_TIMEOUT", "timeout"],
    ["DEPTH_ZERO_SELF_SIGNED_CERT", "tls"],
    ["ERR_TLS_CERT_ALTNAME_INVALID", "tls"],
    ["SOMETHING_ELSE", "network"],
  ])("%s → %s", (code, failure) => {
    expect(transportFailureOf(fetchError(code)).failure).toBe(failure);
  });

  it("names AbortSignal.timeout as timeout and our own stop as stopped", () => {
    expect(transportFailureOf(new DOMException("t", "TimeoutError")).failure).toBe("timeout");
    const stop = new AbortController();
    stop.abort();
    expect(transportFailureOf(new DOMException("a", "AbortError"), stop.signal).failure).toBe("stopped");
  });
});

describe("http-xml adapter on real sockets", () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
    server = createServer(handler);
    await new Promise<void>((r) => server?.listen(0, "127.0.0.1", () => r()));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it("a closed port: the login is refused, side ours, the message was certainly not received", async () => {
    const url = await listen(() => {});
    await new Promise<void>((r) => server?.close(() => r()));
    server = undefined;
    const gw = createHttpXmlGateway({ baseUrl: url, username: "u", password: "p", timeoutMs: 2000 });
    const out = await gw.submit({ mtdiep: "X", xml: Buffer.from("<TDiep></TDiep>") });
    expect(out).toMatchObject({ kind: "retry", side: "ours", maybeReceived: false });
    expect(out.calls.map((c) => [c.kind, c.outcome, c.side])).toEqual([["login", "retry", "ours"]]);
  });

  it("no answer within the timeout after the request went out: retry, side theirs (timeout after acceptance), maybe received", async () => {
    const url = await listen((req, res) => {
      if (req.url === "/auth/login") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ token: "t", expiresAt: new Date(Date.now() + 3_600_000).toISOString() }));
      }
      // /v1/messages: never answered
    });
    const gw = createHttpXmlGateway({ baseUrl: url, username: "u", password: "p", timeoutMs: 200 });
    const out = await gw.submit({ mtdiep: "X", xml: Buffer.from("<TDiep></TDiep>") });
    expect(out).toMatchObject({ kind: "retry", side: "theirs", maybeReceived: true });
    expect(out.calls.map((c) => c.kind)).toEqual(["login", "submit"]);
    expect(out.calls[1]).toMatchObject({ failure: "no-answer", endpoint: `${url}/v1/messages` });
  });

  it("sends the exact bytes with a bearer token and refuses an oversized answer", async () => {
    const seen: { auth?: string; body?: Buffer; type?: string } = {};
    const url = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        if (req.url === "/auth/login") {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ token: "tok", expiresAt: Date.now() + 3_600_000 }));
          return;
        }
        if (req.method === "POST") {
          seen.auth = req.headers.authorization;
          seen.type = req.headers["content-type"];
          seen.body = Buffer.concat(chunks);
          res.writeHead(202).end("{}");
          return;
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ replies: ["x".repeat(5000)] }));
      });
    });
    const bytes = Buffer.from("<TDiep><MST>0100000001</MST>\u0110</TDiep>", "utf8");
    const gw = createHttpXmlGateway({ baseUrl: `${url}/`, username: "u", password: "p", maxResponseBytes: 1000 });
    expect((await gw.submit({ mtdiep: "X", xml: bytes })).kind).toBe("accepted");
    expect(seen).toEqual({ auth: "Bearer tok", type: "application/xml; charset=utf-8", body: bytes });
    expect(await gw.replies("X")).toMatchObject({ kind: "retry", side: "theirs" });
  });
});
