/**
 * The write path (design.md): receipt → validate → number → build XML → sign → one SQLite transaction holding the
 * raw bytes, the receipt, the signed invoice and its delivery row. Synchronous from start to commit, so the
 * register's ack can only follow a durable commit. Pure pieces (invoice, sign) do the work; this module wires
 * them to the store and turns every outcome into a value the session can answer with.
 */
import { createHash } from "node:crypto";
import type { InvoiceRef, RecordOutcome } from "./driver-api/types.js";
import {
  assembleHdon,
  type ComputeOptions,
  computeInvoice,
  dlhdonId,
  formatKhhdon,
  formatMccqt,
  type InvoiceDraft,
  InvoiceInvalidError,
  lookupQr,
  type RenderContext,
  renderDlhdon,
} from "./invoice/index.js";
import { Receipt } from "./receipt/model.js";
import type { Clock } from "./shared/clock.js";
import { vnDate, vnDateTime, vnEndOfDay } from "./shared/clock.js";
import { isDaemonError } from "./shared/errors.js";
import type { Logger } from "./shared/log.js";
import type { XmlSigner } from "./sign/index.js";
import { classifyStoreError } from "./store/db.js";
import type { IngestStore } from "./store/ingest.js";

export interface RecordInput {
  readonly registerId: string;
  readonly driverId: string;
  /** Unvalidated receipt object from the driver. */
  readonly receipt: unknown;
  readonly raw: Uint8Array;
  readonly receivedAt: number;
}

/** What the write path needs to know about the shop and its invoices (mapped from config by main.ts). */
export interface RecorderSettings {
  readonly seller: RenderContext["seller"];
  readonly providerTaxCode: string;
  readonly form: "1" | "2";
  readonly symbolSuffix: string;
  /** Per-register symbol suffix overrides. */
  readonly registerSuffix: Readonly<Record<string, string>>;
  readonly mccqtBlock: string;
  readonly profile: RenderContext["profile"];
  readonly pban: string;
  readonly anonymousBuyer: RenderContext["anonymousBuyer"];
  readonly compute: ComputeOptions;
  readonly qrCrc: boolean;
}

/** The numbers an invoice carries; allocated by the store's counters in the write path. */
export interface InvoiceNumbers {
  readonly khmshdon: "1" | "2";
  readonly khhdon: string;
  readonly shdon: number;
  /** The 11-digit sequence of MCCQT. */
  readonly seq: number;
}

export interface SignedInvoice {
  readonly signedXml: Buffer;
  readonly mccqt: string;
  readonly qr: string;
  readonly nlap: string;
}

/**
 * Pure: a computed invoice + its numbers → the signed HDon bytes. The write path calls it inside its transaction;
 * `hoadon invoice build` calls it without a queue. `now` gives NLap and SigningTime (Vietnam local time).
 */
export function buildSignedInvoice(args: {
  readonly draft: InvoiceDraft;
  readonly receipt: Receipt;
  readonly registerId: string;
  readonly numbers: InvoiceNumbers;
  readonly settings: RecorderSettings;
  readonly signer: XmlSigner;
  readonly now: number;
}): SignedInvoice {
  const { draft, receipt, settings, now } = args;
  const { khmshdon, khhdon, shdon, seq } = args.numbers;
  const nlap = vnDate(now);
  const mccqt = formatMccqt(khmshdon, Number(nlap.slice(0, 4)), settings.mccqtBlock, seq);
  const id = dlhdonId(khmshdon, khhdon, shdon);
  const rendered = renderDlhdon(draft, {
    profile: settings.profile,
    pban: settings.pban,
    khmshdon,
    khhdon,
    shdon,
    nlap,
    id,
    seller: settings.seller,
    providerTaxCode: settings.providerTaxCode,
    anonymousBuyer: settings.anonymousBuyer,
    extra: [
      { name: "ThoiDiemLap", type: "dateTime", value: vnDateTime(Date.parse(receipt.issuedAt)) },
      { name: "MaMayTinhTien", type: "string", value: args.registerId },
      { name: "SoHoaDonMay", type: "string", value: receipt.receiptId },
    ],
  });
  const qr = lookupQr({
    sellerTaxCode: settings.seller.taxCode,
    khmshdon,
    khhdon,
    shdon,
    nlap,
    total: draft.TgTTTBSo,
    crc: settings.qrCrc,
  });
  const signature = args.signer.signEnveloped({
    refId: rendered.id,
    canonical: rendered.xml,
    signatureId: `${rendered.id}-NBan`,
    signingTime: vnDateTime(now),
  });
  const signedXml = Buffer.from(assembleHdon({ dlhdon: rendered.xml, qr, mccqt, signature }), "utf8");
  return { signedXml, mccqt, qr, nlap };
}

export type Recorder = (input: RecordInput) => RecordOutcome;

