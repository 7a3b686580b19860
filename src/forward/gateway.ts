/**
 * The authority gateway (design.md "The authority gateway"): the forwarder's only view of a T-VAN. Real T-VAN
 * APIs all differ (spec §8, addendum §7), so each partner is an adapter behind {@link AuthorityGateway}; the
 * forwarder never changes for a new one.
 *
 * This file holds the interface, the outcome table (HTTP status / transport failure → outcome, as data) and the
 * `http-xml` adapter for the generic T-VAN-style REST API of the spec §8 mock proposal (also what the sandbox
 * speaks):
 *
 * - `POST {base}/auth/login` `{ username, password }` → `{ token, expiresAt }`; bearer token on every call,
 *   re-login on 401 or shortly before `expiresAt`;
 * - `POST {base}/v1/messages`, `Content-Type: application/xml`, body = the exact TDiep bytes → 2xx taken,
 *   409 duplicate MTDiep;
 * - `GET {base}/v1/messages/{MTDiep}/replies` → `{ replies: ["<TDiep>…</TDiep>", …] }`, 404 unknown MTDiep.
 *
 * Fault attribution (`side`): `theirs` only when the T-VAN answered with an HTTP status that says the fault is
 * on its side (5xx, 408, 429). Without an HTTP answer (DNS, refused, reset, TLS, timeout) we cannot prove whose
 * fault it was, so it is `ours`; the attempts table then never claims an authority outage we did not observe.
 * This matters for the late-sending rules of spec §7.4 (tax-system fault vs. our own).
 */
import type { Clock } from "../shared/clock.js";
import { systemClock } from "../shared/clock.js";
import { type ParseReplyResult, parseReply } from "./replies.js";

/** Whose fault a failed call was. */
export type Side = "ours" | "theirs";

/** One HTTP call made while serving a gateway method, so the forwarder can keep an attempt row per call. */
export interface GatewayCall {
  readonly kind: "login" | "submit" | "replies";
  /** Epoch ms at the start of the call. */
  readonly at: number;
  readonly durationMs: number;
  readonly httpStatus?: number | undefined;
  /** The outcome word of the table row that matched (`accepted`, `retry`, `token` …). */
  readonly outcome: string;
  readonly side?: Side | undefined;
  readonly detail: string;
}

interface Traced {
  /** Every HTTP call made (logins included), in order. */
  readonly calls: readonly GatewayCall[];
}

/** What happened to one POST of a TDiep. */
export type SubmitOutcome = Traced &
  (
    | { readonly kind: "accepted"; readonly httpStatus: number }
    /** The T-VAN already has this MTDiep: an earlier send got through. Counts as submitted. */
    | { readonly kind: "duplicate"; readonly httpStatus: number; readonly detail: string }
    /** Refused for good (4xx with a reason): resending the same bytes cannot help. */
    | { readonly kind: "rejected"; readonly httpStatus: number; readonly reason: string }
    /**
     * Try again later. `maybeReceived`: the T-VAN may have taken it despite the failure (timeout, reset, 5xx),
     * so look the MTDiep up before sending again (design.md invariant 6).
     */
    | {
        readonly kind: "retry";
        readonly side: Side;
        readonly cause: string;
        readonly httpStatus?: number | undefined;
        readonly maybeReceived: boolean;
      }
  );

/** One reply as fetched: exact bytes plus the parse result. */
export interface FetchedReply {
  readonly raw: Buffer;
  readonly parsed: ParseReplyResult;
}

/** What asking for the replies to an MTDiep gave. */
export type ReplyFetch = Traced &
  /** The T-VAN knows the MTDiep; these are the replies so far (possibly none yet). */
  (
    | { readonly kind: "replies"; readonly replies: readonly FetchedReply[] }
    /** The T-VAN has never seen this MTDiep (404). */
    | { readonly kind: "unknown" }
    | { readonly kind: "retry"; readonly side: Side; readonly cause: string; readonly httpStatus?: number | undefined }
  );

/** The forwarder's view of the tax authority (via a T-VAN). */
export interface AuthorityGateway {
  /** Sends one TDiep, byte for byte. Never throws for network or HTTP trouble: that is an outcome. */
  submit(batch: { readonly mtdiep: string; readonly xml: Buffer }): Promise<SubmitOutcome>;
  /** Fetches every reply to `mtdiep` so far. Never throws for network or HTTP trouble. */
  replies(mtdiep: string): Promise<ReplyFetch>;
}

