/**
 * The write path (design.md): receipt → validate → number → build XML → sign → one SQLite transaction holding the
 * raw bytes, the receipt, the signed invoice and its delivery row. Synchronous from start to commit, so the
 * register's ack can only follow a durable commit. Pure pieces (invoice, sign) do the work; this module wires
 * them to the store and turns every outcome into a value the session can answer with.
 */
import { createHash } from "node:crypto";
import type { InvoiceRef, RecordOutcome } from "./driver-api/types.js";
import type { RecordInput } from "./ingest/record-input.js";
import {
  assembleHdon,
  type ComputeOptions,
  type CorrectionOptions,
  computeInvoice,
  dlhdonId,
  type FindIssuedInvoice,
  formatKhhdon,
  formatMccqt,
  type InvoiceDraft,
  InvoiceInvalidError,
  lookupQr,
  MCCQT_SEQ_MAX,
  type RateRule,
  type ReductionRule,
  type RenderContext,
  renderDlhdon,
  resolveCorrection,
  SHDON_MAX,
  STATUTORY_RATES,
  STATUTORY_SALES_REDUCTION,
  type TaxSchedule,
  treatmentOn,
} from "./invoice/index.js";
import { Receipt } from "./receipt/model.js";
import type { Clock } from "./shared/clock.js";
import { vnDate, vnDateTime, vnEndOfDay } from "./shared/clock.js";
import { DaemonError, isDaemonError } from "./shared/errors.js";
import type { Logger } from "./shared/log.js";
import type { XmlSigner } from "./sign/index.js";
import { classifyStoreError } from "./store/db.js";
import type { IngestStore } from "./store/ingest.js";

export type { RecordInput };

/**
 * The options of `computeInvoice` that do not depend on the invoice date (rates and the sales-invoice reduction do:
 * see {@link computeOptionsOn}).
 */
export type ComputeBase = Omit<
  ComputeOptions,
  "defaultVatRate" | "ratesByGroup" | "ratesNotInForce" | "issueDate" | "reductionOn" | "schedule"
>;

/** An inclusive range of the 11-digit `MCCQT` sequence reserved for this box (spec §4: disjoint per box). */
export interface SequenceRange {
  /** First value, ≥ 1. */
  readonly start: number;
  /** Last value, ≤ 99 999 999 999. */
  readonly end: number;
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
  /**
   * This box's share of the `MCCQT` sequence. Absent: 1 … 99 999 999 999. When several boxes share one 5-character
   * block, each gets a disjoint range so their codes never collide; an exhausted range stops the write path with
   * `CONFIG_INVALID` (nothing is committed, the register resends) until a new range is configured.
   */
  readonly mccqtRange?: SequenceRange;
  readonly profile: RenderContext["profile"];
  readonly pban: string;
  readonly anonymousBuyer: RenderContext["anonymousBuyer"];
  readonly compute: ComputeBase;
  /**
   * The shop's VAT rules (`config.invoice.rates`), applied after the law's schedule `STATUTORY_RATES`; resolved for
   * each invoice by its `NLap` (src/invoice/rates.ts).
   */
  readonly rates: readonly RateRule[];
  /** Hold a receipt whose line carries a rate not in force that day (the reduced 8% after 2026-12-31). */
  readonly holdRatesNotInForce: boolean;
  /**
   * The shop's sales-invoice reduction rules (its excluded groups, then `config.invoice.salesReduction.rules`),
   * applied after the law's `STATUTORY_SALES_REDUCTION`; resolved for each invoice by its `NLap`
   * (src/invoice/reduction.ts). Absent: the law's window alone. Only sales invoices (form 2) use it.
   */
  readonly reductionRules?: readonly ReductionRule[];
  /** How refunds and replacements are turned into replacement invoices. */
  readonly corrections: CorrectionOptions;
  readonly qrCrc: boolean;
}

/**
 * The `computeInvoice` options for an invoice dated `nlap` (YYYY-MM-DD, Vietnam local): the rates and sales-invoice
 * reduction of that day, and the whole schedule (the law's rules, then the shop's), from which a replacement gets
 * those of the replaced invoice's date.
 */
export function computeOptionsOn(settings: RecorderSettings, nlap: string): ComputeOptions {
  const schedule: TaxSchedule = {
    rates: [...STATUTORY_RATES, ...settings.rates],
    reduction: [...STATUTORY_SALES_REDUCTION, ...(settings.reductionRules ?? [])],
    holdRatesNotInForce: settings.holdRatesNotInForce,
  };
  return { ...settings.compute, ...treatmentOn(schedule, nlap), issueDate: nlap, schedule };
}

/**
 * The next `MCCQT` sequence value of this box, from the store counter `n` (1, 2, …) for its range. The counter name
 * carries the range start, so a box moved to a new range starts at its beginning and a range is never reused.
 *
 * @throws DaemonError `CONFIG_INVALID` when the range is used up
 */
