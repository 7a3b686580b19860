/**
 * A local tax-authority sandbox that behaves like a T-VAN (spec §8 "Mock design proposal"): a real `node:http`
 * server on loopback for the demo, tests and benchmarks. State lives in memory. It speaks both shapes real T-VANs
 * use (addendum §7), over the same message store:
 *
 * `http-xml` (bearer login):
 * - `POST /auth/login` `{ username, password }` → `{ token, expiresAt }` (ISO 8601); 401 on bad credentials.
 * - Every other `/v1` route needs `Authorization: Bearer <token>`; 401 when it is missing, unknown or expired.
 * - `POST /v1/messages`: body = the TDiep XML (`application/xml`) or `{ "data": base64 }` (JSON). 202
 *   `{ mtdiep, maGDich }` when taken (replies follow), 409 `{ mtdiep, maGDich, error: "Mã thông điệp đã tồn tại" }`
 *   for an MTDiep seen before (counted, not processed again), 400 when no MTDiep can be read, 413 when too large.
 * - `GET /v1/messages/{MTDiep}/replies` → `{ replies: [xml…] }` (those due by now), 404 for an unknown MTDiep.
 *
 * `http-json-base64` (FPT-like; `Authorization: Basic` with the same account on every call, 401 otherwise):
 * - `POST /ftvan-hddt/hdon/mttien` `{ "base64XML": base64 }` → 200 `{ maGDich, mtdiep }`; 409 `{ maGDich, mtdiep,
 *   maLoi: "TRUNG_MTDIEP", mtaLoi }` for an MTDiep seen before; 400 as above.
 * - `GET /ftvan-hddt/tbao/tcuu/tcuutbao?maGDichTNDLieu=<maGDich>` (or `?mtdiep=<MTDiep>`, the lookup after a lost
 *   answer) → 200 `{ maGDich, mtdiep, dsTBao: [...] }`: each reply due by now as `{ loaiTBao: 1, mltdiep,
 *   base64XML }`, and for a 204 also the T-VAN's summary, `{ loaiTBao: 8 }` (valid) or `{ loaiTBao: 7,
 *   tbaoKTraDLieu: { dsachLoiKTraDLieu: [{ maLoi, mtaLoi }] } }`; 404 for an unknown id.
 *
 * Faults: one-shot ones injected by tests ({@link SandboxFault}, each used once), and a {@link FaultPlan} drawn
 * request by request (`hoadon sandbox --faults`, see faults.ts). Duplicates are always counted.
 *
 * The authority itself ({@link createSandboxCore}) knows nothing of sockets: {@link startSandbox} serves it over
 * HTTP, the `sandbox` gateway (in-process.ts) calls it directly.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createTlsServer } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { Logger } from "pino";
import { type Clock, systemClock } from "../shared/clock.js";
import { silentLogger } from "../shared/log.js";
import { examine, sniffMtdiep } from "./authority.js";
import { createFaultEngine, type FaultPlan, inWindow, NO_FAULTS } from "./faults.js";

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
  /** Serve HTTPS with this certificate and key (PEM) instead of plain HTTP (tests of `authority.tls.ca`). */
  readonly tls?: { readonly certPem: string; readonly keyPem: string };
  /** Faults drawn request by request (`--faults`). Default none. */
  readonly faults?: FaultPlan;
  /**
   * Check every n-th invoice in full (facts, arithmetic, signature); every invoice still gets the cheap checks
   * (MCCQT format and uniqueness, symbol). Default 1: all in full. The benchmark uses a sample (authority.ts).
   */
  readonly checkEvery?: number;
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
  /** Invoices sent again in a new message after they were accepted (rejected as duplicates, H104). */
  readonly duplicateInvoices: number;
  readonly logins: number;
  /** How many times each `--faults` fault fired. */
  readonly faults: Readonly<Record<string, number>>;
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
  readonly mtdiep: string;
  /** The sandbox's transaction id (`maGDich`) for the JSON API. */
  readonly maGDich: string;
  readonly receivedAt: number;
  /** Filled once the message is examined (right after the answer to its POST). */
  replies: readonly { readonly availableAt: number; readonly xml: string }[];
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

const LTBAO_RE = /<LTBao>(\d+)<\/LTBao>/;
const MLTDIEP_RE = /<MLTDiep>([^<]*)<\/MLTDiep>/;