// ---------------------------------------------------------------------------------------------------------------
// The outcome table

/** Transport failures, named after what node's fetch reports (error `cause.code`, abort reasons). */
export type TransportFailure =
  | "timeout"
  | "dns"
  | "refused"
  | "reset"
  | "tls"
  | "network"
  | "stopped"
  | "too-large"
  | "bad-body";

/** What a row of the table decides. */
export type Verdict = "accepted" | "duplicate" | "rejected" | "retry" | "relogin" | "replies" | "unknown" | "token";

/** One row of {@link OUTCOME_TABLE}. */
export interface OutcomeRule {
  readonly call: "login" | "submit" | "replies" | "any";
  /** An HTTP status range (inclusive) or a transport failure. */
  readonly on: { readonly status: readonly [number, number] } | { readonly failure: TransportFailure };
  readonly verdict: Verdict;
  /** For `retry`: whose fault (see the file comment for the rule). */
  readonly side?: Side;
  /** For a failed submit: the T-VAN may have taken the message anyway. */
  readonly maybeReceived?: boolean;
  /** Why, for readers and for the attempt detail. */
  readonly why: string;
}

/**
 * First matching row wins. Written as data so it can be read, reviewed and tested as a whole
 * (test/forward/gateway.test.ts walks it).
 */
export const OUTCOME_TABLE: readonly OutcomeRule[] = [
  // Login (spec §8 mock: POST /auth/login → { token, expiresAt }).
  { call: "login", on: { status: [200, 299] }, verdict: "token", why: "đăng nhập thành công" },
  {
    call: "login",
    on: { failure: "bad-body" },
    verdict: "retry",
    side: "theirs",
    why: "T-VAN trả token không đọc được",
  },
  { call: "login", on: { status: [400, 403] }, verdict: "retry", side: "ours", why: "sai tên đăng nhập hoặc mật khẩu" },
  // Submit (POST /v1/messages).
  { call: "submit", on: { status: [200, 299] }, verdict: "accepted", why: "T-VAN đã nhận thông điệp để xử lý" },
  { call: "submit", on: { status: [409, 409] }, verdict: "duplicate", why: "MTDiep đã tồn tại: lần gửi trước đã tới" },
  { call: "submit", on: { status: [401, 401] }, verdict: "relogin", why: "token hết hạn hoặc bị thu hồi" },
  { call: "submit", on: { status: [403, 403] }, verdict: "retry", side: "ours", why: "tài khoản không được phép gửi" },
  {
    call: "submit",
    on: { status: [408, 408] },
    verdict: "retry",
    side: "theirs",
    maybeReceived: true,
    why: "T-VAN hết thời gian chờ",
  },
  { call: "submit", on: { status: [429, 429] }, verdict: "retry", side: "theirs", why: "T-VAN yêu cầu gửi chậm lại" },
  { call: "submit", on: { status: [400, 499] }, verdict: "rejected", why: "T-VAN từ chối thông điệp" },
  {
    call: "submit",
    on: { status: [500, 599] },
    verdict: "retry",
    side: "theirs",
    maybeReceived: true,
    why: "lỗi phía T-VAN",
  },
  // Replies (GET /v1/messages/{MTDiep}/replies).
  { call: "replies", on: { status: [200, 200] }, verdict: "replies", why: "danh sách phản hồi" },
  { call: "replies", on: { status: [404, 404] }, verdict: "unknown", why: "T-VAN chưa từng nhận MTDiep này" },
  { call: "replies", on: { status: [401, 401] }, verdict: "relogin", why: "token hết hạn hoặc bị thu hồi" },
  { call: "replies", on: { failure: "bad-body" }, verdict: "retry", side: "theirs", why: "danh sách phản hồi hỏng" },
  { call: "replies", on: { status: [408, 408] }, verdict: "retry", side: "theirs", why: "T-VAN hết thời gian chờ" },
  { call: "replies", on: { status: [429, 429] }, verdict: "retry", side: "theirs", why: "T-VAN yêu cầu gửi chậm lại" },
  { call: "replies", on: { status: [400, 499] }, verdict: "retry", side: "ours", why: "yêu cầu tra cứu bị từ chối" },
  // Any call: server errors and transport failures.
  { call: "any", on: { status: [500, 599] }, verdict: "retry", side: "theirs", why: "lỗi phía T-VAN" },
  {
    call: "any",
    on: { failure: "timeout" },
    verdict: "retry",
    side: "ours",
    maybeReceived: true,
    why: "hết thời gian chờ trả lời",
  },
  {
    call: "any",
    on: { failure: "reset" },
    verdict: "retry",
    side: "ours",
    maybeReceived: true,
    why: "kết nối bị ngắt giữa chừng",
  },
  { call: "any", on: { failure: "dns" }, verdict: "retry", side: "ours", why: "không phân giải được tên máy chủ" },
  { call: "any", on: { failure: "refused" }, verdict: "retry", side: "ours", why: "không kết nối được tới T-VAN" },
  { call: "any", on: { failure: "tls" }, verdict: "retry", side: "ours", why: "lỗi TLS/chứng thư máy chủ" },
  { call: "any", on: { failure: "network" }, verdict: "retry", side: "ours", maybeReceived: true, why: "lỗi mạng" },
  { call: "any", on: { failure: "stopped" }, verdict: "retry", side: "ours", maybeReceived: true, why: "đang dừng" },
  {
    call: "any",
    on: { failure: "too-large" },
    verdict: "retry",
    side: "theirs",
    maybeReceived: true,
    why: "câu trả lời quá lớn",
  },
  {
    call: "any",
    on: { status: [100, 599] },
    verdict: "retry",
    side: "theirs",
    maybeReceived: true,
    why: "mã HTTP không mong đợi",
  },
];

