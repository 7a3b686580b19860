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
 * Fault attribution (`side`): `theirs` only when the T-VAN showed itself at fault: it answered with an HTTP
 * status that says so (5xx, 408, 429), an unusable body, or it took the connection and the whole request and then
 * gave no answer in time (`no-answer`, "timeout after acceptance"). Without that (DNS, refused, reset, TLS, a
 * connect timeout) we cannot prove whose fault it was, so it is `ours`; the attempts table then never claims an
 * authority outage we did not observe. This matters for the late-sending rules of spec §7.4 (tax-system fault vs.
 * our own); `hoadon audit outages` builds its evidence from these rows.
 */
import type { Clock } from "../shared/clock.js";
import { systemClock } from "../shared/clock.js";
import { createHttpClient, type HttpClient, type HttpExchange, type TransportFailure } from "./http.js";
import { type ParseReplyResult, parseReply } from "./replies.js";

export { describeBody, type TransportFailure, transportFailureOf } from "./http.js";

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
  /** `origin + path` called (no query string). */
  readonly endpoint?: string | undefined;
  /** The transport failure, when there was no usable HTTP answer. */
  readonly failure?: TransportFailure | undefined;
}

interface Traced {
  /** Every HTTP call made (logins included), in order. */
  readonly calls: readonly GatewayCall[];
}

/** What happened to one POST of a TDiep. */
export type SubmitOutcome = Traced &
  (
    | {
        readonly kind: "accepted";
        readonly httpStatus: number;
        /** The T-VAN's own id for the message (`maGDich`), when its API polls by it. */
        readonly transportRef?: string | undefined;
      }
    /** The T-VAN already has this MTDiep: an earlier send got through. Counts as submitted. */
    | {
        readonly kind: "duplicate";
        readonly httpStatus: number;
        readonly detail: string;
        readonly transportRef?: string | undefined;
      }
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
  /**
   * Fetches every reply to `mtdiep` so far. `transportRef` is the id the T-VAN gave at submit, for APIs that poll
   * by it (`http-json-base64`). Never throws for network or HTTP trouble.
   */
  replies(mtdiep: string, ref?: { readonly transportRef?: string | undefined }): Promise<ReplyFetch>;
}