/** A request as the sandbox sees it, whatever carried it (HTTP, or an in-process call). */
export interface SandboxRequest {
  readonly method: string;
  /** Path and query, e.g. `/v1/messages/ABC/replies`. */
  readonly url: string;
  /** Header names in lower case. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** The body, or undefined when it was longer than {@link SandboxCore.maxBodyBytes}. */
  readonly body: Buffer | undefined;
}

/** What the sandbox does with a request: answer it, or close the connection without an answer. */
export type SandboxResult =
  | { readonly kind: "answer"; readonly status: number; readonly body: unknown }
  | { readonly kind: "drop" };

/**
 * The sandbox authority without its transport: the message store, the checks (authority.ts), the replies and the
 * faults. The HTTP server ({@link startSandbox}) and the in-process gateway (in-process.ts) both drive it, so they
 * answer alike.
 */
export interface SandboxCore {
  readonly maxBodyBytes: number;
  handle(req: SandboxRequest): Promise<SandboxResult>;
  /** Inside a `down` window of the fault plan (the sandbox is not listening). */
  isDown(): boolean;
  stats(): SandboxStats;
  injectFault(fault: SandboxFault): void;
  expireTokens(): void;
}

/** The sandbox authority, ready to handle requests (no transport; see {@link SandboxCore}). */
export function createSandboxCore(opts: Omit<SandboxOptions, "host" | "port" | "tls">): SandboxCore {
  const clock = opts.clock ?? systemClock;
  const log = (opts.log ?? silentLogger).child({ mod: "sandbox" });
  const replyDelayMs = opts.replyDelayMs ?? 1000;
  const faults = createFaultEngine(opts.faults ?? NO_FAULTS);
  const tokenTtlMs = faults.plan.tokenTtlMs ?? opts.tokenTtlMs ?? 3_600_000;
  const maxBody = opts.maxBodyBytes ?? 4 * 1024 * 1024;
  const startedAt = clock.now();
  const tokens = new Map<string, number>();
  const messages = new Map<string, Message>();
  const byMaGDich = new Map<string, string>();
  const acceptedByMccqt = new Map<string, number>();
  const oneShot: SandboxFault[] = [];
  const basic = `Basic ${Buffer.from(`${opts.credentials.username}:${opts.credentials.password}`).toString("base64")}`;
  const counters = {
    received: 0,
    duplicates: 0,
    malformed: 0,
    refused: 0,
    invoicesAccepted: 0,
    invoicesRejected: 0,
    duplicateInvoices: 0,
    logins: 0,
  };

  function takeFault(route: SandboxRoute): SandboxFault | undefined {
    const i = oneShot.findIndex((f) => f.route === route);
    return i < 0 ? undefined : oneShot.splice(i, 1)[0];
  }

  function bearerOk(req: SandboxRequest): boolean {
    const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
    const exp = m?.[1] ? tokens.get(m[1]) : undefined;
    return exp !== undefined && exp > clock.now();
  }

  function basicOk(req: SandboxRequest): boolean {
    const got = Buffer.from(req.headers.authorization ?? "");
    const want = Buffer.from(basic);
    return got.length === want.length && timingSafeEqual(got, want);
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

  /**
   * Takes one TDiep (either API): the message it is filed under, or the answer that refuses it. Like a T-VAN, it
   * takes first and checks after answering: a message whose MTDiep can be read is filed at once and examined right
   * after the answer goes out (its replies appear then), so the sender is not kept waiting while it is checked.
   * One that cannot be filed without reading it is examined first (400 when no MTDiep can be read at all).
   */
  function take(xml: Buffer): { kind: "taken" | "duplicate"; message: Message } | { kind: "refused"; answer: Answer } {
    // Duplicate check first and without processing: the MTDiep is the sender's idempotency key.
    const sniffed = sniffMtdiep(xml.toString("utf8", 0, Math.min(xml.length, 4096)));
    const known = sniffed ? messages.get(sniffed) : undefined;
    if (known) {
      counters.duplicates += 1;
      log.info({ mtdiep: known.mtdiep }, "duplicate message");
      return { kind: "duplicate", message: known };
    }
    const receivedAt = clock.now();
    if (sniffed === undefined) {
      const exam = check(xml, receivedAt);
      if (exam.kind === "unaddressable")
        return { kind: "refused", answer: { status: 400, body: { error: exam.reason } } };
      const again = messages.get(exam.mtdiep);
      if (again) {
        counters.duplicates += 1;
        return { kind: "duplicate", message: again };
      }
      const message = file(exam.mtdiep, receivedAt);
      settle(message, exam);
      return { kind: "taken", message };
    }
    const message = file(sniffed, receivedAt);
    setImmediate(() => {
      try {
        const exam = check(xml, receivedAt);
        if (exam.kind === "unaddressable") {
          counters.malformed += 1;
          log.warn({ mtdiep: sniffed, reason: exam.reason }, "message filed but not readable");
          return;
        }
        if (exam.mtdiep !== sniffed) log.warn({ filed: sniffed, read: exam.mtdiep }, "MTDiep read differs");
        settle(message, exam);
      } catch (err) {
        log.error({ err, mtdiep: sniffed }, "examination failed");
      }
    });
    return { kind: "taken", message };
  }

  function check(xml: Buffer, now: number): ReturnType<typeof examine> {
    return examine(xml, {
      now,
      replyDelayMs,
      trustedCertPem: opts.trustedCertPem,
      isTaken: (mccqt) => acceptedByMccqt.has(mccqt),
      ...(opts.checkEvery !== undefined ? { checkEvery: opts.checkEvery } : {}),
    });
  }

  /** Files a new message under `mtdiep` (no replies yet). */
  function file(mtdiep: string, receivedAt: number): Message {
    const message: Message = {
      mtdiep,
      maGDich: randomBytes(10).toString("hex").toUpperCase(),
      receivedAt,
      replies: [],
    };
    messages.set(mtdiep, message);
    byMaGDich.set(message.maGDich, mtdiep);
    counters.received += 1;
    log.info({ mtdiep, maGDich: message.maGDich }, "message taken");
    return message;
  }

  /** Records what the examination found and makes its replies visible (their delays count from receipt). */
  function settle(message: Message, exam: Extract<ReturnType<typeof examine>, { kind: "answered" }>): void {
    const dropResult = faults.no204();
    message.replies = exam.replies
      .filter((r) => !(dropResult && MLTDIEP_RE.exec(r.xml)?.[1] === "204"))
      .map((r) => ({ availableAt: message.receivedAt + r.afterMs, xml: r.xml }));
    if (exam.verdict === "malformed") counters.malformed += 1;
    if (exam.verdict === "envelope" || exam.verdict === "signature") counters.refused += 1;
    for (const m of exam.acceptedMccqts) acceptedByMccqt.set(m, (acceptedByMccqt.get(m) ?? 0) + 1);
    counters.invoicesAccepted += exam.acceptedMccqts.length;
    counters.invoicesRejected += exam.rejectedInvoices;
    counters.duplicateInvoices += exam.duplicateMccqts;
    log.info(
      {
        mtdiep: message.mtdiep,
        verdict: exam.verdict,
        accepted: exam.acceptedMccqts.length,
        rejected: exam.rejectedInvoices,
        no204: dropResult || undefined,
      },
      "message examined",
    );
  }

  function submitXml(req: SandboxRequest, body: Buffer): Answer {
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
    const t = take(xml);
    if (t.kind === "refused") return t.answer;
    const ids = { mtdiep: t.message.mtdiep, maGDich: t.message.maGDich };
    return t.kind === "taken"
      ? { status: 202, body: ids }
      : { status: 409, body: { ...ids, error: "Mã thông điệp đã tồn tại" } };
  }

  function submitJson(body: Buffer): Answer {
    let xml: Buffer;
    try {
      const j = JSON.parse(body.toString("utf8")) as { base64XML?: unknown };
      if (typeof j.base64XML !== "string") throw new TypeError("base64XML");
      xml = Buffer.from(j.base64XML, "base64");
    } catch {
      return { status: 400, body: { maLoi: "DL_SAI", mtaLoi: 'Thân JSON phải là { "base64XML": base64 của TDiep }' } };
    }
    const t = take(xml);
    if (t.kind === "refused") {
      const error = (t.answer.body as { error?: string }).error ?? "";
      return { status: t.answer.status, body: { maLoi: "DL_SAI", mtaLoi: error } };
    }
    const ids = { maGDich: t.message.maGDich, mtdiep: t.message.mtdiep };
    return t.kind === "taken"
      ? { status: 200, body: ids }
      : { status: 409, body: { ...ids, maLoi: "TRUNG_MTDIEP", mtaLoi: "Mã thông điệp đã tồn tại" } };
  }

  function due(m: Message): string[] {
    const now = clock.now();
    return m.replies.filter((r) => r.availableAt <= now).map((r) => r.xml);
  }

  function repliesXml(mtdiep: string): Answer {
    const m = messages.get(mtdiep);
    if (!m) return { status: 404, body: { error: "Không tìm thấy thông điệp" } };
    return { status: 200, body: { replies: due(m) } };
  }

  function repliesJson(url: URL): Answer {
    const byId = url.searchParams.get("maGDichTNDLieu");
    const mtdiep = byId !== null ? byMaGDich.get(byId) : (url.searchParams.get("mtdiep") ?? undefined);
    const m = mtdiep === undefined ? undefined : messages.get(mtdiep);
    if (!m) return { status: 404, body: { maLoi: "KHONG_TIM_THAY", mtaLoi: "Không tìm thấy giao dịch" } };
    const dsTBao: unknown[] = [];
    for (const xml of due(m)) {
      const mltdiep = MLTDIEP_RE.exec(xml)?.[1] ?? "";
      dsTBao.push({ loaiTBao: 1, mltdiep, base64XML: Buffer.from(xml, "utf8").toString("base64") });
      if (mltdiep === "204") dsTBao.push(summary204(xml));
    }
    return { status: 200, body: { maGDich: m.maGDich, mtdiep: m.mtdiep, dsTBao } };
  }

  /** Answers the request with `answer` after the plan's latency, unless a fault loses or holds the answer. */
  async function answerWith(route: SandboxRoute, answer: Answer, processed: boolean): Promise<SandboxResult> {
    const after = processed ? faults.after(route) : undefined;
    const wait = faults.latencyMs(route) + (after?.kind === "timeout" ? after.holdMs : 0);
    if (after?.kind === "drop") {
      log.info({ route }, "fault: answer dropped after processing");
      return { kind: "drop" };
    }
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    if (after?.kind === "ghost") {
      log.info({ route }, "fault: 500 after processing");
      return { kind: "answer", status: 500, body: { error: "Lỗi giả lập sau khi đã xử lý" } };
    }
    return { kind: "answer", ...answer };
  }

  async function handle(req: SandboxRequest): Promise<SandboxResult> {
    const url = new URL(req.url, "http://sandbox");
    const repliesMatch = /^\/v1\/messages\/([^/]+)\/replies$/.exec(url.pathname);
    const post = req.method === "POST";
    const json = url.pathname.startsWith("/ftvan-hddt/");
    const route: SandboxRoute | undefined =
      post && url.pathname === "/auth/login"
        ? "login"
        : post && (url.pathname === "/v1/messages" || url.pathname === "/ftvan-hddt/hdon/mttien")
          ? "submit"
          : req.method === "GET" && (repliesMatch || url.pathname === "/ftvan-hddt/tbao/tcuu/tcuutbao")
            ? "replies"
            : undefined;
    if (!route) return { kind: "answer", status: 404, body: { error: "Không có đường dẫn này" } };
    const body = req.body;
    if (body === undefined)
      return { kind: "answer", status: 413, body: { error: `Thân yêu cầu vượt ${maxBody} byte` } };
    const fault = takeFault(route);
    if (fault?.kind === "drop") {
      log.info({ route }, "fault: connection dropped");
      return { kind: "drop" };
    }
    if (fault?.kind === "status") {
      log.info({ route, status: fault.status }, "fault: status");
      return { kind: "answer", status: fault.status, body: { error: "Lỗi giả lập" } };
    }
    const before = faults.before(route, clock.now() - startedAt);
    if (before) {
      log.info({ route, status: before.status, fault: before.why }, "fault: answered without processing");
      const text = before.why === "outage" ? "Hệ thống T-VAN đang bảo trì (giả lập)" : "Lỗi máy chủ (giả lập)";
      return answerWith(route, { status: before.status, body: { error: text } }, false);
    }
    let answer: Answer;
    if (route === "login") answer = login(body);
    else if (json ? !basicOk(req) : !bearerOk(req))
      answer = { status: 401, body: { error: "Phiên đăng nhập không hợp lệ hoặc đã hết hạn" } };
    else if (route === "submit") answer = json ? submitJson(body) : submitXml(req, body);
    else answer = json ? repliesJson(url) : repliesXml(decodeURIComponent(repliesMatch?.[1] ?? ""));
    if (fault?.kind === "delay-response") {
      log.info({ route, ms: fault.ms }, "fault: answer delayed");
      await new Promise((r) => setTimeout(r, fault.ms));
    }
    return answerWith(route, answer, true);
  }

  // `down` windows run on real time (a clock cannot close a listening socket), from when the sandbox was made.
  const t0 = performance.now();
  return {
    maxBodyBytes: maxBody,
    handle,
    isDown: () => faults.plan.windows.some((w) => w.kind === "down" && inWindow(w, performance.now() - t0)),
    stats(): SandboxStats {
      return { ...counters, acceptedByMccqt: Object.fromEntries(acceptedByMccqt), faults: faults.counts() };
    },
    injectFault(fault: SandboxFault): void {
      oneShot.push(fault);
    },
    expireTokens(): void {
      tokens.clear();
    },
  };
}

/** Starts the sandbox and resolves once it listens. */
export async function startSandbox(opts: SandboxOptions): Promise<Sandbox> {
  const log = (opts.log ?? silentLogger).child({ mod: "sandbox" });
  const core = createSandboxCore(opts);
  const downPlanned = (opts.faults ?? NO_FAULTS).windows.some((w) => w.kind === "down");

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, core.maxBodyBytes);
    const result = await core.handle({
      method: req.method ?? "GET",
      url: req.url ?? "/",
      headers: { authorization: req.headers.authorization, "content-type": req.headers["content-type"] },
      body,
    });
    if (result.kind === "drop") req.socket.destroy();
    else send(res, result);
  }

  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, "sandbox handler failed");
      if (!res.headersSent) send(res, { status: 500, body: { error: "Lỗi hộp cát" } });
      else res.destroy();
    });
  };
  const server = opts.tls
    ? createTlsServer({ cert: opts.tls.certPem, key: opts.tls.keyPem }, onRequest)
    : createServer(onRequest);
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  const host = opts.host ?? "127.0.0.1";
  const listen = (port: number): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => {
        server.off("error", reject);
        resolve();
      });
    });
  await listen(opts.port ?? 0);
  const { port } = server.address() as AddressInfo;
  const url = `${opts.tls ? "https" : "http"}://${host}:${port}`;
  log.info({ url }, "sandbox listening");

  // `down` windows: the listening socket is closed and opened again.
  let closed = false;
  let down = false;
  const downTimer = downPlanned
    ? setInterval(() => {
        const want = core.isDown();
        if (closed || want === down) return;
        down = want;
        if (want) {
          log.info("fault: down (not listening)");
          server.close();
          for (const s of sockets) s.destroy();
        } else {
          log.info("fault: back up");
          listen(port).catch((err: unknown) => log.error({ err }, "sandbox could not listen again"));
        }
      }, 50)
    : undefined;

  return {
    url,
    port,
    close(): Promise<void> {
      closed = true;
      if (downTimer) clearInterval(downTimer);
      return new Promise((resolve) => {
        if (!server.listening) {
          for (const s of sockets) s.destroy();
          resolve();
          return;
        }
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
    stats: () => core.stats(),
    injectFault: (fault) => core.injectFault(fault),
    expireTokens: () => core.expireTokens(),
  };
}

/** The T-VAN's JSON summary of a 204 (addendum §5): 8 valid, 7/9 with the errors. */
function summary204(xml: string): unknown {
  const ltbao = Number(LTBAO_RE.exec(xml)?.[1] ?? "0");
  if (ltbao === 2) return { loaiTBao: 8 };
  const errors = [...xml.matchAll(/<LDo>[\s\S]*?<MLoi>([^<]*)<\/MLoi>[\s\S]*?<MTLoi>([^<]*)<\/MTLoi>/g)].map((m) => ({
    maLoi: m[1],
    mtaLoi: unescapeXml(m[2] ?? ""),
  }));
  return { loaiTBao: ltbao === 9 ? 9 : 7, tbaoKTraDLieu: { dsachLoiKTraDLieu: errors } };
}

function unescapeXml(s: string): string {
  return s
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&amp;", "&");
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