/** The first row of {@link OUTCOME_TABLE} that matches. */
export function classify(
  call: "login" | "submit" | "replies",
  event: { readonly status: number } | { readonly failure: TransportFailure },
): OutcomeRule {
  for (const rule of OUTCOME_TABLE) {
    if (rule.call !== "any" && rule.call !== call) continue;
    if ("status" in event) {
      if ("status" in rule.on && event.status >= rule.on.status[0] && event.status <= rule.on.status[1]) return rule;
    } else if ("failure" in rule.on && rule.on.failure === event.failure) return rule;
  }
  // Unreachable for statuses 100..599 and every failure (the table's last row); a status outside is odd.
  return { call: "any", on: { status: [0, 999] }, verdict: "retry", side: "theirs", maybeReceived: true, why: "?" };
}

const NET_CODES: Readonly<Record<string, TransportFailure>> = {
  ENOTFOUND: "dns",
  EAI_AGAIN: "dns",
  ECONNREFUSED: "refused",
  EHOSTUNREACH: "refused",
  ENETUNREACH: "refused",
  ECONNRESET: "reset",
  EPIPE: "reset",
  UND_ERR_SOCKET: "reset",
  UND_ERR_CLOSED: "reset",
  ETIMEDOUT: "timeout",
  UND_ERR_CONNECT_TIMEOUT: "timeout",
  UND_ERR_HEADERS_TIMEOUT: "timeout",
  UND_ERR_BODY_TIMEOUT: "timeout",
};

/** Names the transport failure behind an error thrown by `fetch` (or by reading its body). */
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
  if (/CERT|TLS|SSL|SELF_SIGNED|UNABLE_TO_VERIFY/i.test(code)) return { failure: "tls", cause };
  if (e?.name === "AbortError") return { failure: "timeout", cause };
  return { failure: "network", cause };
}

// ---------------------------------------------------------------------------------------------------------------
// The http-xml adapter

/** Configuration of the `http-xml` adapter. */
export interface HttpXmlGatewayConfig {
  /** Base URL, e.g. `https://tvan.example.vn/api` (no trailing slash needed). */
  readonly baseUrl: string;
  readonly username: string;
  /** Read from a file or the environment by the caller; never logged. */
  readonly password: string;
  /** Per request, headers and body included. Default 30 s. */
  readonly timeoutMs?: number;
  /** Re-login this long before the token's `expiresAt`. Default 30 s. */
  readonly tokenSkewMs?: number;
  /** Largest response body read (the replies list). Default 16 MiB. */
  readonly maxResponseBytes?: number;
  /** Largest single reply parsed. Default 4 MiB. */
  readonly maxReplyBytes?: number;
  readonly clock?: Clock;
  /** Aborts in-flight calls when the daemon stops. */
  readonly signal?: AbortSignal;
}

