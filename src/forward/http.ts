/**
 * The one HTTP(S) client of the gateways, over `node:http`/`node:https` rather than `fetch`, for three things fetch
 * in Node 20 cannot give without undici's own Agent:
 *
 * - **TLS with a custom CA** (`ca`: PEM text added to Node's bundled roots), as a T-VAN on a private CA needs;
 * - **two timeouts**: `connectTimeoutMs` until the connection (and TLS handshake) is up, `timeoutMs` for the whole
 *   exchange;
 * - **the phase a failure happened in**, which decides who is to blame and whether a message may have arrived:
 *   nothing reached the T-VAN before `connected`; a complete request body (`sent`) may have been processed even
 *   when no answer came back. A timeout after the request was sent is `no-answer`: the T-VAN accepted the
 *   connection and the message and did not answer in time, which the outcome table counts as its side (issue 5:
 *   "timeout after acceptance").
 *
 * One connection per exchange (no keep-alive): calls are a few per minute on a shop's box, and a fresh connection
 * never fails because the server closed an idle socket.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { rootCertificates, type TLSSocket } from "node:tls";
import type { Clock } from "../shared/clock.js";

/** Transport failures, the names used by the outcome table and stored in `attempts.failure`. */
export type TransportFailure =
  /** No connection within the connect timeout (nothing sent). */
  | "timeout"
  /** Connected and the whole request sent, but no complete answer in time (the T-VAN may have processed it). */
  | "no-answer"
  | "dns"
  | "refused"
  | "reset"
  | "tls"
  | "network"
  | "stopped"
  | "too-large"
  | "bad-body";

/** Settings of {@link createHttpClient}. */
export interface HttpClientOptions {
  /** The whole exchange: connect, send, answer. Default 30 s. */
  readonly timeoutMs?: number;
  /** Until the TCP connection (and TLS handshake) is up. Default the smaller of 10 s and `timeoutMs`. */
  readonly connectTimeoutMs?: number;
  /** PEM certificate(s) of the CA that signed the server's certificate, trusted besides Node's bundled roots. */
  readonly ca?: string | undefined;
  /** TLS server name when it differs from the URL's host (SNI and certificate check). */
  readonly servername?: string | undefined;
  /** Largest answer body read. Default 16 MiB. */
  readonly maxResponseBytes?: number;
  readonly clock: Clock;
  /** Aborts in-flight exchanges (the daemon is stopping): the failure is `stopped`. */
  readonly signal?: AbortSignal | undefined;
}

