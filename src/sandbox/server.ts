/**
 * A local tax-authority sandbox that behaves like a T-VAN (spec §8 "Mock design proposal"): a real `node:http`
 * server on loopback for the demo, tests and benchmarks. State lives in memory.
 *
 * - `POST /auth/login` `{ username, password }` → `{ token, expiresAt }` (ISO 8601); 401 on bad credentials.
 * - Every other route needs `Authorization: Bearer <token>`; 401 when it is missing, unknown or expired.
 * - `POST /v1/messages`: body = the TDiep XML (`application/xml`) or `{ "data": base64 }` (JSON). 202
 *   `{ mtdiep }` when taken (replies follow), 409 `{ mtdiep, error: "Mã thông điệp đã tồn tại" }` for an MTDiep
 *   seen before (counted, not processed again), 400 when no MTDiep can be read, 413 when too large.
 * - `GET /v1/messages/{MTDiep}/replies` → `{ replies: [xml…] }` (those due by now), 404 for an unknown MTDiep.
 *
 * Faults slot in between routing and handling (see {@link SandboxFault}); each injected fault is used once.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { type Clock, systemClock } from "../shared/clock.js";
import { silentLogger } from "../shared/log.js";
import { examine, sniffMtdiep } from "./authority.js";

/** Options of {@link startSandbox}. */
export interface SandboxOptions {
  /** Interface to bind. Default `127.0.0.1`; the sandbox is not meant to be reachable from elsewhere. */
  readonly host?: string;
  /** Port; 0 picks a free one (see `url`). */
  readonly port?: number;
  /** The 999 is available at once, the 204 this long after receipt. Default 1000 ms. */
  readonly replyDelayMs?: number;
  /** When set, CKSNNT (and invoice signatures) must verify against this certificate. */
  readonly trustedCertPem?: string;
  /** The one account the sandbox accepts. */
  readonly credentials: { readonly username: string; readonly password: string };
  /** Token lifetime. Default 1 h. */
  readonly tokenTtlMs?: number;
  /** Largest request body. Default 4 MiB (a 206 is ≤ 2 MB, addendum §1d). */
  readonly maxBodyBytes?: number;
  readonly log?: Logger;
  readonly clock?: Clock;
}

/** Which route a fault applies to. */
export type SandboxRoute = "login" | "submit" | "replies";

/**
 * A one-shot fault. `delay-response` processes the request normally and answers late (longer than the client's
 * timeout = a lost answer: the message arrived, the sender does not know); `status` answers with that HTTP status
 * without processing; `drop` closes the connection without processing or answering.
 */
export type SandboxFault =
  | { readonly route: SandboxRoute; readonly kind: "delay-response"; readonly ms: number }
  | { readonly route: SandboxRoute; readonly kind: "status"; readonly status: number }
  | { readonly route: SandboxRoute; readonly kind: "drop" };

/** Counters for tests and the demo summary. */
export interface SandboxStats {
  /** Messages taken and processed (duplicates not included). */
  readonly received: number;
  /** POSTs of an MTDiep already taken. */
  readonly duplicates: number;
  /** Messages answered with -1. */
  readonly malformed: number;
  /** Messages answered with 999 TTTNhan=1 or -2. */
  readonly refused: number;
  readonly invoicesAccepted: number;
  readonly invoicesRejected: number;
  /** How many times each MCCQT was accepted (never more than once: a second one is rejected as a duplicate). */
  readonly acceptedByMccqt: Readonly<Record<string, number>>;
  readonly logins: number;
}

/** A running sandbox. */
export interface Sandbox {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops open connections. State is lost. */
  close(): Promise<void>;
  stats(): SandboxStats;
  /** Queues a one-shot fault. */
  injectFault(fault: SandboxFault): void;
  /** Invalidates every issued token (the next call gets 401). */
  expireTokens(): void;
}

interface Message {
  readonly receivedAt: number;
  readonly replies: readonly { readonly availableAt: number; readonly xml: string }[];
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

/** Starts the sandbox and resolves once it listens. */
export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const clock = opts.clock ?? systemClock;
  const log = (opts.log ?? silentLogger).child({ mod: "sandbox" });
  const replyDelayMs = opts.replyDelayMs ?? 1000;
  const tokenTtlMs = opts.tokenTtlMs ?? 3_600_000;
  const maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  const tokens = new Map<string, number>();
  const messages = new Map<string, Message>();
  const acceptedByMccqt = new Map<string, number>();
  const faults: SandboxFault[] = [];
  const counters = {
    received: 0,
    duplicates: 0,
    malformed: 0,
    refused: 0,
    invoicesAccepted: 0,
    invoicesRejected: 0,
    logins: 0,
  };

  function takeFault(route: SandboxRoute): SandboxFault | undefined {
    const i = faults.findIndex((f) => f.route === route);
    return i < 0 ? undefined : faults.splice(i, 1)[0];
  }

  function authorised(req: IncomingMessage): boolean {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    const exp = m?.[1] ? tokens.get(m[1]) : undefined;
    return exp !== undefined && exp > clock.now();
  }

  function login(body: Buffer): Answer {
    let creds: { username?: unknown; password?: unknown };
    try {
      creds = JSON.parse(body.toString("utf8")) as typeof creds;
    } catch {
      return { status: 400, body: { error: "Yêu cầu đăng nhập không phải JSON" } };
    }
    if (creds.username !== opts.credentials.username || creds.password !== opts.credentials.password)
      return { status: 401, body: { error: "Sai tên đăng nhập hoặc mật khẩu" } };
    const token = randomBytes(24).toString("base64url");
    const expiresAt = clock.now() + tokenTtlMs;
    tokens.set(token, expiresAt);
    counters.logins += 1;
    return { status: 200, body: { token, expiresAt: new Date(expiresAt).toISOString() } };
  }

