/**
 * The sandbox's tax authority: what it checks in a TDiep 206 and the replies it writes (spec §7.1–7.3, §8 "Mock
 * design proposal"; addendum §1d, §3, §5). Pure apart from the `accepted` MCCQT registry passed in, so it can be
 * tested without HTTP.
 *
 * - malformed (not XML, DOCTYPE, not a TDiep) → a `-1` reply;
 * - envelope problems (MLTDiep, SLuong, mixed or non-`M` symbols, MST, missing CKSNNT …) → 999 TTTNhan=1 with
 *   `DSLDo/LDo(MLoi, MTa)`;
 * - CKSNNT not valid for the trusted certificate → a `-2` reply ("invalid signing data", addendum §1d);
 * - otherwise 999 TTTNhan=0 at once, then after the reply delay a 204: LTBao 2 when every invoice passes, else
 *   LTBao 7 with `LHDMTTien/DSLDo/LDo(STT, MLoi, MTLoi, HDXLy)`, `MTLoi` starting `KHMSHDon;KHHDon;SHDon;` so the
 *   sender can map errors to invoices (addendum §5).
 *
 * `MLoi` codes are the sandbox's own (no public catalogue exists, spec §7.3): `E1xx` envelope, `H1xx` invoice.
 * Replies are not signed by the sandbox (real 204s carry `DSCKS/CQT`).
 */
import { randomUUID } from "node:crypto";
import { MST_RE } from "../forward/batch.js";
import { at, checkUntrusted, parseUntrusted, text, type XmlNode } from "../forward/safe-xml.js";
import { checkArithmetic, KHHDON_MTT_RE, MCCQT_RE, readInvoiceFacts } from "../invoice/index.js";
import { vnDate, vnDateTime } from "../shared/clock.js";
import { verifySignatures } from "../sign/index.js";
import { el, textEl } from "../xml/canonical.js";

/** `MNGui` + 32 upper-case hex (spec §7.1); the sender part is 1–14 letters/digits. */
export const MTDIEP_RE = /^[A-Z0-9]{1,14}[0-9A-F]{32}$/;

/** addendum §1d. */
const MAX_INVOICES = 1000;

/** One error line of a reply. */
export interface SandboxError {
  readonly code: string;
  readonly text: string;
  readonly hint?: string;
}

/** A reply and how long after receipt it becomes visible. */
export interface PlannedReply {
  readonly afterMs: number;
  readonly xml: string;
}

/** What the sandbox makes of one POSTed message. */
export type Examination =
  /** No usable MTDiep: nothing can be keyed, answer HTTP 400. */
  | { readonly kind: "unaddressable"; readonly reason: string }
  /** A message that can be answered under `mtdiep`. */
  | {
      readonly kind: "answered";
      readonly mtdiep: string;
      readonly replies: readonly PlannedReply[];
      /** MCCQT values this message had accepted (they are taken from now on). */
      readonly acceptedMccqts: readonly string[];
      readonly rejectedInvoices: number;
      /** Invoices whose MCCQT was accepted before (a duplicate delivery). */
      readonly duplicateMccqts: number;
      readonly verdict: "malformed" | "envelope" | "signature" | "invoices" | "ok";
    };

/** Settings the examination needs. */
export interface ExamineOptions {
  /** Epoch ms of receipt. */
  readonly now: number;
  /** The 204 comes this long after the 999. */
  readonly replyDelayMs: number;
  /** When set, CKSNNT and every invoice signature must verify against it. */
  readonly trustedCertPem?: string | undefined;
  /** MCCQT values accepted before (across all messages). */
  readonly isTaken: (mccqt: string) => boolean;
  /** Reply id source (`TCT` + 32 hex); tests may fix it. */
  readonly uuid?: () => string;
  /**
   * Read and check every n-th invoice in full (facts, arithmetic); the others get the cheap checks only (numbers
   * and MCCQT read by pattern: format, uniqueness, symbol). Default 1: every invoice in full. Reading an invoice
   * costs ~0.3 ms (fast-xml-parser), so a sample keeps the sandbox ahead of a 2,000 invoices/s drain (bench/).
   */
  readonly checkEvery?: number;
}

