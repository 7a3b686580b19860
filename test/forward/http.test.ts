import { writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createGatewayFromConfig, GatewayConfig } from "../../src/forward/config.js";
import { createHttpClient } from "../../src/forward/http.js";
import { startSandbox } from "../../src/sandbox/index.js";
import { systemClock } from "../../src/shared/clock.js";
import { tempDir } from "../support/tmp.js";
import { makeTestTls } from "./support/tls.js";

const tls = makeTestTls();
const otherCa = makeTestTls("TEST ONLY another CA");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function closeLater(server: Server | NetServer, sockets?: Set<Socket>): void {
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets ?? []) s.destroy();
        if ("closeAllConnections" in server) server.closeAllConnections();
        server.close(() => r());
      }),
  );
}

async function listen(server: Server | NetServer): Promise<number> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  return (server.address() as { port: number }).port;
}

async function httpsOk(): Promise<string> {
  const server = createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
  });
  closeLater(server);
  return `https://127.0.0.1:${await listen(server)}`;
}

const client = (extra: Parameters<typeof createHttpClient>[0] extends infer O ? Partial<O> : never = {}) =>
  createHttpClient({ clock: systemClock, timeoutMs: 2000, connectTimeoutMs: 1000, ...extra });

describe("the HTTP client", () => {
  it("trusts a T-VAN certificate issued by the configured CA", async () => {
    const base = await httpsOk();
    const x = await client({ ca: tls.caPem })({ method: "GET", url: `${base}/ping?x=1`, headers: {} });
    expect(x).toMatchObject({ status: 200, connected: true, sent: true, endpoint: `${base}/ping` });
    expect(x.body.toString()).toBe('{"ok":true}');
  });

  it("refuses it without that CA, or with another one: tls, our side, nothing sent", async () => {
    const base = await httpsOk();
    for (const ca of [undefined, otherCa.caPem]) {
      const x = await client({ ca })({ method: "POST", url: `${base}/v1/messages`, headers: {}, body: "<TDiep/>" });
      expect(x).toMatchObject({ failure: "tls", connected: false, sent: false });
    }
  });

  it("a TLS handshake that never completes is a connect timeout: nothing reached the server", async () => {
    const sockets = new Set<Socket>();
    const silent = createNetServer((s) => sockets.add(s)); // accepts TCP, never speaks TLS
    closeLater(silent, sockets);
    const port = await listen(silent);
    const x = await client({ ca: tls.caPem, connectTimeoutMs: 150 })({
      method: "POST",
      url: `https://127.0.0.1:${port}/v1/messages`,
      headers: {},
      body: "<TDiep/>",
    });
    expect(x).toMatchObject({ failure: "timeout", connected: false, sent: false });
    expect(x.durationMs).toBeLessThan(1500);
  });

  it("a request sent but never answered is no-answer (the T-VAN took it)", async () => {
    const server = createServer(() => {}); // reads nothing back
    closeLater(server);
    const port = await listen(server);
    const x = await client({ timeoutMs: 200 })({
      method: "POST",
      url: `http://127.0.0.1:${port}/x`,
      headers: {},
      body: "abc",
    });
    expect(x).toMatchObject({ failure: "no-answer", connected: true, sent: true });
  });

  it("names refused connections and unknown hosts", async () => {
    const server = createServer();
    const port = await listen(server);
    await new Promise<void>((r) => server.close(() => r()));
    expect(await client()({ method: "GET", url: `http://127.0.0.1:${port}/`, headers: {} })).toMatchObject({
      failure: "refused",
      connected: false,
    });
    expect((await client()({ method: "GET", url: "http://no-such-host.invalid/", headers: {} })).failure).toBe("dns");
  });

  it("stops at once when the daemon stops", async () => {
    const server = createServer(() => {});
    closeLater(server);
    const port = await listen(server);
    const stop = new AbortController();
    const pending = client({ signal: stop.signal, timeoutMs: 10_000 })({
      method: "GET",
      url: `http://127.0.0.1:${port}/`,
      headers: {},
    });
    stop.abort();
    expect(await pending).toMatchObject({ failure: "stopped" });
  });

  it("refuses an answer bigger than the limit", async () => {
    const server = createServer((_q, res) => res.end("x".repeat(5000)));
    closeLater(server);
    const port = await listen(server);
    const x = await client({ maxResponseBytes: 1000 })({
      method: "GET",
      url: `http://127.0.0.1:${port}/`,
      headers: {},
    });
    expect(x).toMatchObject({ failure: "too-large", status: 200 });
  });
});

describe("createGatewayFromConfig", () => {
  const credentials = { username: "shop", password: "s3cret" };

  it("defaults: http-xml, 10 s to connect, FPT paths for http-json-base64, certificate checks always on", () => {
    expect(GatewayConfig.parse({})).toEqual({
      gateway: "http-xml",
      connectTimeoutMs: 10_000,
      tls: {},
      batchSignature: "xmldsig",
      replyDeadlineMs: 600_000,
      leaseMs: 300_000,
      jsonBase64: {
        submitPath: "/ftvan-hddt/hdon/mttien",
        pollPath: "/ftvan-hddt/tbao/tcuu/tcuutbao",
        pollParam: "maGDichTNDLieu",
      },
    });
    expect(GatewayConfig.safeParse({ gateway: "soap" }).success).toBe(false);
  });

  it("builds either adapter over TLS with the custom CA file, against the sandbox serving HTTPS", async () => {
    const dir = tempDir();
    const caFile = join(dir, "tvan-ca.pem");
    writeFileSync(caFile, tls.caPem);
    const sandbox = await startSandbox({ credentials, tls: { certPem: tls.certPem, keyPem: tls.keyPem } });
    cleanups.push(() => sandbox.close());
    expect(sandbox.url).toMatch(/^https:/);
    for (const gateway of ["http-xml", "http-json-base64"] as const) {
      const gw = createGatewayFromConfig(
        {
          ...GatewayConfig.parse({ gateway, tls: { ca: caFile }, jsonBase64: { lookupParam: "mtdiep" } }),
          url: sandbox.url,
          username: "shop",
          timeoutMs: 3000,
        },
        { password: "s3cret", clock: systemClock },
      );
      // An MTDiep the sandbox never saw: the T-VAN answered (404), so TLS and auth worked.
      expect((await gw.replies(`0100000099${"A".repeat(32)}`)).kind).toBe("unknown");
    }
  });

  it("refuses a CA file it cannot read or that holds no certificate, before sending anything", () => {
    const dir = tempDir();
    const junk = join(dir, "junk.pem");
    writeFileSync(junk, "not a certificate");
    const settings = { url: "https://tvan.example", username: "u", timeoutMs: 1000 };
    const deps = { password: "p", clock: systemClock };
    expect(() => createGatewayFromConfig({ ...settings, tls: { ca: join(dir, "missing.pem") } }, deps)).toThrow(
      expect.objectContaining({ code: "CONFIG_INVALID" }),
    );
    expect(() => createGatewayFromConfig({ ...settings, tls: { ca: junk } }, deps)).toThrow(/PEM/);
  });
});
