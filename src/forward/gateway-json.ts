/**
 * The `http-json-base64` adapter: the second shape real T-VANs use (addendum §7, FPT T-VAN as WeTax calls it;
 * addendum §5 for its result wrapping). Basic auth on every call, no login:
 *
 * - `POST {base}{submitPath}` (default `/ftvan-hddt/hdon/mttien`), JSON `{ "base64XML": "<base64 of the TDiep>" }`
 *   → 2xx `{ "maGDich": "<transaction id>", … }`; 409 when the MTDiep was taken before (its `maGDich` in the body
 *   when the T-VAN gives it);
 * - `GET {base}{pollPath}?{pollParam}=<maGDich>` (default `/ftvan-hddt/tbao/tcuu/tcuutbao?maGDichTNDLieu=`) → the
 *   notices so far, each `{ loaiTBao, … }`: `1` carries a raw 999/204 TDiep in base64; `8` says the data is valid;
 *   `7`/`9` list errors in `tbaoKTraDLieu.dsachLoiKTraDLieu[{ maLoi, mtaLoi }]`, `mtaLoi` starting
 *   `KHMSHDon;KHHDon;SHDon;` so they map to invoices (addendum §5). 404 for an unknown id.
 *
 * [U] The exact JSON field names of the answers are not published. The reader accepts the list bare, or under
 * `dsTBao`, `data` or `result`, and the base64 XML under `base64XML`, `xml` or `noiDung`; anything else is a
 * bad body (the T-VAN's side). A poll needs the `maGDich`, which the forwarder stores with the batch. A lookup
 * by MTDiep (after a crash mid-send, before the `maGDich` was stored) uses `lookupParam` when the T-VAN offers one
 * (the sandbox does: `?mtdiep=`); without it the adapter answers "unknown" without calling, the forwarder sends
 * again with the same MTDiep, and the T-VAN's duplicate answer (409, with the `maGDich`) says it already had it.
 */
import {
  type AuthorityGateway,
  classify,
  eventOf,
  type FetchedReply,
  type GatewayCall,
  type HttpGatewayCommon,
  httpClientOf,
  type ReplyFetch,
  repliesFailure,
  type SubmitOutcome,
  submitOutcome,
  tracedCall,
} from "./gateway.js";
import type { HttpExchange } from "./http.js";
import { type ParsedReply, type ParseReplyResult, parseReply, type ReplyError } from "./replies.js";

/** Paths of the JSON API (defaults: FPT T-VAN, addendum §7). */
export interface JsonBase64Paths {
  /** Default `/ftvan-hddt/hdon/mttien`. */
  readonly submitPath?: string;
  /** Default `/ftvan-hddt/tbao/tcuu/tcuutbao`. */
  readonly pollPath?: string;
  /** Query parameter carrying the transaction id. Default `maGDichTNDLieu`. */
  readonly pollParam?: string;
  /** Query parameter for a lookup by MTDiep on the poll path, when the T-VAN offers one [U]. Default none. */
  readonly lookupParam?: string | undefined;
}

/** Configuration of the `http-json-base64` adapter. */
export interface JsonBase64GatewayConfig extends HttpGatewayCommon, JsonBase64Paths {}

/** The default paths (FPT T-VAN). */
export const FPT_PATHS = {
  submitPath: "/ftvan-hddt/hdon/mttien",
  pollPath: "/ftvan-hddt/tbao/tcuu/tcuutbao",
  pollParam: "maGDichTNDLieu",
} as const;

/** Creates the base64-in-JSON, basic-auth T-VAN adapter. */
export function createJsonBase64Gateway(config: JsonBase64GatewayConfig): AuthorityGateway {
  const base = config.baseUrl.replace(/\/+$/, "");
  const http = httpClientOf(config);
  const maxReply = config.maxReplyBytes ?? 4 * 1024 * 1024;
  const submitPath = config.submitPath ?? FPT_PATHS.submitPath;
  const pollPath = config.pollPath ?? FPT_PATHS.pollPath;
  const pollParam = config.pollParam ?? FPT_PATHS.pollParam;
  const auth = `Basic ${Buffer.from(`${config.username}:${config.password}`, "utf8").toString("base64")}`;

  async function poll(query: string, mtdiep: string): Promise<ReplyFetch> {
    const calls: GatewayCall[] = [];
    const x = await http({
      method: "GET",
      url: `${base}${pollPath}?${query}`,
      headers: { authorization: auth, accept: "application/json" },
    });
    const rule = basicAuthRule(classify("replies", eventOf(x)));
    if (rule.verdict === "replies") {
      const notices = readNotices(x.body);
      if (notices) {
        const replies = notices.map((n) => noticeToReply(n, mtdiep, maxReply));
        calls.push(tracedCall("replies", x, rule, `${replies.length} thông báo`));
        return { kind: "replies", replies, calls };
      }
      const bad = classify("replies", { failure: "bad-body" });
      calls.push({ ...tracedCall("replies", x, bad), failure: "bad-body" });
      return { kind: "retry", side: bad.side ?? "theirs", cause: bad.why, httpStatus: x.status, calls };
    }
    calls.push(tracedCall("replies", x, rule));
    return repliesFailure(rule, x, calls);
  }

  return {
    async submit(batch): Promise<SubmitOutcome> {
      const x = await http({
        method: "POST",
        url: `${base}${submitPath}`,
        headers: { authorization: auth, "content-type": "application/json; charset=utf-8", accept: "application/json" },
        body: JSON.stringify({ base64XML: batch.xml.toString("base64") }),
      });
      let rule = basicAuthRule(classify("submit", eventOf(x)));
      const ref = transactionId(x);
      // Taken, but without the id we could poll by: the T-VAN's answer is unusable; the lookup after the retry
      // (or the duplicate answer) finds it.
      if (rule.verdict === "accepted" && ref === undefined) rule = classify("submit", { failure: "bad-body" });
      const call = tracedCall("submit", x, rule, rule.verdict === "accepted" ? `maGDich ${ref}` : undefined);
      return submitOutcome(rule, x, [call], ref);
    },

    async replies(mtdiep, ref): Promise<ReplyFetch> {
      if (ref?.transportRef) return poll(`${pollParam}=${encodeURIComponent(ref.transportRef)}`, mtdiep);
      if (config.lookupParam) return poll(`${config.lookupParam}=${encodeURIComponent(mtdiep)}`, mtdiep);
      // Nothing to ask by: as if the T-VAN had never seen it (the forwarder then sends it again, idempotently).
      return { kind: "unknown", calls: [] };
    },
  };
}

