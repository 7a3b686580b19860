import { afterEach, describe, expect, it, vi } from "vitest";
import { buildTdiep206, newMtdiep } from "../../src/forward/batch.js";
import { createHttpXmlGateway } from "../../src/forward/gateway.js";
import { createJsonBase64Gateway } from "../../src/forward/gateway-json.js";
import { inWindow } from "../../src/sandbox/faults.js";
import {
  createFaultEngine,
  describeFaults,
  parseDuration,
  parseFaults,
  runSandbox,
  type Sandbox,
  startSandbox,
} from "../../src/sandbox/index.js";
import { manualClock, vnDateTime } from "../../src/shared/clock.js";
import { makeInvoices, makeTestSigner, TEST_ENVELOPE } from "../forward/support/invoices.js";

const envelope = TEST_ENVELOPE;
const seller = makeTestSigner();
const credentials = { username: "shop", password: "s3cret" };

let sandbox: Sandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

function batch(first: number, n = 1): { mtdiep: string; xml: Buffer } {
  const mtdiep = newMtdiep(envelope.mngui);
  const xml = buildTdiep206({
    envelope,
    mtdiep,
    invoices: makeInvoices(n, first).map((i) => Buffer.from(i.xml)),
    signer: seller.signer,
    signingTime: vnDateTime(Date.now()),
  });
  return { mtdiep, xml };
}

describe("--faults syntax", () => {
  it("parses every fault, with route prefixes, units and percentages", () => {
    const plan = parseFaults(
      "latency=100ms..2s, submit.5xx=10%:502, ghost=0.05, replies.drop=0.2, timeout=0.1:90s, no204=1, token=30s, " +
        "outage=10s@30s/60s, down=5s@1m, seed=42",
    );
    expect(plan).toEqual({
      seed: 42,
      tokenTtlMs: 30_000,
      rules: [
        { kind: "latency", minMs: 100, maxMs: 2000 },
        { kind: "5xx", route: "submit", p: 0.1, status: 502 },
        { kind: "ghost", p: 0.05 },
        { kind: "drop", route: "replies", p: 0.2 },
        { kind: "timeout", p: 0.1, holdMs: 90_000 },
        { kind: "no204", p: 1 },
      ],
      windows: [
        { kind: "outage", startMs: 30_000, durationMs: 10_000, everyMs: 60_000 },
        { kind: "down", startMs: 60_000, durationMs: 5000, everyMs: undefined },
      ],
    });
    expect(parseFaults("")).toEqual({ seed: 1, rules: [], windows: [], tokenTtlMs: undefined });
    expect(parseDuration("1.5m")).toBe(90_000);
    expect(parseDuration("10")).toBeUndefined();
  });

  it("names every bad item at once, as a usage error", () => {
    let err: unknown;
    try {
      parseFaults("latency=fast,5xx=2,login.no204=1,outage=10s,bogus=1,foo.drop=0.1,drop,outage=10s@0s/5s");
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "USAGE" });
    const message = (err as Error).message;
    for (const item of ["latency=fast", "5xx=2", "login.no204=1", "outage=10s", "bogus=1", "foo.drop", '"drop"'])
      expect(message).toContain(item);
    expect(message).toContain("EVERY must exceed DURATION");
  });

  it("describes the plan in Vietnamese first, one line per fault", () => {
    const lines = describeFaults(parseFaults("latency=200ms,5xx=0.1,outage=10s@30s"));
    expect(lines).toEqual([
      "trả lời chậm / latency 200ms",
      "lỗi 503 không xử lý / 503 without processing: 10%",
      "ngừng dịch vụ (503) / outage 10s từ giây / from 30s",
      "seed 1",
    ]);
  });

  it("draws the same faults for the same seed, and windows repeat", () => {
    const draws = (seed: number) => {
      const e = createFaultEngine(parseFaults(`5xx=0.5,seed=${seed}`));
      return Array.from({ length: 20 }, () => e.before("submit", 0)?.status ?? 0);
    };
    expect(draws(7)).toEqual(draws(7));
    expect(draws(7)).not.toEqual(draws(8));
    const w = { kind: "outage" as const, startMs: 30_000, durationMs: 10_000, everyMs: 60_000 };
    expect([29_999, 30_000, 39_999, 40_000, 90_000, 100_000].map((t) => inWindow(w, t))).toEqual([
      false,
      true,
      true,
      false,
      true,
      false,
    ]);
  });
});