/** One request. */
export interface HttpRequest {
  readonly method: "GET" | "POST";
  /** Absolute URL. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: Buffer | string | undefined;
}

/** What one exchange gave: a status and body, or a transport failure and the phase it happened in. */
export interface HttpExchange {
  /** Epoch ms (the injected clock) at the start. */
  readonly at: number;
  readonly durationMs: number;
  /** `origin + path` called, without the query (kept in the attempt row). */
  readonly endpoint: string;
  readonly status?: number | undefined;
  readonly failure?: TransportFailure | undefined;
  readonly body: Buffer;
  /** Transport error text, or an excerpt of a non-2xx body. */
  readonly cause: string;
  /** The connection (and TLS handshake) was up. */
  readonly connected: boolean;
  /** The whole request body was handed to the connection: the server may have processed it. */
  readonly sent: boolean;
}

/** Sends one request and never throws: every failure is a value. */
export type HttpClient = (req: HttpRequest) => Promise<HttpExchange>;

const NET_CODES: Readonly<Record<string, TransportFailure>> = {
  ENOTFOUND: "dns",
  EAI_AGAIN: "dns",
  EAI_NONAME: "dns",
  ECONNREFUSED: "refused",
  EHOSTUNREACH: "refused",
  ENETUNREACH: "refused",
  EADDRNOTAVAIL: "refused",
  ECONNRESET: "reset",
  EPIPE: "reset",
  ECONNABORTED: "reset",
  UND_ERR_SOCKET: "reset",
  UND_ERR_CLOSED: "reset",
  ETIMEDOUT: "timeout",
  UND_ERR_CONNECT_TIMEOUT: "timeout",
  UND_ERR_HEADERS_TIMEOUT: "no-answer",
  UND_ERR_BODY_TIMEOUT: "no-answer",
};

const TLS_CODE_RE = /CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|HOSTNAME|ALTNAME/i;

/** Names the transport failure behind a network error (node:http, or fetch's `cause`). */
export function transportFailureOf(
  err: unknown,
  stopSignal?: AbortSignal,
): { failure: TransportFailure; cause: string } {
  const e = err as { name?: string; message?: string; code?: string; cause?: { code?: string; message?: string } };
  if (stopSignal?.aborted) return { failure: "stopped", cause: "dừng theo yêu cầu / stopping" };
  if (e?.name === "TimeoutError") return { failure: "timeout", cause: e.message ?? "timeout" };
  const code = e?.cause?.code ?? e?.code ?? "";
  const cause = [e?.message, e?.cause?.message, code].filter(Boolean).join(": ");
  const named = NET_CODES[code];
  if (named) return { failure: named, cause };
  if (TLS_CODE_RE.test(code)) return { failure: "tls", cause };
  if (e?.name === "AbortError") return { failure: "timeout", cause };
  return { failure: "network", cause };
}

/** A short, single-line excerpt of an error body (JSON `error`/`message`/`mtaLoi` when there is one). */
export function describeBody(body: Buffer): string {
  const s = body.toString("utf8", 0, Math.min(body.length, 2000));
  try {
    const j = JSON.parse(s) as { error?: unknown; message?: unknown; mtaLoi?: unknown };
    const m = j.error ?? j.message ?? j.mtaLoi;
    if (typeof m === "string") return m.slice(0, 300);
  } catch {
    // not JSON: fall through to the raw excerpt
  }
  return s.replace(/\s+/g, " ").trim().slice(0, 300);
}

/** Creates a client with fixed timeouts, trust and stop signal. */
export function createHttpClient(opts: HttpClientOptions): HttpClient {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const connectTimeoutMs = Math.min(opts.connectTimeoutMs ?? 10_000, timeoutMs);
  const maxResponse = opts.maxResponseBytes ?? 16 * 1024 * 1024;

  return (req) =>
    new Promise<HttpExchange>((resolve) => {
      const at = opts.clock.now();
      const started = performance.now();
      const url = new URL(req.url);
      const endpoint = `${url.origin}${url.pathname}`;
      let connected = false;
      let sent = false;
      let settled = false;
      const timers: NodeJS.Timeout[] = [];

      const finish = (x: Omit<HttpExchange, "at" | "durationMs" | "endpoint" | "connected" | "sent">): void => {
        if (settled) return;
        settled = true;
        for (const t of timers) clearTimeout(t);
        opts.signal?.removeEventListener("abort", onStop);
        resolve({ at, durationMs: performance.now() - started, endpoint, connected, sent, ...x });
        // Whatever is still open (a late answer, a hung handshake) is of no use now.
        request.destroy();
      };
      const fail = (failure: TransportFailure, cause: string, status?: number): void =>
        finish({ failure, cause, status, body: Buffer.alloc(0) });
      const onStop = (): void => fail("stopped", "dừng theo yêu cầu / stopping");

      const isTls = url.protocol === "https:";
      const options: RequestOptions & { ca?: string[]; servername?: string; minVersion?: "TLSv1.2" } = {
        method: req.method,
        headers: req.body === undefined ? req.headers : { ...req.headers, "content-length": bodyLength(req.body) },
        agent: false,
        ...(isTls
          ? {
              minVersion: "TLSv1.2",
              ...(opts.ca ? { ca: withSystemRoots(opts.ca) } : {}),
              ...(opts.servername ? { servername: opts.servername } : {}),
            }
          : {}),
      };
      const request = (isTls ? httpsRequest : httpRequest)(url, options);

      request.on("socket", (socket: Socket) => {
        const up = (): void => {
          connected = true;
        };
        if (isTls) (socket as TLSSocket).once("secureConnect", up);
        else if (socket.connecting) socket.once("connect", up);
        else up();
      });
      request.on("finish", () => {
        sent = true;
      });
      request.on("error", (err) => {
        if (settled) return;
        // A reset after the whole request went out stays `reset` (a middlebox on our side can do the same); the
        // gateway adds "maybe received" from `sent`.
        const named = transportFailureOf(err, opts.signal);
        fail(named.failure, named.cause);
      });
      request.on("response", (res: IncomingMessage) => {
        readBody(res, maxResponse).then(
          (body) => {
            const status = res.statusCode ?? 0;
            if (body === undefined) return fail("too-large", `câu trả lời vượt ${maxResponse} byte`, status);
            const ok = status >= 200 && status < 300;
            finish({ status, body, cause: ok ? "" : describeBody(body) });
          },
          (err: unknown) => {
            const named = transportFailureOf(err, opts.signal);
            fail(named.failure, named.cause);
          },
        );
      });

      timers.push(
        setTimeout(() => {
          if (!connected) fail("timeout", `không kết nối được trong ${connectTimeoutMs} ms / connect timeout`);
        }, connectTimeoutMs),
        setTimeout(() => {
          if (!connected) fail("timeout", `không kết nối được trong ${timeoutMs} ms / connect timeout`);
          else if (!sent) fail("timeout", `gửi chưa xong sau ${timeoutMs} ms / send timeout`);
          else fail("no-answer", `T-VAN không trả lời trong ${timeoutMs} ms / no answer in time`);
        }, timeoutMs),
      );
      if (opts.signal?.aborted) return onStop();
      opts.signal?.addEventListener("abort", onStop, { once: true });
      request.end(req.body);
    });
}

function bodyLength(body: Buffer | string): number {
  return typeof body === "string" ? Buffer.byteLength(body, "utf8") : body.length;
}

/** The custom CA besides Node's bundled roots: a T-VAN may move to a public CA without a config change. */
function withSystemRoots(ca: string): string[] {
  return [...rootCertificates, ca];
}

async function readBody(res: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const declared = Number(res.headers["content-length"]);
  if (Number.isFinite(declared) && declared > max) {
    res.destroy();
    return undefined;
  }
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max) {
      res.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