const NO_LISTS: ReadonlySet<string> = new Set();
const ROOT_RE = /^\s*(?:<\?xml[^>]*\?>\s*)?<TDiep>/;

/**
 * The `MTDiep` of a message by plain text search, without parsing: keys a `-1` reply to a message that does not
 * parse, and lets the server spot a duplicate before any work.
 */
export function sniffMtdiep(text: string): string | undefined {
  const m = /<MTDiep>([A-Z0-9]{1,46})<\/MTDiep>/.exec(text);
  return m?.[1] && MTDIEP_RE.test(m[1]) ? m[1] : undefined;
}

/** The element `name` that first appears in `raw`, parsed on its own (a small part of a big message). */
function parsePart(raw: string, name: string, from = 0): XmlNode | undefined {
  const start = raw.indexOf(`<${name}>`, from);
  const end = raw.indexOf(`</${name}>`, start);
  if (start < 0 || end < 0) return undefined;
  const part = parseUntrusted(raw.slice(start, end + name.length + 3), { listTags: NO_LISTS });
  return part.ok ? at(part.doc, name) : undefined;
}

/**
 * Checks a message and plans its replies. `isTaken` is only read; the caller records `acceptedMccqts`.
 *
 * The whole message is checked for well-formedness (and DOCTYPE) but never parsed as one tree: fast-xml-parser
 * builds ~2 MB/s, so the envelope and each `HDon` are read on their own, and each `HDon` only once. With a sample
 * (`checkEvery` > 1) the whole-message well-formedness pass is skipped too (it costs as much as the rest): DOCTYPE
 * and size are still refused, and every part that is read (envelope, `CKSNNT`, sampled invoices) is checked.
 */
