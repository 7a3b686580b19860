/**
 * Replies of the tax authority to a TDiep 206 (spec §7.2–7.3, addendum §1d, §5):
 * - `999` technical receipt: `DLieu/TBao/TTTNhan` 0 received / 1 error, errors in `DSLDo/LDo(MLoi, MTa)`;
 * - `204` data check (01/TB-KTDL): `DLieu/TBao/DLTBao/LTBao` 2 valid, 7 cash-register package invalid (others:
 *   1/3/4/5/6/9), errors in `LHDMTTien/DSLDo/LDo(STT?, MLoi, MTLoi, HDXLy, GChu?)`;
 * - `-1` malformed message, `-2` invalid signing data (addendum §1d); their error list has no public shape, so
 *   any `LDo` under `DLieu` is read.
 * Codes and texts are kept verbatim (no public MLoi catalogue exists, spec §7.3); the outcome is classified by
 * `MLTDiep`/`TTTNhan`/`LTBao` only. The raw bytes are stored beside the parsed form by the caller.
 */
import { at, children, DEFAULT_MAX_XML_BYTES, parseUntrusted, text, type XmlNode } from "./safe-xml.js";

/** One `LDo` entry, verbatim. */
export interface ReplyError {
  /** `MLoi` (≤ 4 chars in the standard; T-VANs use longer ones). */
  readonly code: string;
  /** `MTLoi` (204) or `MTa` (999). */
  readonly text: string;
  /** `HDXLy`: how to fix it. */
  readonly hint?: string | undefined;
  /** `STT` when present. */
  readonly stt?: number | undefined;
  /** `GChu` when present. */
  readonly note?: string | undefined;
}

interface ReplyHead {
  /** The reply's own MTDiep (`TCT` + 32 hex for the tax authority). */
  readonly mtdiep: string;
  /** The MTDiep of our batch it answers. */
  readonly mtdtchieu: string;
  readonly errors: readonly ReplyError[];
}

/** A reply, parsed. */
export type ParsedReply =
  | (ReplyHead & { readonly mltdiep: "999"; readonly received: boolean; readonly tttnhan: string })
  | (ReplyHead & { readonly mltdiep: "204"; readonly ltbao: number; readonly notice?: string | undefined })
  | (ReplyHead & { readonly mltdiep: "-1" | "-2" })
  | (ReplyHead & { readonly mltdiep: "other"; readonly code: string });

/** Result of {@link parseReply}. */
export type ParseReplyResult =
  | { readonly ok: true; readonly reply: ParsedReply }
  | { readonly ok: false; readonly problem: string };

const LIST_TAGS: ReadonlySet<string> = new Set(["LDo", "HDon", "TBao"]);

/**
 * Parses one reply TDiep. Refuses DOCTYPE (XXE), anything over `maxBytes`, and malformed XML, before any value
 * is read.
 */
export function parseReply(xml: string | Buffer, opts: { readonly maxBytes?: number } = {}): ParseReplyResult {
  const parsed = parseUntrusted(xml, { maxBytes: opts.maxBytes ?? DEFAULT_MAX_XML_BYTES, listTags: LIST_TAGS });
  if (!parsed.ok) return parsed;
  const tdiep = at(parsed.doc, "TDiep");
  if (tdiep === undefined || typeof tdiep === "string")
    return { ok: false, problem: "Phản hồi không phải TDiep / reply is not a TDiep" };
  const ttchung = at(tdiep, "TTChung");
  const code = text(at(ttchung, "MLTDiep")) ?? "";
  const head = {
    mtdiep: text(at(ttchung, "MTDiep")) ?? "",
    mtdtchieu: text(at(ttchung, "MTDTChieu")) ?? "",
  };
  const dlieu = at(tdiep, "DLieu");
  const tbao = at(dlieu, "TBao");
  switch (code) {
    case "999": {
      const tttnhan = text(at(tbao, "TTTNhan")) ?? "";
      return {
        ok: true,
        reply: { ...head, mltdiep: "999", tttnhan, received: tttnhan === "0", errors: readErrors(at(tbao, "DSLDo")) },
      };
    }
    case "204": {
      const dltbao = at(tbao, "DLTBao");
      const ltbao = Number(text(at(dltbao, "LTBao")));
      if (!Number.isInteger(ltbao)) return { ok: false, problem: "Thông báo 204 thiếu LTBao / 204 without LTBao" };
      return {
        ok: true,
        reply: {
          ...head,
          mltdiep: "204",
          ltbao,
          notice: text(at(dltbao, "So")),
          errors: readErrors(at(dltbao, "LHDMTTien", "DSLDo")),
        },
      };
    }
    case "-1":
    case "-2":
      return { ok: true, reply: { ...head, mltdiep: code, errors: collectErrors(dlieu) } };
    default:
      return { ok: true, reply: { ...head, mltdiep: "other", code, errors: collectErrors(dlieu) } };
  }
}

function readErrors(dsldo: XmlNode | undefined): ReplyError[] {
  return children(dsldo, "LDo").map(readLdo);
}

function readLdo(ldo: XmlNode): ReplyError {
  const stt = Number(text(at(ldo, "STT")));
  return {
    code: text(at(ldo, "MLoi")) ?? "",
    text: text(at(ldo, "MTLoi")) ?? text(at(ldo, "MTa")) ?? "",
    hint: text(at(ldo, "HDXLy")) || undefined,
    stt: Number.isInteger(stt) && stt > 0 ? stt : undefined,
    note: text(at(ldo, "GChu")) || undefined,
  };
}