export interface RecorderDeps {
  readonly store: IngestStore;
  readonly signer: XmlSigner;
  readonly settings: RecorderSettings;
  readonly clock: Clock;
  readonly log: Logger;
  /** The store file, for error messages. */
  readonly storePath: string;
}

/** Build the synchronous write path. Never throws: every outcome is a value. */
export function createRecorder(deps: RecorderDeps): Recorder {
  const { store, signer, settings, clock, log } = deps;

  const reject = (input: RecordInput, code: string, message: string): RecordOutcome => {
    try {
      store.quarantine({
        registerId: input.registerId,
        driver: input.driverId,
        receivedAt: input.receivedAt,
        code,
        detail: message,
        raw: input.raw,
      });
    } catch (cause) {
      // Could not even keep the bytes: the register must resend, so this is a failure, not a rejection.
      const err = classifyStoreError(deps.storePath, cause);
      log.error({ err, register: input.registerId }, "quarantine write failed");
      return { status: "failed", code: err.code, message: err.message };
    }
    log.warn({ register: input.registerId, code, detail: message }, "receipt quarantined");
    return { status: "rejected", code, message };
  };

  return (input) => {
    const parsed = Receipt.safeParse(input.receipt);
    if (!parsed.success) {
      const detail = parsed.error.issues.map((i) => `${i.path.join(".") || "receipt"}: ${i.message}`).join("; ");
      return reject(input, "RECEIPT_INVALID", `Phiếu tính tiền không hợp lệ / invalid receipt: ${detail}`);
    }
    const receipt = parsed.data;

    try {
      const earlier = store.findInvoiceForReceipt(input.registerId, receipt.receiptId);
      if (earlier) return { status: "dup", invoice: earlier };
    } catch (cause) {
      const err = classifyStoreError(deps.storePath, cause);
      return { status: "failed", code: err.code, message: err.message };
    }

    const computed = computeInvoice(receipt, settings.compute);
    if (!computed.ok) {
      return reject(
        input,
        computed.problems[0]?.code ?? "RECEIPT_INVALID",
        computed.problems.map((p) => p.message).join("; "),
      );
    }

    // NLap and SigningTime come from our clock, not the register's: the invoice is made now, and a register with
    // a wrong clock must not push an invoice into another day or year. The register's time is kept in TTKhac.
    const now = clock.now();
    const nlap = vnDate(now);
    const khmshdon = settings.form;
    const khhdon = formatKhhdon(
      Number(nlap.slice(0, 4)),
      settings.registerSuffix[input.registerId] ?? settings.symbolSuffix,
    );

    try {
      const invoice = store.transaction((): InvoiceRef => {
        // Both counters restart with the year because the year is part of their key (spec §3.3, §4).
        const shdon = store.nextCounter(`shdon:${khmshdon}:${khhdon}`);
        const seq = store.nextCounter(`mccqt:${khmshdon}:${nlap.slice(2, 4)}`);
        const { signedXml, mccqt, qr } = buildSignedInvoice({
          draft: computed.draft,
          receipt,
          registerId: input.registerId,
          numbers: { khmshdon, khhdon, shdon, seq },
          settings,
          signer,
          now,
        });
        const sha256 = createHash("sha256").update(signedXml).digest("hex");
        const chain = createHash("sha256").update(store.chainHead()).update(signedXml).digest("hex");

        const receiptRow = store.insertReceipt({
          registerId: input.registerId,
          receiptId: receipt.receiptId,
          driver: input.driverId,
          receivedAt: input.receivedAt,
          issuedAt: receipt.issuedAt,
          raw: input.raw,
          receiptJson: JSON.stringify(receipt),
        });
        const invoiceId = store.insertInvoice({
          receiptRow,
          khmshdon,
          khhdon,
          shdon,
          mccqt,
          nlap,
          total: computed.draft.TgTTTBSo,
          qr,
          signedXml,
          sha256,
          chain,
          createdAt: now,
          deadlineAt: vnEndOfDay(now),
        });
        store.insertDelivery(invoiceId, now);
        return { mccqt, khmshdon, khhdon, shdon, qr };
      });
      log.info({ register: input.registerId, receipt: receipt.receiptId, mccqt: invoice.mccqt }, "invoice recorded");
      return { status: "ok", invoice };
    } catch (cause) {
      // Nothing was committed. An invoice that breaks a rule of the format will break it again on every resend,
      // so it is held for review like a bad receipt rather than answered "try again".
      if (cause instanceof InvoiceInvalidError) return reject(input, cause.code, cause.message);
      // A DaemonError (expired certificate …) keeps its own code; SQLite errors are classified.
      const err = isDaemonError(cause) ? cause : classifyStoreError(deps.storePath, cause);
      log.error({ err, register: input.registerId, receipt: receipt.receiptId }, "invoice not recorded");
      return { status: "failed", code: err.code, message: err.message };
    }
  };
}