interface Token {
  readonly value: string;
  readonly expiresAt: number;
}

/** One HTTP exchange: a status and body, or a transport failure. */
interface Exchange {
  readonly at: number;
  readonly durationMs: number;
  readonly status?: number | undefined;
  readonly failure?: TransportFailure | undefined;
  readonly body: Buffer;
  /** Transport error text, or an excerpt of a non-2xx body. */
  readonly cause: string;
}

function eventOf(x: Exchange): { status: number } | { failure: TransportFailure } {
  return x.failure ? { failure: x.failure } : { status: x.status ?? 0 };
}

/** Creates the generic REST + XML T-VAN adapter (also the one used against the sandbox). */
export function createHttpXmlGateway(config: HttpXmlGatewayConfig): AuthorityGateway {
  const base = config.baseUrl.replace(/\/+$/, "");
  const clock = config.clock ?? systemClock;
  const timeoutMs = config.timeoutMs ?? 30_000;
  const skewMs = config.tokenSkewMs ?? 30_000;
  const maxResponse = config.maxResponseBytes ?? 16 * 1024 * 1024;
  const maxReply = config.maxReplyBytes ?? 4 * 1024 * 1024;
  let token: Token | undefined;

  async function exchange(
    method: "GET" | "POST",
    path: string,
    headers: Record<string, string>,
    body: Buffer | string | undefined,
  ): Promise<Exchange> {
    const at = clock.now();
    const started = performance.now();
    const elapsed = (): number => performance.now() - started;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = config.signal ? AbortSignal.any([config.signal, timeout]) : timeout;
    try {
      const res = await fetch(`${base}${path}`, { method, headers, body, signal, redirect: "error" });
      const read = await readLimited(res, maxResponse);
      if (read === undefined)
        return {
          at,
          durationMs: elapsed(),
          status: res.status,
          failure: "too-large",
          body: Buffer.alloc(0),
          cause: "",
        };
      const ok = res.status >= 200 && res.status < 300;
      return { at, durationMs: elapsed(), status: res.status, body: read, cause: ok ? "" : describeBody(read) };
    } catch (err) {
      const { failure, cause } = transportFailureOf(err, config.signal);
      return { at, durationMs: elapsed(), failure, body: Buffer.alloc(0), cause };
    }
  }

  function traced(kind: GatewayCall["kind"], x: Exchange, rule: OutcomeRule, detail?: string): GatewayCall {
    return {
      kind,
      at: x.at,
      durationMs: x.durationMs,
      httpStatus: x.status,
      outcome: rule.verdict,
      side: rule.verdict === "retry" ? rule.side : undefined,
      detail: detail ?? (x.cause ? `${rule.why}: ${x.cause}` : rule.why),
    };
  }

  /** Logs in; returns the rule of the failure when it did not work. */
  async function login(calls: GatewayCall[]): Promise<OutcomeRule | undefined> {
    const x = await exchange(
      "POST",
      "/auth/login",
      { "content-type": "application/json", accept: "application/json" },
      JSON.stringify({ username: config.username, password: config.password }),
    );
    let rule = classify("login", eventOf(x));
    if (rule.verdict === "token") {
      const parsed = parseToken(x.body, clock.now());
      if (parsed) token = parsed;
      else rule = classify("login", { failure: "bad-body" });
    }
    calls.push(traced("login", x, rule));
    return rule.verdict === "token" ? undefined : rule;
  }

  /**
   * One authenticated exchange: logs in first when there is no token or it is about to expire, and once more
   * after a 401. `sent` is false when the request never left (login failed).
   */
  async function authed(
    kind: "submit" | "replies",
    method: "GET" | "POST",
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    calls: GatewayCall[],
  ): Promise<{ rule: OutcomeRule; x?: Exchange }> {
    for (let round = 0; ; round++) {
      if (!token || token.expiresAt - skewMs <= clock.now()) {
        const failed = await login(calls);
        if (failed) return { rule: { ...failed, maybeReceived: false } };
      }
      const x = await exchange(method, path, { ...headers, authorization: `Bearer ${(token as Token).value}` }, body);
      const rule = classify(kind, eventOf(x));
      if (rule.verdict !== "relogin") return { rule, x };
      token = undefined;
      calls.push(traced(kind, x, rule));
      // Refused again right after a fresh login: the account, not the token, is the problem.
      if (round > 0) return { rule: { ...rule, verdict: "retry", side: "ours", why: "401 sau khi đăng nhập lại" } };
    }
  }

  return {
    async submit(batch): Promise<SubmitOutcome> {
      const calls: GatewayCall[] = [];
      const { rule, x } = await authed(
        "submit",
        "POST",
        "/v1/messages",
        { "content-type": "application/xml; charset=utf-8", accept: "application/json" },
        batch.xml,
        calls,
      );
      if (x) calls.push(traced("submit", x, rule));
      const status = x?.status ?? 0;
      const detail = x?.cause ? `${rule.why}: ${x.cause}` : rule.why;
      switch (rule.verdict) {
        case "accepted":
          return { kind: "accepted", httpStatus: status, calls };
        case "duplicate":
          return { kind: "duplicate", httpStatus: status, detail, calls };
        case "rejected":
          return { kind: "rejected", httpStatus: status, reason: `HTTP ${status}: ${detail}`, calls };
        default:
          return {
            kind: "retry",
            side: rule.side ?? "ours",
            cause: detail,
            httpStatus: x?.status,
            maybeReceived: rule.maybeReceived ?? false,
            calls,
          };
      }
    },

    async replies(mtdiep): Promise<ReplyFetch> {
      const calls: GatewayCall[] = [];
      const { rule, x } = await authed(
        "replies",
        "GET",
        `/v1/messages/${encodeURIComponent(mtdiep)}/replies`,
        { accept: "application/json" },
        undefined,
        calls,
      );
      if (x && rule.verdict === "replies") {
        const list = parseReplyList(x.body);
        if (list) {
          calls.push(traced("replies", x, rule, `${list.length} phản hồi`));
          return {
            kind: "replies",
            replies: list.map((xml) => {
              const raw = Buffer.from(xml, "utf8");
              return { raw, parsed: parseReply(raw, { maxBytes: maxReply }) };
            }),
            calls,
          };
        }
        const bad = classify("replies", { failure: "bad-body" });
        calls.push(traced("replies", x, bad));
        return { kind: "retry", side: bad.side ?? "theirs", cause: bad.why, httpStatus: x.status, calls };
      }
      if (x) calls.push(traced("replies", x, rule));
      if (rule.verdict === "unknown") return { kind: "unknown", calls };
      const detail = x?.cause ? `${rule.why}: ${x.cause}` : rule.why;
      return { kind: "retry", side: rule.side ?? "ours", cause: detail, httpStatus: x?.status, calls };
    },
  };
}