  function submit(req: IncomingMessage, body: Buffer): Answer {
    let xml = body;
    if ((req.headers["content-type"] ?? "").includes("json")) {
      try {
        const j = JSON.parse(body.toString("utf8")) as { data?: unknown };
        if (typeof j.data !== "string") throw new TypeError("data");
        xml = Buffer.from(j.data, "base64");
      } catch {
        return { status: 400, body: { error: 'Thân JSON phải là { "data": base64 của TDiep }' } };
      }
    }
    // Duplicate check first and without processing: the MTDiep is the sender's idempotency key.
    const sniffed = sniffMtdiep(xml.toString("utf8", 0, Math.min(xml.length, 4096)));
    if (sniffed && messages.has(sniffed)) {
      counters.duplicates += 1;
      log.info({ mtdiep: sniffed }, "duplicate message");
      return { status: 409, body: { mtdiep: sniffed, error: "Mã thông điệp đã tồn tại" } };
    }
    const now = clock.now();
    const exam = examine(xml, {
      now,
      replyDelayMs,
      trustedCertPem: opts.trustedCertPem,
      isTaken: (mccqt) => acceptedByMccqt.has(mccqt),
    });
    if (exam.kind === "unaddressable") return { status: 400, body: { error: exam.reason } };
    if (messages.has(exam.mtdiep)) {
      counters.duplicates += 1;
      return { status: 409, body: { mtdiep: exam.mtdiep, error: "Mã thông điệp đã tồn tại" } };
    }
    messages.set(exam.mtdiep, {
      receivedAt: now,
      replies: exam.replies.map((r) => ({ availableAt: now + r.afterMs, xml: r.xml })),
    });
    counters.received += 1;
    if (exam.verdict === "malformed") counters.malformed += 1;
    if (exam.verdict === "envelope" || exam.verdict === "signature") counters.refused += 1;
    for (const m of exam.acceptedMccqts) acceptedByMccqt.set(m, (acceptedByMccqt.get(m) ?? 0) + 1);
    counters.invoicesAccepted += exam.acceptedMccqts.length;
    counters.invoicesRejected += exam.rejectedInvoices;
    log.info(
      {
        mtdiep: exam.mtdiep,
        verdict: exam.verdict,
        accepted: exam.acceptedMccqts.length,
        rejected: exam.rejectedInvoices,
      },
      "message received",
    );
    return { status: 202, body: { mtdiep: exam.mtdiep } };
  }

  function replies(mtdiep: string): Answer {
    const m = messages.get(mtdiep);
    if (!m) return { status: 404, body: { error: "Không tìm thấy thông điệp" } };
    const now = clock.now();
    return { status: 200, body: { replies: m.replies.filter((r) => r.availableAt <= now).map((r) => r.xml) } };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://sandbox");
    const repliesMatch = /^\/v1\/messages\/([^/]+)\/replies$/.exec(url.pathname);
    const route: SandboxRoute | undefined =
      req.method === "POST" && url.pathname === "/auth/login"
        ? "login"
        : req.method === "POST" && url.pathname === "/v1/messages"
          ? "submit"
          : req.method === "GET" && repliesMatch
            ? "replies"
            : undefined;
    if (!route) return send(res, { status: 404, body: { error: "Không có đường dẫn này" } });
    const body = await readBody(req, maxBody);
    if (body === undefined) return send(res, { status: 413, body: { error: `Thân yêu cầu vượt ${maxBody} byte` } });
    const fault = takeFault(route);
    if (fault?.kind === "drop") {
      log.info({ route }, "fault: connection dropped");
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "status") {
      log.info({ route, status: fault.status }, "fault: status");
      return send(res, { status: fault.status, body: { error: "Lỗi giả lập" } });
    }
    let answer: Answer;
    if (route === "login") answer = login(body);
    else if (!authorised(req))
      answer = { status: 401, body: { error: "Phiên đăng nhập không hợp lệ hoặc đã hết hạn" } };
    else if (route === "submit") answer = submit(req, body);
    else answer = replies(decodeURIComponent(repliesMatch?.[1] ?? ""));
    if (fault?.kind === "delay-response") {
      log.info({ route, ms: fault.ms }, "fault: answer delayed");
      await new Promise((r) => setTimeout(r, fault.ms));
    }
    send(res, answer);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, "sandbox handler failed");
      if (!res.headersSent) send(res, { status: 500, body: { error: "Lỗi hộp cát" } });
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${opts.host ?? "127.0.0.1"}:${port}`;
  log.info({ url }, "sandbox listening");

  return {
    url,
    port,
    close(): Promise<void> {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    stats(): SandboxStats {
      return { ...counters, acceptedByMccqt: Object.fromEntries(acceptedByMccqt) };
    },
    injectFault(fault: SandboxFault): void {
      faults.push(fault);
    },
    expireTokens(): void {
      tokens.clear();
    },
  };
}

function send(res: ServerResponse, answer: Answer): void {
  if (res.destroyed) return;
  const json = Buffer.from(JSON.stringify(answer.body), "utf8");
  res.writeHead(answer.status, { "content-type": "application/json; charset=utf-8", "content-length": json.length });
  res.end(json);
}

/** The request body, or undefined past `max` bytes. */
async function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > max) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