export function examine(body: Buffer, opts: ExamineOptions): Examination {
  const uuid = opts.uuid ?? randomUUID;
  const replyId = (): string => `TCT${uuid().replaceAll("-", "").toUpperCase()}`;
  const checked = (opts.checkEvery ?? 1) > 1 ? checkShallow(body) : checkUntrusted(body, 4 * 1024 * 1024);
  const raw = checked.ok ? checked.text : body.toString("utf8");
  const tt = checked.ok && ROOT_RE.test(raw) ? parsePart(raw, "TTChung") : undefined;
  if (tt === undefined) {
    const mtdiep = sniffMtdiep(raw);
    const reason = checked.ok ? "Thông điệp không phải TDiep hoặc thiếu TTChung" : checked.problem;
    if (!mtdiep) return { kind: "unaddressable", reason: `${reason}; không đọc được MTDiep` };
    const head = { pban: "2.0.1", mnnhan: "", mtdiep };
    return {
      kind: "answered",
      mtdiep,
      replies: [{ afterMs: 0, xml: failureReply("-1", head, replyId(), [{ code: "E100", text: reason }], opts.now) }],
      acceptedMccqts: [],
      rejectedInvoices: 0,
      duplicateMccqts: 0,
      verdict: "malformed",
    };
  }
  const mtdiep = text(at(tt, "MTDiep")) ?? "";
  if (!MTDIEP_RE.test(mtdiep))
    return { kind: "unaddressable", reason: `MTDiep "${mtdiep}" sai dạng (MNGui + 32 ký tự hex viết hoa)` };
  const mngui = text(at(tt, "MNGui")) ?? "";
  const head = { pban: text(at(tt, "PBan")) || "2.0.1", mnnhan: mngui, mtdiep };
  const answered = (
    verdict: "envelope" | "signature" | "invoices" | "ok",
    replies: PlannedReply[],
    accepted: string[] = [],
    rejected = 0,
    duplicates = 0,
  ): Examination => ({
    kind: "answered",
    mtdiep,
    replies,
    acceptedMccqts: accepted,
    rejectedInvoices: rejected,
    duplicateMccqts: duplicates,
    verdict,
  });

  // Envelope (→ 999 TTTNhan=1).
  const envelope: SandboxError[] = [];
  const hdonTexts = rawHdons(raw);
  const every = Math.max(1, Math.floor(opts.checkEvery ?? 1));
  const facts = hdonTexts.map((h, i): LiteFacts => (i % every === 0 ? readInvoiceFacts(h) : liteFacts(h)));
  const mltdiep = text(at(tt, "MLTDiep"));
  if (mltdiep !== "206")
    envelope.push({ code: "E101", text: `MLTDiep "${mltdiep ?? ""}" không phải 206 (hóa đơn có mã từ máy tính tiền)` });
  if (!mngui || !mtdiep.startsWith(mngui)) envelope.push({ code: "E102", text: "MTDiep phải bắt đầu bằng MNGui" });
  const mst = text(at(tt, "MST")) ?? "";
  if (!MST_RE.test(mst)) envelope.push({ code: "E103", text: `MST "${mst}" sai dạng` });
  const sluong = text(at(tt, "SLuong"));
  if (sluong !== String(hdonTexts.length))
    envelope.push({
      code: "E104",
      text: `SLuong ${sluong ?? "(thiếu)"} khác số hóa đơn trong DLieu (${hdonTexts.length})`,
    });
  if (hdonTexts.length < 1 || hdonTexts.length > MAX_INVOICES)
    envelope.push({
      code: "E105",
      text: `Một thông điệp chứa 1–${MAX_INVOICES} hóa đơn, không phải ${hdonTexts.length}`,
    });
  const symbols = new Set(facts.map((f) => (f.ok ? `${f.facts.KHMSHDon};${f.facts.KHHDon}` : "")).filter(Boolean));
  if (symbols.size > 1)
    envelope.push({ code: "E106", text: "Các hóa đơn trong một thông điệp phải cùng KHMSHDon và KHHDon" });
  for (const s of symbols) {
    const khhdon = s.split(";")[1] ?? "";
    if (!KHHDON_MTT_RE.test(khhdon))
      envelope.push({ code: "E107", text: `KHHDon "${khhdon}" không phải ký hiệu máy tính tiền (ký tự thứ 4 là M)` });
  }
  const dlieuEnd = raw.lastIndexOf("</DLieu>");
  if (dlieuEnd < 0 || at(parsePart(raw, "CKSNNT", dlieuEnd), "Signature") === undefined)
    envelope.push({ code: "E108", text: "Thiếu chữ ký số của người nộp thuế (CKSNNT)" });
  if (envelope.length > 0)
    return answered("envelope", [{ afterMs: 0, xml: receipt999(head, replyId(), envelope, opts.now) }]);

  // Signatures (→ -2 for the batch signature, invoice errors for invoice signatures).
  const invoiceSigProblems = new Map<number, string>();
  if (opts.trustedCertPem !== undefined) {
    const report = verifySignatures(body, { trustedCertPem: opts.trustedCertPem });
    const batchSig = report.signatures.find((s) => s.path.startsWith("/TDiep/CKSNNT/"));
    const problem = !batchSig
      ? "Không tìm thấy chữ ký CKSNNT"
      : !batchSig.ok
        ? (batchSig.problem ?? "Chữ ký CKSNNT không hợp lệ")
        : !batchSig.referencedPaths.includes("/TDiep/DLieu")
          ? "Chữ ký CKSNNT không ký DLieu"
          : undefined;
    if (problem !== undefined)
      return answered("signature", [
        { afterMs: 0, xml: failureReply("-2", head, replyId(), [{ code: "E110", text: problem }], opts.now) },
      ]);
    for (const s of report.signatures) {
      const m = /^\/TDiep\/DLieu\/HDon(?:\[(\d+)\])?\//.exec(s.path);
      if (m && !s.ok) invoiceSigProblems.set(Number(m[1] ?? 1) - 1, s.problem ?? "Chữ ký hóa đơn không hợp lệ");
    }
  }

  // Invoices (→ 999 TTTNhan=0, then 204 LTBao 2 or 7).
  const ldo: string[] = [];
  const accepted: string[] = [];
  const inThisMessage = new Set<string>();
  let rejected = 0;
  let duplicates = 0;
  facts.forEach((read, index) => {
    const errors: SandboxError[] = [];
    let triple = ";;;";
    if (!read.ok) {
      errors.push({ code: "H101", text: read.problems.map((p) => p.message).join("; ") });
    } else {
      const f = read.facts;
      triple = `${f.KHMSHDon};${f.KHHDon};${f.SHDon};`;
      const mccqt = f.MCCQT ?? "";
      if (!MCCQT_RE.test(mccqt))
        errors.push({ code: "H102", text: `MCCQT "${mccqt}" sai dạng`, hint: "Kiểm tra mã MCCQT (spec §4)" });
      else if (mccqt[1] !== f.KHMSHDon)
        errors.push({ code: "H103", text: `MCCQT "${mccqt}" không khớp KHMSHDon ${f.KHMSHDon}` });
      if (opts.isTaken(mccqt) || inThisMessage.has(mccqt)) {
        duplicates += 1;
        errors.push({ code: "H104", text: `MCCQT "${mccqt}" đã được sử dụng`, hint: "Mỗi hóa đơn một MCCQT riêng" });
      }
      if (!("lite" in read))
        for (const p of checkArithmetic(read.facts)) errors.push({ code: "H105", text: `${p.path}: ${p.message}` });
      inThisMessage.add(mccqt);
      const sig = invoiceSigProblems.get(index);
      if (sig !== undefined) errors.push({ code: "H106", text: `Chữ ký hóa đơn không hợp lệ: ${sig}` });
      if (errors.length === 0) accepted.push(mccqt);
    }
    if (errors.length > 0) {
      rejected += 1;
      for (const e of errors)
        ldo.push(
          el(
            "LDo",
            textEl("STT", index + 1) +
              textEl("MLoi", e.code) +
              textEl("MTLoi", `${triple} ${e.text}`) +
              textEl("HDXLy", e.hint ?? "Lập hóa đơn thay thế và gửi lại"),
          ),
        );
    }
  });
  const result = result204(head, replyId(), {
    mst,
    sellerName: text(at(parsePart(hdonTexts[0] ?? "", "NBan"), "Ten")) ?? "",
    count: hdonTexts.length,
    ldo,
    now: opts.now + opts.replyDelayMs,
  });
  return answered(
    rejected > 0 ? "invoices" : "ok",
    [
      { afterMs: 0, xml: receipt999(head, replyId(), [], opts.now) },
      { afterMs: opts.replyDelayMs, xml: result },
    ],
    accepted,
    rejected,
    duplicates,
  );
}

