/**
 * TDiep 206: the message that carries 1..n cash-register invoices, already coded by the seller, to the tax
 * authority (spec §7.1–7.3, addendum §1d, §3, §4). Pure: the same invoices, MTDiep, key and signing time give the
 * same bytes.
 *
 * Shape, written with the canonical writer so the `DLieu` text is already its own C14N (spec §5.2; signing.md §2):
 *
 * ```
 * <TDiep><TTChung><PBan/><MNGui/><MNNhan/><MLTDiep>206</MLTDiep><MTDiep/><MTDTChieu></MTDTChieu><MST/><SLuong/></TTChung>
 *   <DLieu Id="_{MTDiep}">HDon bytes verbatim…</DLieu><CKSNNT><Signature xmlns=…>…</Signature></CKSNNT></TDiep>
 * ```
 *
 * The invoice bytes are inserted exactly as stored (design.md invariant 7). They are canonical already (our
 * writer), so the `DLieu` element we sign is canonical too: no namespace declarations on `TDiep`/`DLieu`, so
 * inclusive C14N of the subtree equals its text.
 */
import { randomUUID } from "node:crypto";
import type { Clock } from "../shared/clock.js";
import { vnDateTime } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import type { SignatureStyle, XmlSigner } from "../sign/index.js";
import { type BatchGroup, type BuiltBatch, hdonBytes } from "../store/outbox.js";
import { el, isSafeId, openTag, textEl } from "../xml/canonical.js";

/** The envelope fields that depend on the seller and its T-VAN (spec §7.1; they differ per T-VAN, addendum §3). */
export interface EnvelopeConfig {
  /**
   * `TTChung/PBan` of the envelope. 2.0.1 per QĐ 1510; Viettel's 2026 builder writes 2.1.1 (addendum §4, [U]).
   * Independent of the invoices' own `PBan`.
   */
  readonly pban: string;
  /** Sender code, 1–14 letters/digits (provider or seller MST, per the T-VAN's convention). Prefix of every MTDiep. */
  readonly mngui: string;
  /** Receiver code (the T-VAN, e.g. `V` + its MST; Viettel uses `0100109106`). */
  readonly mnnhan: string;
  /** The taxpayer's tax code (10 digits, or 14 with the `-NNN` branch suffix). */
  readonly mst: string;
  /**
   * What happens to each invoice's own `DSCKS`. Only `keep` exists today: invoices are stored signed and forwarded
   * byte for byte. Some T-VANs want the per-invoice signature stripped (addendum §1d, §3: AMNOTE strips it); that
   * would be a later per-gateway option working on a copy, never on the stored bytes.
   */
  readonly invoiceSignatures: "keep";
  /**
   * How `CKSNNT` carries its signing time: XMLDSig `SignatureProperties` (default) or XAdES-BES `SignedProperties`
   * — the T-VAN's choice (addendum §3; `authority.batchSignature`).
   */
  readonly signatureStyle?: SignatureStyle | undefined;
}

/** `MLTDiep` of a batch of coded cash-register invoices (QĐ 1510; spec §7.2). */
export const MLTDIEP_MTT_CODED = "206";

const MNGUI_RE = /^[A-Za-z0-9]{1,14}$/;
/** A tax code: 10 digits, or 14 with the `-NNN` branch suffix (spec §7.1). */
export const MST_RE = /^\d{10}(-\d{3})?$/;

/** Checks the parts of the envelope config that would make every batch unusable. Throws `CONFIG_INVALID`. */
export function checkEnvelopeConfig(env: EnvelopeConfig): void {
  const problems: string[] = [];
  if (!MNGUI_RE.test(env.mngui)) problems.push(`MNGui "${env.mngui}" phải gồm 1–14 chữ hoặc số`);
  if (env.mnnhan.length < 1 || env.mnnhan.length > 14) problems.push(`MNNhan "${env.mnnhan}" phải dài 1–14 ký tự`);
  if (!MST_RE.test(env.mst)) problems.push(`MST "${env.mst}" phải có 10 chữ số (hoặc 10-3)`);
  if (env.pban.length < 1 || env.pban.length > 6) problems.push(`PBan "${env.pban}" phải dài 1–6 ký tự`);
  if (problems.length > 0)
    throw new DaemonError("CONFIG_INVALID", `Cấu hình thông điệp 206 sai / bad TDiep envelope: ${problems.join("; ")}`);
}

/**
 * A new message id: `MNGui` + 32 upper-case hex digits of a random UUID (spec §7.1). Made once per batch and kept
 * across every retry: it is the idempotency key at the T-VAN (design.md invariant 6).
 */
export function newMtdiep(mngui: string, uuid: string = randomUUID()): string {
  return mngui + uuid.replaceAll("-", "").toUpperCase();
}

/** The `DLieu/@Id` the batch signature refers to: `_` + MTDiep, as CA2 builds it (spec §9 source 2). */
export function dlieuId(mtdiep: string): string {
  return `_${mtdiep}`;
}