/** Every `LDo` anywhere under `node` (for replies whose layout is not published). */
function collectErrors(node: XmlNode | undefined): ReplyError[] {
  if (node === undefined || typeof node === "string") return [];
  const out: ReplyError[] = [];
  for (const [name, v] of Object.entries(node)) {
    if (name.startsWith("@_") || name === "#text" || v === undefined) continue;
    const list = (Array.isArray(v) ? v : [v]) as readonly XmlNode[];
    if (name === "LDo") out.push(...list.map(readLdo));
    else for (const c of list) out.push(...collectErrors(c));
  }
  return out;
}

/** `MLoi: text (Hướng dẫn: HDXLy)` — what is stored as a delivery's error and shown to staff. */
export function formatReplyError(e: ReplyError): string {
  const head = e.code ? `${e.code}: ${e.text}` : e.text;
  return e.hint ? `${head} (Hướng dẫn xử lý: ${e.hint})` : head;
}

/** The minimum an invoice of a batch needs for error mapping ({@link BatchInvoice} from the store fits). */
export interface InvoiceKey {
  readonly invoiceId: number;
  readonly khmshdon: string;
  readonly khhdon: string;
  readonly shdon: number;
  /** 1-based position in `DLieu`. */
  readonly position: number;
}

const TRIPLE_RE = /^\s*([0-9]);([A-Z0-9]{6});0*([0-9]{1,8})\s*(?:;|$)/;

/**
 * Maps 204 errors to invoices (addendum §5): by the `KHMSHDon;KHHDon;SHDon;` triple an error text starts with,
 * else by `STT` as the position in the batch, else to the whole batch. Returns each invoice's joined error text
 * and the batch-level errors.
 */
export function mapErrorsToInvoices(
  errors: readonly ReplyError[],
  invoices: readonly InvoiceKey[],
): { readonly byInvoice: ReadonlyMap<number, string>; readonly batchLevel: readonly string[] } {
  const byTriple = new Map(invoices.map((i) => [`${i.khmshdon};${i.khhdon};${i.shdon}`, i.invoiceId] as const));
  const byPosition = new Map(invoices.map((i) => [i.position, i.invoiceId] as const));
  const found = new Map<number, string[]>();
  const batchLevel: string[] = [];
  for (const e of errors) {
    const m = TRIPLE_RE.exec(e.text);
    const id =
      (m ? byTriple.get(`${m[1]};${m[2]};${Number(m[3])}`) : undefined) ??
      (e.stt !== undefined ? byPosition.get(e.stt) : undefined);
    const msg = formatReplyError(e);
    if (id === undefined) batchLevel.push(msg);
    else found.set(id, [...(found.get(id) ?? []), msg]);
  }
  return { byInvoice: new Map([...found].map(([id, list]) => [id, list.join("; ")])), batchLevel };
}

/** What a set of replies means for a batch. */
export type BatchConclusion =
  /** No reply yet. */
  | { readonly kind: "waiting" }
  /** 999 TTTNhan=0: the authority has it, the data check is still to come. */
  | { readonly kind: "received" }
  /** 999 TTTNhan=1, -1 or -2: the whole batch failed; every invoice is rejected with `reason`. */
  | { readonly kind: "failed"; readonly reason: string }
  /** 204: every invoice settled; those in `rejected` with their error, the others accepted. */
  | { readonly kind: "settled"; readonly ltbao: number; readonly rejected: ReadonlyMap<number, string> };

/**
 * Decides the state of a batch from every reply seen for it so far (any order): a failure (-1, -2, 999 with
 * TTTNhan=1) wins over a 204, which wins over a 999 receipt. LTBao 2 accepts all; any other LTBao rejects the
 * invoices its errors name, and all of them when an error names no invoice or the notice lists none.
 */
export function concludeBatch(replies: readonly ParsedReply[], invoices: readonly InvoiceKey[]): BatchConclusion {
  for (const r of replies) {
    let label: string | undefined;
    if (r.mltdiep === "-1") label = "Thông điệp sai định dạng (-1)";
    else if (r.mltdiep === "-2") label = "Dữ liệu ký số không hợp lệ (-2)";
    else if (r.mltdiep === "999" && !r.received) label = `Cơ quan thuế không tiếp nhận (999, TTTNhan=${r.tttnhan})`;
    if (label !== undefined) {
      const details = r.errors.map(formatReplyError).join("; ");
      return { kind: "failed", reason: details ? `${label}: ${details}` : label };
    }
  }
  const result = replies.find((r) => r.mltdiep === "204");
  if (result?.mltdiep === "204") {
    if (result.ltbao === 2) return { kind: "settled", ltbao: 2, rejected: new Map() };
    const { byInvoice, batchLevel } = mapErrorsToInvoices(result.errors, invoices);
    if (batchLevel.length > 0 || byInvoice.size === 0) {
      const base = `Gói dữ liệu không hợp lệ (204, LTBao=${result.ltbao})`;
      const all = batchLevel.length > 0 ? `${base}: ${batchLevel.join("; ")}` : base;
      return {
        kind: "settled",
        ltbao: result.ltbao,
        rejected: new Map(
          invoices.map((i) => [
            i.invoiceId,
            byInvoice.has(i.invoiceId) ? `${byInvoice.get(i.invoiceId)}; ${all}` : all,
          ]),
        ),
      };
    }
    return { kind: "settled", ltbao: result.ltbao, rejected: byInvoice };
  }
  if (replies.some((r) => r.mltdiep === "999" && r.received)) return { kind: "received" };
  return { kind: "waiting" };
}