/** What the cheap check reads of an invoice: its numbers and MCCQT, by pattern (our canonical writer's layout). */
type LiteFacts =
  | ReturnType<typeof readInvoiceFacts>
  | {
      readonly ok: true;
      readonly lite: true;
      readonly facts: { KHMSHDon: string; KHHDon: string; SHDon: string; MCCQT: string | undefined };
    };

function firstText(xml: string, name: string, from = 0): string | undefined {
  const open = `<${name}>`;
  const start = xml.indexOf(open, from);
  if (start < 0) return undefined;
  const end = xml.indexOf(`</${name}>`, start);
  return end < 0 ? undefined : xml.slice(start + open.length, end);
}

function liteFacts(hdon: string): LiteFacts {
  const tail = hdon.lastIndexOf("</DLHDon>");
  const KHMSHDon = firstText(hdon, "KHMSHDon");
  const KHHDon = firstText(hdon, "KHHDon");
  const SHDon = firstText(hdon, "SHDon");
  if (KHMSHDon === undefined || KHHDon === undefined || SHDon === undefined)
    return {
      ok: false,
      problems: [
        { code: "FIELD_MISSING", path: "HDon", message: "Thiếu KHMSHDon/KHHDon/SHDon / invoice numbers missing" },
      ],
    };
  return {
    ok: true,
    lite: true,
    facts: { KHMSHDon, KHHDon, SHDon, MCCQT: firstText(hdon, "MCCQT", Math.max(tail, 0)) },
  };
}

/** Size and DOCTYPE only (sampling mode): the parts read later are checked as they are parsed. */
function checkShallow(body: Buffer): ReturnType<typeof checkUntrusted> {
  if (body.length > 4 * 1024 * 1024) return checkUntrusted(body, 4 * 1024 * 1024);
  const text = body.toString("utf8").replace(/^\uFEFF/, "");
  if (/<!DOCTYPE/i.test(text)) return checkUntrusted(text);
  return { ok: true, text };
}