/** Input of {@link buildTdiep206}. */
export interface Tdiep206Input {
  readonly envelope: EnvelopeConfig;
  readonly mtdiep: string;
  /** Signed `HDon` documents, exact bytes, in the order they go into `DLieu`. */
  readonly invoices: readonly Buffer[];
  readonly signer: XmlSigner;
  /** `YYYY-MM-DDThh:mm:ss`, Vietnam local time (spec §5.2). */
  readonly signingTime: string;
}

/** Builds and signs one TDiep 206. Returns the exact bytes to store and send. */
export function buildTdiep206(input: Tdiep206Input): Buffer {
  return buildTdiep206Parts(input).xml;
}

/** A built TDiep 206 and where its invoices' bytes lie inside it. */
export interface Tdiep206Parts {
  /** The exact message. */
  readonly xml: Buffer;
  /** Byte offset of the first `HDon` inside `xml`. */
  readonly invoicesAt: number;
  /** Byte length of all `HDon` bytes together (each invoice's stored bytes minus its XML declaration). */
  readonly invoicesLength: number;
}

/** {@link buildTdiep206}, also saying where the invoices lie, so the store can keep them once. */
export function buildTdiep206Parts(input: Tdiep206Input): Tdiep206Parts {
  const { envelope: env, mtdiep } = input;
  if (input.invoices.length < 1 || input.invoices.length > 1000)
    throw new RangeError(`a TDiep 206 holds 1..1000 invoices, not ${input.invoices.length} (addendum §1d)`);
  const id = dlieuId(mtdiep);
  if (!isSafeId(id)) throw new DaemonError("CONFIG_INVALID", `MTDiep "${mtdiep}" không dùng được làm Id`);
  const parts: Buffer[] = [];
  for (const bytes of input.invoices) {
    // The invoice is stored as a document; inside DLieu it is an element, so only its declaration goes.
    const element = hdonBytes(bytes);
    const start = element.toString("latin1", 0, 6);
    if (start !== "<HDon>" && start !== "<HDon ")
      throw new DaemonError(
        "INVOICE_INVALID",
        "Hóa đơn lưu trữ không bắt đầu bằng <HDon> / stored invoice is not an HDon",
      );
    parts.push(element);
  }
  const hdon = Buffer.concat(parts);
  // Bytes all the way: the invoices are never decoded to text (design.md invariant 7, and it is 3× faster).
  const dlieuOpen = openTag("DLieu", { Id: id });
  const dlieuClose = "</DLieu>";
  const signature = input.signer.signEnveloped({
    refId: id,
    canonical: Buffer.concat([Buffer.from(dlieuOpen, "utf8"), hdon, Buffer.from(dlieuClose, "utf8")]),
    signatureId: `CKSNNT-${mtdiep}`,
    signingTime: input.signingTime,
    ...(env.signatureStyle ? { style: env.signatureStyle } : {}),
  });
  const ttchung = el(
    "TTChung",
    textEl("PBan", env.pban) +
      textEl("MNGui", env.mngui) +
      textEl("MNNhan", env.mnnhan) +
      textEl("MLTDiep", MLTDIEP_MTT_CODED) +
      textEl("MTDiep", mtdiep) +
      // Empty element, not absent: a 206 answers nothing (spec §7.1).
      textEl("MTDTChieu", "") +
      textEl("MST", env.mst) +
      textEl("SLuong", input.invoices.length),
  );
  const head = Buffer.from(`<TDiep>${ttchung}${dlieuOpen}`, "utf8");
  const tail = Buffer.from(`${dlieuClose}${el("CKSNNT", signature)}</TDiep>`, "utf8");
  return { xml: Buffer.concat([head, hdon, tail]), invoicesAt: head.length, invoicesLength: hdon.length };
}

/** Dependencies of {@link createBatchBuilder}. */
export interface BatchBuilderDeps {
  readonly envelope: EnvelopeConfig;
  readonly signer: XmlSigner;
  readonly clock: Clock;
  /** Source of UUIDs for MTDiep; tests pass a fixed one. */
  readonly uuid?: () => string;
}

/** The `build` callback {@link createBatches} needs: a fresh MTDiep, the batch signed now. */
export function createBatchBuilder(deps: BatchBuilderDeps): (group: BatchGroup) => BuiltBatch {
  checkEnvelopeConfig(deps.envelope);
  const uuid = deps.uuid ?? randomUUID;
  return (group) => {
    const mtdiep = newMtdiep(deps.envelope.mngui, uuid());
    const built = buildTdiep206Parts({
      envelope: deps.envelope,
      mtdiep,
      invoices: group.invoices.map((i) => i.signedXml),
      signer: deps.signer,
      signingTime: vnDateTime(deps.clock.now()),
    });
    return { mtdiep, xml: built.xml, invoices: { at: built.invoicesAt, length: built.invoicesLength } };
  };
}