/** Basic auth has no token to refresh: a 401 means the account is wrong (our side). */
function basicAuthRule(rule: ReturnType<typeof classify>): ReturnType<typeof classify> {
  return rule.verdict === "relogin"
    ? { ...rule, verdict: "retry", side: "ours", maybeReceived: false, why: "sai tài khoản T-VAN (Basic auth)" }
    : rule;
}

const REF_FIELDS = ["maGDich", "maGDichTNDLieu", "transactionId", "id"] as const;

/** The T-VAN's transaction id in a submit answer (2xx or 409), if any. */
function transactionId(x: HttpExchange): string | undefined {
  if (x.status === undefined || x.body.length === 0) return undefined;
  try {
    const j = JSON.parse(x.body.toString("utf8")) as Record<string, unknown>;
    const holder = (typeof j.data === "object" && j.data !== null ? j.data : j) as Record<string, unknown>;
    for (const f of REF_FIELDS) {
      const v = holder[f] ?? j[f];
      if ((typeof v === "string" && v !== "") || typeof v === "number") return String(v);
    }
  } catch {
    // not JSON
  }
  return undefined;
}

/** One notice of a poll answer. */
export interface FptNotice {
  readonly loaiTBao?: unknown;
  readonly base64XML?: unknown;
  readonly xml?: unknown;
  readonly noiDung?: unknown;
  readonly tbaoKTraDLieu?: { readonly dsachLoiKTraDLieu?: unknown } | undefined;
  readonly [field: string]: unknown;
}

/** The notices of a poll answer, or undefined when the body is not one of the accepted shapes. */
export function readNotices(body: Buffer): FptNotice[] | undefined {
  let j: unknown;
  try {
    j = JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
  const list = Array.isArray(j)
    ? j
    : typeof j === "object" && j !== null
      ? ((["dsTBao", "data", "result"] as const).map((k) => (j as Record<string, unknown>)[k]).find(Array.isArray) ??
        ("loaiTBao" in j ? [j] : undefined))
      : undefined;
  if (!Array.isArray(list) || !list.every((n) => typeof n === "object" && n !== null && "loaiTBao" in n))
    return undefined;
  return list as FptNotice[];
}

/**
 * One notice as a reply: `loaiTBao` 1 is the authority's own TDiep (kept raw, parsed as usual); 8/7/9 are the
 * T-VAN's summary of the 204 (read as a 204 with LTBao 2, 7 or 9 and the errors verbatim; the JSON is kept raw).
 */
export function noticeToReply(n: FptNotice, mtdiep: string, maxReplyBytes: number): FetchedReply {
  const kind = Number(n.loaiTBao);
  const b64 = [n.base64XML, n.xml, n.noiDung].find((v) => typeof v === "string" && v !== "") as string | undefined;
  if (kind === 1 && b64 !== undefined) {
    const raw = Buffer.from(b64, "base64");
    return { raw, parsed: parseReply(raw, { maxBytes: maxReplyBytes }) };
  }
  const raw = Buffer.from(JSON.stringify(n), "utf8");
  const head = { mtdiep: "", mtdtchieu: mtdiep };
  let parsed: ParseReplyResult;
  if (kind === 8) parsed = { ok: true, reply: { ...head, mltdiep: "204", ltbao: 2, errors: [] } };
  else if (kind === 7 || kind === 9)
    parsed = { ok: true, reply: { ...head, mltdiep: "204", ltbao: kind, errors: noticeErrors(n) } };
  else if (kind === 1) parsed = { ok: false, problem: "Thông báo loại 1 không có nội dung XML" };
  else
    parsed = {
      ok: true,
      reply: { ...head, mltdiep: "other", code: `loaiTBao-${String(n.loaiTBao)}`, errors: [] } satisfies ParsedReply,
    };
  return { raw, parsed };
}

function noticeErrors(n: FptNotice): ReplyError[] {
  const list = n.tbaoKTraDLieu?.dsachLoiKTraDLieu;
  if (!Array.isArray(list)) return [];
  return list.map((e: { maLoi?: unknown; mtaLoi?: unknown }) => ({
    code: typeof e?.maLoi === "string" || typeof e?.maLoi === "number" ? String(e.maLoi) : "",
    text: typeof e?.mtaLoi === "string" ? e.mtaLoi : "",
  }));
}