// ---------------------------------------------------------------------------------------------------------------
// The outcome table

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
    on: { failure: "no-answer" },
    verdict: "retry",
    side: "theirs",
    maybeReceived: true,
    why: "T-VAN đã nhận kết nối và yêu cầu nhưng không trả lời kịp",
  },
  {
    call: "any",
    on: { failure: "timeout" },
    verdict: "retry",
    side: "ours",
    maybeReceived: true,
    why: "hết thời gian chờ kết nối",
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

/** The table's event for an exchange: its transport failure, else its HTTP status. */
export function eventOf(x: HttpExchange): { status: number } | { failure: TransportFailure } {
  return x.failure ? { failure: x.failure } : { status: x.status ?? 0 };
}

/** The attempt-row view of one exchange and the table row that judged it. */
export function tracedCall(
  kind: GatewayCall["kind"],
  x: HttpExchange,
  rule: OutcomeRule,
  detail?: string,
): GatewayCall {
  return {
    kind,
    at: x.at,
    durationMs: x.durationMs,
    httpStatus: x.status,
    outcome: rule.verdict,
    side: rule.verdict === "retry" ? rule.side : undefined,
    detail: detail ?? (x.cause ? `${rule.why}: ${x.cause}` : rule.why),
    endpoint: x.endpoint,
    failure: x.failure,
  };
}

/**
 * "Maybe received" for a failed submit: the table's word, and only when the whole request left (a message cut off
 * half-way cannot have been processed).
 */
export function maybeReceived(rule: OutcomeRule, x: HttpExchange | undefined): boolean {
  return (rule.maybeReceived ?? false) && (x === undefined || x.sent);
}

/** Settings shared by the HTTP adapters. */
export interface HttpGatewayCommon {
  /** Base URL, e.g. `https://tvan.example.vn/api` (a trailing slash is ignored). */
  readonly baseUrl: string;
  readonly username: string;
  /** Read from a file or the environment by the caller; never logged. */
  readonly password: string;
  /** Per request, connect, headers and body included. Default 30 s. */
  readonly timeoutMs?: number;
  /** Until the connection (and TLS handshake) is up. Default the smaller of 10 s and `timeoutMs`. */
  readonly connectTimeoutMs?: number;
  /** PEM text of the CA that signed the T-VAN's certificate (besides the bundled roots). */
  readonly ca?: string | undefined;
  /** TLS server name when it is not the URL's host. */
  readonly servername?: string | undefined;
  /** Largest response body read (the replies list). Default 16 MiB. */
  readonly maxResponseBytes?: number;
  /** Largest single reply parsed. Default 4 MiB. */
  readonly maxReplyBytes?: number;
  readonly clock?: Clock;
  /** Aborts in-flight calls when the daemon stops. */
  readonly signal?: AbortSignal;
  /** Replaces the HTTP client (tests). */
  readonly http?: HttpClient;
}

/** The HTTP client an adapter uses, from its settings. */
export function httpClientOf(config: HttpGatewayCommon): HttpClient {
  return (
    config.http ??
    createHttpClient({
      clock: config.clock ?? systemClock,
      ...(config.timeoutMs !== undefined ? { timeoutMs: config.timeoutMs } : {}),
      ...(config.connectTimeoutMs !== undefined ? { connectTimeoutMs: config.connectTimeoutMs } : {}),
      ...(config.maxResponseBytes !== undefined ? { maxResponseBytes: config.maxResponseBytes } : {}),
      ca: config.ca,
      servername: config.servername,
      signal: config.signal,
    })
  );
}

// ---------------------------------------------------------------------------------------------------------------
// The http-xml adapter

/** Configuration of the `http-xml` adapter. */
export interface HttpXmlGatewayConfig extends HttpGatewayCommon {
  /** Re-login this long before the token's `expiresAt`. Default 30 s. */
  readonly tokenSkewMs?: number;
}

interface Token {
  readonly value: string;
  readonly expiresAt: number;
}

/** Creates the generic REST + XML T-VAN adapter (also the one used against the sandbox). */
export function createHttpXmlGateway(config: HttpXmlGatewayConfig): AuthorityGateway {
  const base = config.baseUrl.replace(/\/+$/, "");
  const clock = config.clock ?? systemClock;
  const skewMs = config.tokenSkewMs ?? 30_000;
  const maxReply = config.maxReplyBytes ?? 4 * 1024 * 1024;
  const http = httpClientOf(config);
  let token: Token | undefined;

  const exchange = (
    method: "GET" | "POST",
    path: string,
    headers: Record<string, string>,
    body: Buffer | string | undefined,
  ): Promise<HttpExchange> => http({ method, url: `${base}${path}`, headers, body });

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
    calls.push(tracedCall("login", x, rule));
    return rule.verdict === "token" ? undefined : rule;
  }

  /**
   * One authenticated exchange: logs in first when there is no token or it is about to expire, and once more
   * after a 401. No exchange (`x` undefined) when the login failed: the request never left.
   */
  async function authed(
    kind: "submit" | "replies",
    method: "GET" | "POST",
    path: string,
    headers: Record<string, string>,
    body: Buffer | undefined,
    calls: GatewayCall[],
  ): Promise<{ rule: OutcomeRule; x?: HttpExchange }> {
    for (let round = 0; ; round++) {
      if (!token || token.expiresAt - skewMs <= clock.now()) {
        const failed = await login(calls);
        if (failed) return { rule: { ...failed, maybeReceived: false } };
      }
      const x = await exchange(method, path, { ...headers, authorization: `Bearer ${(token as Token).value}` }, body);
      const rule = classify(kind, eventOf(x));
      if (rule.verdict !== "relogin") return { rule, x };
      token = undefined;
      calls.push(tracedCall(kind, x, rule));
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
      if (x) calls.push(tracedCall("submit", x, rule));
      return submitOutcome(rule, x, calls);
    },

    async replies(mtdiep): Promise<ReplyFetch> {
      const calls: GatewayCall[] = [];
      const found = await authed(
        "replies",
        "GET",
        `/v1/messages/${encodeURIComponent(mtdiep)}/replies`,
        { accept: "application/json" },
        undefined,
        calls,
      );
      const { rule } = found;
      // The attempt row names the route, not this one message (so one outage is one endpoint).
      const x = found.x && { ...found.x, endpoint: `${base}/v1/messages/{MTDiep}/replies` };
      if (x && rule.verdict === "replies") {
        const list = parseReplyList(x.body);
        if (list) {
          calls.push(tracedCall("replies", x, rule, `${list.length} phản hồi`));
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
        calls.push({ ...tracedCall("replies", x, bad), failure: "bad-body" });
        return { kind: "retry", side: bad.side ?? "theirs", cause: bad.why, httpStatus: x.status, calls };
      }
      if (x) calls.push(tracedCall("replies", x, rule));
      return repliesFailure(rule, x, calls);
    },
  };
}

/** The {@link SubmitOutcome} for a judged submit exchange (`x` undefined: it never left). */
export function submitOutcome(
  rule: OutcomeRule,
  x: HttpExchange | undefined,
  calls: readonly GatewayCall[],
  transportRef?: string,
): SubmitOutcome {
  const status = x?.status ?? 0;
  const detail = x?.cause ? `${rule.why}: ${x.cause}` : rule.why;
  switch (rule.verdict) {
    case "accepted":
      return { kind: "accepted", httpStatus: status, transportRef, calls };
    case "duplicate":
      return { kind: "duplicate", httpStatus: status, detail, transportRef, calls };
    case "rejected":
      return { kind: "rejected", httpStatus: status, reason: `HTTP ${status}: ${detail}`, calls };
    default:
      return {
        kind: "retry",
        side: rule.side ?? "ours",
        cause: detail,
        httpStatus: x?.status,
        maybeReceived: maybeReceived(rule, x),
        calls,
      };
  }
}

/** The {@link ReplyFetch} for a replies exchange that gave no list (`unknown` or a failure). */
export function repliesFailure(
  rule: OutcomeRule,
  x: HttpExchange | undefined,
  calls: readonly GatewayCall[],
): ReplyFetch {
  if (rule.verdict === "unknown") return { kind: "unknown", calls };
  const detail = x?.cause ? `${rule.why}: ${x.cause}` : rule.why;
  return { kind: "retry", side: rule.side ?? "ours", cause: detail, httpStatus: x?.status, calls };
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