describe("sandbox with faults", () => {
  it("outage window: every call answers 503 (their side) until it ends", async () => {
    const clock = manualClock(Date.parse("2026-11-20T02:00:00Z"));
    sandbox = await startSandbox({ credentials, clock, faults: parseFaults("outage=10m@1h") });
    const gw = createHttpXmlGateway({ baseUrl: sandbox.url, ...credentials, clock });
    expect((await gw.submit(batch(1))).kind).toBe("accepted");
    clock.advance(3_600_000);
    const during = await gw.submit(batch(2));
    expect(during).toMatchObject({ kind: "retry", side: "theirs", maybeReceived: false });
    expect(during.calls.map((c) => [c.kind, c.httpStatus])).toEqual([["login", 503]]); // the token had expired too
    clock.advance(600_000);
    expect((await gw.submit(batch(3))).kind).toBe("accepted");
    expect(sandbox.stats()).toMatchObject({ received: 2, faults: { outage: 1 } });
  });

  it("ghost: the message is processed but answered 500; the lookup finds it, nothing is taken twice", async () => {
    sandbox = await startSandbox({ credentials, replyDelayMs: 0, faults: parseFaults("submit.ghost=1") });
    const gw = createHttpXmlGateway({ baseUrl: sandbox.url, ...credentials });
    const b = batch(10);
    expect(await gw.submit(b)).toMatchObject({ kind: "retry", side: "theirs", maybeReceived: true, httpStatus: 500 });
    expect((await gw.replies(b.mtdiep)).kind).toBe("replies");
    expect(sandbox.stats()).toMatchObject({ received: 1, duplicates: 0, faults: { ghost: 1 } });
  });

  it("drop: the answer is lost after processing (reset, maybe received); a resend is counted as a duplicate", async () => {
    sandbox = await startSandbox({ credentials, replyDelayMs: 0, faults: parseFaults("submit.drop=1") });
    const gw = createJsonBase64Gateway({ baseUrl: sandbox.url, ...credentials });
    const b = batch(20);
    expect(await gw.submit(b)).toMatchObject({ kind: "retry", maybeReceived: true });
    await gw.submit(b);
    expect(sandbox.stats()).toMatchObject({ received: 1, duplicates: 1, duplicateInvoices: 0 });
  });

  it("timeout: the answer is held past the client's timeout (no-answer, their side)", async () => {
    sandbox = await startSandbox({ credentials, faults: parseFaults("submit.timeout=1:5s") });
    const gw = createHttpXmlGateway({ baseUrl: sandbox.url, ...credentials, timeoutMs: 300 });
    expect(await gw.submit(batch(30))).toMatchObject({ kind: "retry", side: "theirs", maybeReceived: true });
    expect(sandbox.stats()).toMatchObject({ received: 1 });
  });

  it("5xx: answered without processing; no204: the 999 comes but the 204 never does", async () => {
    sandbox = await startSandbox({ credentials, replyDelayMs: 0, faults: parseFaults("submit.5xx=1:502") });
    const gw = createHttpXmlGateway({ baseUrl: sandbox.url, ...credentials });
    expect(await gw.submit(batch(40))).toMatchObject({ kind: "retry", httpStatus: 502 });
    expect(sandbox.stats().received).toBe(0);
    await sandbox.close();
    sandbox = await startSandbox({ credentials, replyDelayMs: 0, faults: parseFaults("no204=1") });
    const gw2 = createHttpXmlGateway({ baseUrl: sandbox.url, ...credentials });
    const b = batch(41);
    await gw2.submit(b);
    const got = await gw2.replies(b.mtdiep);
    expect(got.kind === "replies" && got.replies.map((r) => r.parsed.ok && r.parsed.reply.mltdiep)).toEqual(["999"]);
  });

  it("token=: logins expire that soon and the gateway logs in again", async () => {
    const clock = manualClock(Date.now());
    sandbox = await startSandbox({ credentials, clock, faults: parseFaults("token=1m") });
    const gw = createHttpXmlGateway({ baseUrl: sandbox.url, ...credentials, clock, tokenSkewMs: 0 });
    await gw.replies(newMtdiep("A"));
    clock.advance(61_000);
    await gw.replies(newMtdiep("A"));
    expect(sandbox.stats().logins).toBe(2);
  });

  it("latency: answers come no sooner than the latency", async () => {
    sandbox = await startSandbox({ credentials, faults: parseFaults("replies.latency=150ms") });
    const gw = createHttpXmlGateway({ baseUrl: sandbox.url, ...credentials });
    await gw.replies(newMtdiep("A")); // login, then replies
    const t0 = performance.now();
    await gw.replies(newMtdiep("A"));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
  });

  it("down: the sandbox stops listening (refused, our side), then comes back by itself", async () => {
    sandbox = await startSandbox({ credentials, faults: parseFaults("down=400ms@0ms") });
    const gw = createHttpXmlGateway({ baseUrl: sandbox.url, ...credentials, timeoutMs: 1000 });
    await vi.waitFor(
      async () => expect(await gw.replies(newMtdiep("A"))).toMatchObject({ kind: "retry", side: "ours" }),
      {
        timeout: 2000,
        interval: 20,
      },
    );
    await vi.waitFor(async () => expect((await gw.replies(newMtdiep("A"))).kind).toBe("unknown"), {
      timeout: 5000,
      interval: 50,
    });
  });

  it("runSandbox takes --faults text, prints the plan and, at the end, what fired and the duplicates", async () => {
    const lines: string[] = [];
    const stop = new AbortController();
    const done = runSandbox({
      port: 0,
      signal: stop.signal,
      faults: "submit.5xx=1",
      username: "shop",
      password: "s3cret",
      out: (l) => lines.push(l),
    });
    await vi.waitFor(() => expect(lines.join("\n")).toMatch(/faults: lỗi 503/), { timeout: 5000, interval: 10 });
    const url = /http:\/\/127\.0\.0\.1:\d+/.exec(lines[0] ?? "")?.[0] ?? "";
    await createHttpXmlGateway({ baseUrl: url, ...credentials }).submit(batch(50));
    stop.abort();
    await done;
    expect(lines.at(-2)).toMatch(/0 hóa đơn gửi trùng$/);
    expect(lines.at(-1)).toBe("Lỗi giả lập đã xảy ra / faults fired: 5xx ×1");
    await expect(runSandbox({ port: 0, signal: stop.signal, faults: "nope" })).rejects.toMatchObject({ code: "USAGE" });
  });
});