/** Reads a response body, giving up (undefined) past `max` bytes. */
async function readLimited(res: Response, max: number): Promise<Buffer | undefined> {
  const declared = Number(res.headers.get("content-length"));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel();
    return undefined;
  }
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    total += chunk.length;
    if (total > max) return undefined;
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

/** A short, single-line excerpt of an error body (JSON `error`/`message` when there is one). */
function describeBody(body: Buffer): string {
  const s = body.toString("utf8", 0, Math.min(body.length, 2000));
  try {
    const j = JSON.parse(s) as { error?: unknown; message?: unknown };
    const m = j.error ?? j.message;
    if (typeof m === "string") return m.slice(0, 300);
  } catch {
    // not JSON: fall through to the raw excerpt
  }
  return s.replace(/\s+/g, " ").trim().slice(0, 300);
}

function parseToken(body: Buffer, now: number): Token | undefined {
  try {
    const j = JSON.parse(body.toString("utf8")) as { token?: unknown; expiresAt?: unknown };
    if (typeof j.token !== "string" || j.token === "") return undefined;
    const exp =
      typeof j.expiresAt === "number" ? j.expiresAt : typeof j.expiresAt === "string" ? Date.parse(j.expiresAt) : NaN;
    // No usable expiry: assume a short life and rely on 401 handling.
    return { value: j.token, expiresAt: Number.isFinite(exp) ? exp : now + 60_000 };
  } catch {
    return undefined;
  }
}

function parseReplyList(body: Buffer): string[] | undefined {
  try {
    const j = JSON.parse(body.toString("utf8")) as { replies?: unknown };
    if (!Array.isArray(j.replies) || !j.replies.every((x) => typeof x === "string")) return undefined;
    return j.replies as string[];
  } catch {
    return undefined;
  }
}
