/**
 * `authority.gateway: sandbox` (issue 5 item 4): the sandbox authority inside the process, no port and no HTTP.
 * A real store drains through it with the real forwarder; the sandbox checks signatures and arithmetic as over
 * loopback, rejects what it would reject there, and its faults look to the forwarder as they would over a socket.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { createGatewayFromConfig, GatewayConfig } from "../../src/forward/config.js";
import { type ForwarderEvent, startForwarder } from "../../src/forward/forwarder.js";
import type { AuthorityGateway } from "../../src/forward/gateway.js";
import { createSandboxGateway, parseFaults } from "../../src/sandbox/index.js";
import { systemClock } from "../../src/shared/clock.js";
import { silentLogger } from "../../src/shared/log.js";
import { outboxStatus } from "../../src/store/outbox.js";
import { tempDir } from "../support/tmp.js";
import { makeInvoice, makeInvoices, makeTestSigner, TEST_ENVELOPE } from "./support/invoices.js";
import { attemptRows, type Db, deliveryStates, openDbIn, seedInvoices } from "./support/store.js";

const envelope = TEST_ENVELOPE;
const seller = makeTestSigner();
const WAIT = { timeout: 20_000, interval: 20 };

const stops: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const s of stops.splice(0).reverse()) await s();
});

function drain(db: Db, gateway: AuthorityGateway, stop = new AbortController()): ForwarderEvent[] {
  const events: ForwarderEvent[] = [];
  const fw = startForwarder({
    db,
    gateway,
    signer: seller.signer,
    envelope,
    limits: { maxInvoices: 10 },
    clock: systemClock,
    log: silentLogger,
    signal: stop.signal,
    pollIntervalMs: 10,
    retry: { minDelayMs: 10, maxDelayMs: 50 },
    onEvent: (e) => events.push(e),
  });
  stops.push(async () => {
    stop.abort();
    await fw.stopped;
  });
  return events;
}

describe("the in-process sandbox gateway", () => {
  it("is what authority.gateway: sandbox builds, and a backlog drains through it, signatures and arithmetic checked", async () => {
    const db = openDbIn(tempDir());
    seedInvoices(db, makeInvoices(25, 1, { signer: seller.signer }));
    // One invoice with a wrong total: the sandbox's arithmetic check rejects it, the rest are accepted.
    seedInvoices(db, [makeInvoice({ shdon: 26, breakTotal: true, signer: seller.signer })]);
    // And one signed with a certificate the sandbox does not trust: its signature check rejects it.
    seedInvoices(db, [makeInvoice({ shdon: 27, signer: makeTestSigner().signer })]);
    expect(GatewayConfig.parse({ gateway: "sandbox" }).gateway).toBe("sandbox");
    const stop = new AbortController();
    const gateway = createGatewayFromConfig(
      {
        ...GatewayConfig.parse({ gateway: "sandbox" }),
        url: "http://sandbox.invalid",
        username: "shop",
        timeoutMs: 2000,
      },
      { password: "s3cret", clock: systemClock, signal: stop.signal, trustedCertPem: seller.identity.certPem },
    );
    const events = drain(db, gateway, stop);
    await vi.waitFor(() => expect(outboxStatus(db)).toMatchObject({ backlog: 0, accepted: 25, rejected: 2 }), WAIT);
    const rejected = [...deliveryStates(db).entries()].filter(([, d]) => d.state === "rejected");
    expect(rejected.map(([id]) => id)).toEqual([26, 27]);
    expect(rejected[0]?.[1].error).toMatch(/TgTTTBSo|tổng|total/i);
    expect(rejected[1]?.[1].error).toMatch(/Chữ ký hóa đơn không hợp lệ/);
    expect(events.filter((e) => e.type === "invoice-accepted")).toHaveLength(25);
    // Attempt rows as over HTTP: a login, then submits and polls, named by the configured endpoint.
    const rows = attemptRows(db);
    expect(rows[0]).toMatchObject({ kind: "login", outcome: "token" });
    expect(rows.filter((r) => r.kind === "submit").every((r) => r.outcome === "accepted")).toBe(true);
    const endpoints = db.prepare("SELECT DISTINCT endpoint FROM attempts ORDER BY 1").pluck().all();
    expect(endpoints).toEqual([
      "http://sandbox.invalid/auth/login",
      "http://sandbox.invalid/v1/messages",
      "http://sandbox.invalid/v1/messages/{MTDiep}/replies",
    ]);
  });

  it("answers like the sandbox server, and its faults look to the forwarder like a network's", async () => {
    // An MTDiep it never saw: 404, "unknown" (it answered, after a login with the configured account).
    const plain = createSandboxGateway({ username: "shop", password: "s3cret" });
    expect(await plain.replies(`0100000099${"A".repeat(32)}`)).toMatchObject({
      kind: "unknown",
      calls: [
        { kind: "login", outcome: "token", httpStatus: 200 },
        { kind: "replies", outcome: "unknown", httpStatus: 404 },
      ],
    });
    expect(plain.sandbox.stats()).toMatchObject({ logins: 1, received: 0 });

    // Faults: a dropped answer after processing is a reset with the message maybe received; an answer held past
    // the timeout is `no-answer` (the T-VAN's side); a 503 is theirs without processing.
    const db = openDbIn(tempDir());
    seedInvoices(db, makeInvoices(3, 1));
    const faulty = createSandboxGateway({
      username: "shop",
      password: "s3cret",
      replyDelayMs: 0,
      timeoutMs: 300,
      faults: parseFaults("submit.drop=1,seed=2"),
    });
    faulty.sandbox.injectFault({ route: "submit", kind: "status", status: 503 });
    drain(db, faulty);
    // Every submit's answer is lost, yet each batch is taken once: looked up by MTDiep, never sent twice.
    await vi.waitFor(() => expect(outboxStatus(db).accepted).toBe(3), WAIT);
    const submits = attemptRows(db).filter((r) => r.kind === "submit");
    expect(submits[0]).toMatchObject({ outcome: "retry", http_status: 503, side: "theirs" });
    expect(
      db.prepare("SELECT DISTINCT failure FROM attempts WHERE kind = 'submit' AND failure IS NOT NULL").pluck().all(),
    ).toEqual(["reset"]);
    expect(attemptRows(db).some((r) => r.kind === "lookup" && r.outcome === "replies")).toBe(true);
    expect(faulty.sandbox.stats()).toMatchObject({ duplicates: 0, invoicesAccepted: 3 });
  });
});