export function mccqtSequence(range: SequenceRange | undefined, n: number): number {
  const start = range?.start ?? 1;
  const end = range?.end ?? MCCQT_SEQ_MAX;
  const seq = start - 1 + n;
  if (seq > end) {
    throw new DaemonError(
      "CONFIG_INVALID",
      `Đã dùng hết dải số MCCQT ${start}–${end} của máy này: cấu hình dải mới (invoice.mccqtRange) / ` +
        `the MCCQT range ${start}–${end} of this box is used up: configure a new invoice.mccqtRange`,
    );
  }
  return seq;
}

/** Store counter names of the write path (both restart with the year: the year is part of the key, spec §3.3, §4). */
export function counterNames(
  khmshdon: string,
  khhdon: string,
  nlap: string,
  range?: SequenceRange,
): { shdon: string; mccqt: string } {
  const base = `mccqt:${khmshdon}:${nlap.slice(2, 4)}`;
  // The whole-sequence default keeps the name it always had, so stores made before ranges existed continue.
  const mccqt = range === undefined || range.start === 1 ? base : `${base}:${range.start}`;
  return { shdon: `shdon:${khmshdon}:${khhdon}`, mccqt };
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

/**
 * The write path for one receipt. On its own it commits before it returns; inside an open transaction (the group
 * commit of src/store/group-commit.ts) its transactions nest as savepoints and its outcome holds once that commits.
 */
export type Recorder = (input: RecordInput) => RecordOutcome;

const joinProblems = (problems: readonly { readonly message: string }[]): string =>
  problems.map((p) => p.message).join("; ");

export interface RecorderDeps {
  readonly store: IngestStore;
  /**
   * Finds an invoice this box issued, for corrections (src/invoice/corrections.ts). Without it, refunds are held
   * (`REFUND_NEEDS_STORE`) and replacements are taken as the register sends them.
   */
  readonly findIssued?: FindIssuedInvoice;
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
  // The rates of the current day, worked out once per day rather than once per receipt.
  let day: { readonly nlap: string; readonly options: ComputeOptions } | undefined;

  const reject = (input: RecordInput, code: string, message: string): RecordOutcome => {
    try {
      store.transaction(() => {
        const row = store.quarantine({
          registerId: input.registerId,
          driver: input.driverId,
          receivedAt: input.receivedAt,
          code,
          detail: message,
          raw: input.raw,
        });
        if (input.journal) store.linkJournal("quarantine", row, input.journal);
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
    const sent = parsed.data;

    // NLap and SigningTime come from our clock, not the register's: the invoice is made now, and a register with
    // a wrong clock must not push an invoice into another day or year. The register's time is kept in TTKhac.
    // The VAT rates are those in force on NLap (src/invoice/rates.ts).
    const now = clock.now();
    const nlap = vnDate(now);

    let receipt: Receipt;
    try {
      const earlier = store.findInvoiceForReceipt(input.registerId, sent.receiptId);
      if (earlier) return { status: "dup", invoice: earlier };
      // A refund becomes the replacement of the newest invoice of its sale; the stored receipt is that replacement
      // (the register's own message stays in the raw bytes).
      // A register names the sale it corrects by its own receipt id (a Datecs storno, an ndjson refund `ref`) or by
      // the invoice number printed on the customer's copy.
      const corrected = resolveCorrection(sent, deps.findIssued, settings.corrections, (id) =>
        store.findInvoiceForReceipt(input.registerId, id),
      );
      if (!corrected.ok) {
        return reject(input, corrected.problems[0]?.code ?? "RECEIPT_INVALID", joinProblems(corrected.problems));
      }
      receipt = corrected.receipt;
    } catch (cause) {
      const err = classifyStoreError(deps.storePath, cause);
      return { status: "failed", code: err.code, message: err.message };
    }

    if (day?.nlap !== nlap) day = { nlap, options: computeOptionsOn(settings, nlap) };
    const computed = computeInvoice(receipt, day.options);
    if (!computed.ok) {
      return reject(input, computed.problems[0]?.code ?? "RECEIPT_INVALID", joinProblems(computed.problems));
    }

    const khmshdon = settings.form;
    const khhdon = formatKhhdon(
      Number(nlap.slice(0, 4)),
      settings.registerSuffix[input.registerId] ?? settings.symbolSuffix,
    );

    try {
      const invoice = store.transaction((): InvoiceRef => {
        // Both counters restart with the year because the year is part of their key (spec §3.3, §4). A throw
        // below rolls the counters back with everything else.
        const names = counterNames(khmshdon, khhdon, nlap, settings.mccqtRange);
        const shdon = store.nextCounter(names.shdon);
        if (shdon > SHDON_MAX) {
          throw new DaemonError(
            "CONFIG_INVALID",
            `Ký hiệu ${khhdon} đã dùng hết ${SHDON_MAX} số trong năm: đăng ký ký hiệu mới (symbolSuffix) / ` +
              `symbol ${khhdon} has used all ${SHDON_MAX} numbers this year: register a new symbolSuffix`,
          );
        }
        const seq = mccqtSequence(settings.mccqtRange, store.nextCounter(names.mccqt));
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
        // Provenance: this receipt came from that byte range of the port's journal (issue 4 item 5).
        if (input.journal) store.linkJournal("receipt", receiptRow, input.journal);
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