/** The exact text of each top-level `HDon` inside `DLieu` (HDon never nests). */
function rawHdons(raw: string): string[] {
  const start = raw.indexOf("<DLieu");
  const end = raw.lastIndexOf("</DLieu>");
  if (start < 0 || end < start) return [];
  return raw.slice(start, end).match(/<HDon(?:\s[^>]*)?>[\s\S]*?<\/HDon>/g) ?? [];
}

interface Head {
  readonly pban: string;
  /** The original sender, who receives the reply. */
  readonly mnnhan: string;
  /** The MTDiep being answered. */
  readonly mtdiep: string;
}

function ttchung(head: Head, mltdiep: string, replyMtdiep: string, extra = ""): string {
  return el(
    "TTChung",
    textEl("PBan", head.pban) +
      textEl("MNGui", "TCT") +
      textEl("MNNhan", head.mnnhan) +
      textEl("MLTDiep", mltdiep) +
      textEl("MTDiep", replyMtdiep) +
      textEl("MTDTChieu", head.mtdiep) +
      extra,
  );
}

function dsldo(errors: readonly SandboxError[]): string {
  if (errors.length === 0) return "";
  return el("DSLDo", errors.map((e) => el("LDo", textEl("MLoi", e.code) + textEl("MTa", e.text))).join(""));
}

/** 999: technical receipt (spec §7.3 real 2022 shape); TTTNhan 1 with the errors when there are any. */
function receipt999(head: Head, replyMtdiep: string, errors: readonly SandboxError[], now: number): string {
  return el(
    "TDiep",
    ttchung(head, "999", replyMtdiep) +
      el(
        "DLieu",
        el(
          "TBao",
          textEl("MTDiep", head.mtdiep) +
            textEl("MNGui", head.mnnhan) +
            textEl("NNhan", vnDateTime(now)) +
            textEl("TTTNhan", errors.length > 0 ? "1" : "0") +
            dsldo(errors),
        ),
      ),
  );
}

/** -1 / -2: no public layout; a TBao like the 999's with TTTNhan 1 and the reasons [U]. */
function failureReply(
  code: "-1" | "-2",
  head: Head,
  replyMtdiep: string,
  errors: readonly SandboxError[],
  now: number,
): string {
  return el(
    "TDiep",
    ttchung(head, code, replyMtdiep) +
      el(
        "DLieu",
        el(
          "TBao",
          textEl("MTDiep", head.mtdiep) + textEl("NNhan", vnDateTime(now)) + textEl("TTTNhan", "1") + dsldo(errors),
        ),
      ),
  );
}

/** 204, form 01/TB-KTDL, shaped like samples/tdiep-204-mtt-result.xml (without the CQT signature). */
function result204(
  head: Head,
  replyMtdiep: string,
  r: { mst: string; sellerName: string; count: number; ldo: readonly string[]; now: number },
): string {
  const ltbao = r.ldo.length > 0 ? 7 : 2;
  const dltbao = el(
    "DLTBao",
    textEl("PBan", head.pban) +
      textEl("MSo", "01/TB-KTDL") +
      textEl("Ten", "Thông báo về việc kết quả kiểm tra dữ liệu hóa đơn điện tử") +
      textEl("So", `SANDBOX-${replyMtdiep.slice(3, 15)}`) +
      textEl("DDanh", "Hộp cát hoadon") +
      textEl("NTBao", vnDate(r.now)) +
      textEl("MST", r.mst) +
      textEl("TNNT", r.sellerName) +
      textEl("TGGui", vnDateTime(r.now)) +
      textEl("LTBao", ltbao) +
      textEl("CCu", "Thông điệp gửi hóa đơn khởi tạo từ máy tính tiền đã cấp mã tới cơ quan thuế") +
      textEl("SLuong", r.count) +
      (r.ldo.length > 0 ? el("LHDMTTien", el("DSLDo", r.ldo.join(""))) : ""),
    { Id: `Id-${replyMtdiep.slice(3)}` },
  );
  return el(
    "TDiep",
    ttchung(head, "204", replyMtdiep, textEl("MST", r.mst) + textEl("SLuong", 1)) + el("DLieu", el("TBao", dltbao)),
  );
}
