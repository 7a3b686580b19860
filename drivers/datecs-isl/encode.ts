/**
 * The POS side of Datecs/ISL, used by the simulator: a receipt → the host commands a POS sends for it, frames,
 * and the device's answers as the POS reads them. `decode(encode(r))` gives back {@link projectReceipt}`(r)`: the
 * part of a receipt the protocol can carry (a property test checks it).
 */
import type { ReceiptInput } from "../../src/driver-api/index.js";
import { CMD, type PaymentMethod, TAX_LETTERS, type TaxLetter, type VatRateCode } from "./engine.js";
import { encodeFrame, type Frame, type Framing } from "./frame.js";
import { hasErrorBits } from "./tap.js";
import { datecsDateTime, decodeText, encodeText, formatDong, lineGross, type TextEncoding } from "./text.js";

/** One host command: code and DATA (unescaped). */
export interface HostCommand {
  readonly cmd: number;
  readonly data: Uint8Array;
  /** For logs and tests: `open`, `sale`, `payment`, `buyer`, `close`, `set-time` … */
  readonly label: string;
}

/** Options of the encoder (the same tables the decoder uses, read backwards). */
export interface EncodeOptions {
  readonly framing: Framing;
  /** `auto` writes UTF-8. */
  readonly encoding: TextEncoding;
  readonly taxGroups: Readonly<Record<TaxLetter, VatRateCode | null>>;
  readonly paymentModes: Readonly<Record<string, PaymentMethod>>;
  /** Operator number, password and till number sent with 30h (default 1, 0000, 1). */
  readonly operator?: { readonly number: number; readonly password: string; readonly till: number };
}

/** The receipt cannot be written in Datecs commands (the reason says which field). */
export class UnencodableReceiptError extends Error {
  override readonly name = "UnencodableReceiptError";
}

const MAX_DATA = 213;

function letterFor(options: EncodeOptions, rate: string | undefined): TaxLetter {
  const letter = TAX_LETTERS.find((l) => options.taxGroups[l] === rate);
  if (letter === undefined) throw new UnencodableReceiptError(`no tax group for VAT rate ${rate ?? "(none)"}`);
  return letter;
}

function modeFor(options: EncodeOptions, method: PaymentMethod): string {
  const mode = Object.keys(options.paymentModes).find((k) => options.paymentModes[k] === method);
  if (mode === undefined) throw new UnencodableReceiptError(`no payment mode for ${method}`);
  return mode;
}

/** Names and other free text: TAB and LF separate parameters, so they become spaces. */
const flat = (s: string): string => s.replace(/[\t\r\n]+/g, " ").trim();

function command(options: EncodeOptions, cmd: number, text: string, label: string): HostCommand {
  const data = encodeText(text, options.encoding);
  if (data.length > MAX_DATA) throw new UnencodableReceiptError(`${label}: ${data.length} bytes > ${MAX_DATA}`);
  return { cmd, data, label };
}

/** 3Dh: set the printer clock (`DD-MM-YY hh:mm:ss`). */
export function setTimeCommand(options: EncodeOptions, ms: number): HostCommand {
  const t = datecsDateTime(ms);
  return command(options, CMD.SET_TIME, options.framing === "x" ? `${t}\t` : t, "set-time");
}

/** A command without DATA (4Ah status, 38h close, 3Ch cancel, 3Eh time …). */
export function bareCommand(options: EncodeOptions, cmd: number, label: string): HostCommand {
  return command(options, cmd, "", label);
}

/** What a storno (2Eh old / 2Bh X) says about the sale it reverses, as the POS learnt it from the printer. */
export interface StornoReference {
  /** The original's document number (71h after its close; X: the slip number of its open or close answer). */
  readonly docNo: number;
  /** The printer clock at the original's close, epoch ms. */
  readonly closedAtMs: number;
  /** The printer's fiscal memory number (5Ah). */
  readonly fiscalMemory: string;
  /** E operator error, R goods returned (default), T tax base reduction. */
  readonly reason?: "E" | "R" | "T";
}

/** The storno open for a refund receipt naming its sale by `replaces.receiptId`. */
function stornoOpen(r: ReceiptInput, options: EncodeOptions, ref: StornoReference | undefined): HostCommand {
  const original = r.replaces?.receiptId;
  if (original === undefined) throw new UnencodableReceiptError("a refund needs replaces.receiptId");
  if (ref === undefined) throw new UnencodableReceiptError("a refund needs the original's document reference");
  const op = options.operator ?? { number: 1, password: "0000", till: 1 };
  const reason = ref.reason ?? "R";
  const when = datecsDateTime(ref.closedAtMs);
  const note = r.replaces?.note === undefined ? "" : flat(r.replaces.note);
  if (/[#\t]/.test(original) || (options.framing === "old" && /[,#]/.test(r.receiptId))) {
    throw new UnencodableReceiptError("receipt ids in a storno cannot hold ',' '#' or TAB");
  }
  if (options.framing === "x") {
    // OpCode, OpPwd, TillNmb, Storno, DocNum, DateTime, FMNumber, Invoice, ToInvoice, Reason, NSale (the
    // original's UNP). The storno has no UNP of its own here: the printer numbers it.
    const type = { E: "0", R: "1", T: "2" }[reason];
    const f = [op.number, op.password, op.till, type, ref.docNo, when, ref.fiscalMemory, "", "", note, original];
    return command(options, CMD.STORNO_X, f.map((v) => `${v}\t`).join(""), "storno");
  }
  // OpNum,Pwd,TillNum,UNP,<type><DocNo>,StUNP,StDT(DDMMYYhhmmss),StFMIN[#reason]
  const stDt = when.replace(/[- :]/g, "");
  const docNo = String(ref.docNo).padStart(7, "0");
  const text = `${op.number},${op.password},${op.till},${r.receiptId},${reason}${docNo},${original},${stDt},${ref.fiscalMemory}`;
  return command(options, CMD.STORNO_OLD, note ? `${text}#${note}` : text, "storno");
}

/**
 * The commands a POS sends for one receipt: 30h open (the receipt id as the unique sale number), 31h per line,
 * 35h per payment, 39h buyer, 38h close. A `refund` naming its sale by `replaces.receiptId` opens a storno
 * (2Eh / 2Bh) with `storno`, the original's reference, instead. Throws {@link UnencodableReceiptError} for what the
 * protocol cannot carry: non-goods lines, a line without a unit price, a line amount other than round(quantity ×
 * price) − discount, payments that do not add up to the total, a refund without its reference.
 */
export function receiptCommands(r: ReceiptInput, options: EncodeOptions, storno?: StornoReference): HostCommand[] {
  const x = options.framing === "x";
  const op = options.operator ?? { number: 1, password: "0000", till: 1 };
  const out: HostCommand[] = [];
  const refund = r.kind === "refund";
  if (r.kind === "replacement") throw new UnencodableReceiptError("a replacement has no Datecs command");
  if (refund && r.buyer !== undefined) throw new UnencodableReceiptError("a storno carries no buyer here");
  const invoice = r.buyer !== undefined;
  out.push(
    refund
      ? stornoOpen(r, options, storno)
      : command(
          options,
          CMD.OPEN,
          x
            ? `${op.number}\t${op.password}\t${r.receiptId}\t${op.till}\t${invoice ? "I" : ""}\t`
            : `${op.number},${op.password},${op.till}${invoice ? ",I" : ""},${r.receiptId}`,
          "open",
        ),
  );
  let total = 0;
  for (const [i, l] of r.lines.entries()) {
    if ((l.kind ?? "goods") !== "goods") throw new UnencodableReceiptError(`line ${i + 1}: only goods lines`);
    if (l.unitPrice === undefined) throw new UnencodableReceiptError(`line ${i + 1}: no unit price`);
    const gross = l.quantity === undefined ? BigInt(l.unitPrice) : lineGross(l.quantity, BigInt(l.unitPrice));
    const discount = l.discount ?? 0;
    if (BigInt(l.amount ?? 0) !== gross - BigInt(discount)) {
      throw new UnencodableReceiptError(`line ${i + 1}: amount is not quantity × price − discount`);
    }
    total += l.amount ?? 0;
    const letter = letterFor(options, l.vatRate);
    const name = flat(l.name);
    const price = formatDong(BigInt(l.unitPrice));
    const unit = l.unit === undefined ? undefined : flat(l.unit);
    if (unit !== undefined && (unit.length === 0 || unit.length > 8 || /[,;#]/.test(unit))) {
      throw new UnencodableReceiptError(`line ${i + 1}: unit "${unit}" does not fit the sale command`);
    }
    let text: string;
    if (x) {
      const d = discount > 0 ? ["4", formatDong(BigInt(discount))] : ["0", ""];
      text = [
        name,
        String(TAX_LETTERS.indexOf(letter) + 1),
        price,
        l.quantity ?? "",
        ...d,
        "0",
        ...(unit ? [unit] : []),
      ]
        .map((f) => `${f}\t`)
        .join("");
    } else {
      const qty = l.quantity === undefined ? "" : `*${l.quantity}${unit ? `#${unit}` : ""}`;
      if (l.quantity === undefined && unit !== undefined) {
        throw new UnencodableReceiptError(`line ${i + 1}: a unit needs a quantity in old framing`);
      }
      text = `${name}\t${letter}${price}${qty}${discount > 0 ? `;-${formatDong(BigInt(discount))}` : ""}`;
    }
    out.push(command(options, CMD.SALE, text, "sale"));
  }
  if (total !== r.total) throw new UnencodableReceiptError("total is not the sum of the lines");
  const payments = r.payments ?? [];
  const paid = payments.reduce((s, p) => s + p.amount, 0);
  if (payments.length > 0 && paid !== r.total) throw new UnencodableReceiptError("payments do not add up to the total");
  if (payments.some((p) => p.amount === 0)) throw new UnencodableReceiptError("a payment of 0");
  if (payments.length === 0) {
    out.push(
      command(
        options,
        CMD.PAYMENT,
        x ? `${modeFor(options, "cash")}\t${formatDong(BigInt(r.total))}\t` : "\t",
        "payment",
      ),
    );
  }
  for (const p of payments) {
    const mode = modeFor(options, p.method);
    const amount = formatDong(BigInt(p.amount));
    out.push(command(options, CMD.PAYMENT, x ? `${mode}\t${amount}\t` : `\t${mode}${amount}`, "payment"));
  }
  if (r.buyer !== undefined) {
    const b = r.buyer;
    const personal = b.taxCode === undefined && b.citizenId !== undefined;
    const id = (personal ? b.citizenId : b.taxCode) ?? "";
    const name = flat((personal ? (b.personName ?? b.name) : (b.name ?? b.personName)) ?? "");
    const address = flat(b.address ?? "");
    out.push(
      command(
        options,
        CMD.BUYER,
        x
          ? `\t\t${name}\t${address}\t\t${personal ? "1" : "0"}\t${id}\t\t`
          : `${personal ? "#" : ""}${id}\t\t\t${name}${address ? `\t\t${address}` : ""}`,
        "buyer",
      ),
    );
  }
  out.push(bareCommand(options, CMD.CLOSE, "close"));
  return out;
}

/**
 * What the decoder produces from {@link receiptCommands}: the receipt as the protocol carries it. Item codes,
 * groups, the device field and buyer details other than tax code / citizen id, name and address do not travel;
 * `issuedAt` is the printer's clock (equal to `r.issuedAt` when the POS set the clock to it just before).
 */
export function projectReceipt(r: ReceiptInput): ReceiptInput {
  const out: ReceiptInput = {
    receiptId: r.receiptId,
    issuedAt: r.issuedAt,
    pricesIncludeVat: true,
    lines: r.lines.map((l) => {
      const line: ReceiptInput["lines"][number] = { name: flat(l.name) };
      if (l.unit !== undefined) line.unit = flat(l.unit);
      if (l.quantity !== undefined) line.quantity = l.quantity;
      if (l.unitPrice !== undefined) line.unitPrice = l.unitPrice;
      if ((l.discount ?? 0) > 0) line.discount = l.discount!;
      line.amount = l.amount ?? 0;
      if (l.vatRate !== undefined) line.vatRate = l.vatRate;
      return line;
    }),
    payments:
      (r.payments ?? []).length > 0
        ? (r.payments ?? []).map((p) => ({ method: p.method, amount: p.amount }))
        : r.total > 0
          ? [{ method: "cash", amount: r.total }]
          : [],
    total: r.total,
  };
  if (r.kind === "refund" && r.replaces?.receiptId !== undefined) {
    // Key order as the decoder writes it (receiptId, issuedAt, kind, replaces, …), so truth files read alike.
    const note = r.replaces.note === undefined ? "" : flat(r.replaces.note);
    const { receiptId, issuedAt, ...rest } = out;
    return {
      receiptId,
      issuedAt,
      kind: "refund",
      replaces: { receiptId: r.replaces.receiptId, ...(note ? { note } : {}) },
      ...rest,
    };
  }
  if (r.buyer !== undefined) {
    const b = r.buyer;
    const buyer: NonNullable<ReceiptInput["buyer"]> = {};
    if (b.taxCode === undefined && b.citizenId !== undefined) {
      const name = b.personName ?? b.name;
      if (name) buyer.personName = flat(name);
      buyer.citizenId = b.citizenId;
    } else {
      const name = b.name ?? b.personName;
      if (name) buyer.name = flat(name);
      if (b.taxCode) buyer.taxCode = b.taxCode;
    }
    if (b.address && flat(b.address)) buyer.address = flat(b.address);
    out.buyer = buyer;
  }
  return out;
}

/** A host frame for `command` with sequence number `seq`. */
export function hostFrame(framing: Framing, seq: number, command: HostCommand): Uint8Array {
  return encodeFrame(framing, { seq, cmd: command.cmd, data: command.data });
}

/** A device answer as the POS reads it. */
export interface DeviceAnswer {
  readonly seq: number;
  readonly cmd: number;
  /** The answer text (`0\t…` in X framing). */
  readonly text: string;
  readonly status: Uint8Array;
  /** Status bits (or the X ErrorCode) say the command failed. */
  readonly error: boolean;
  /** 38h failed with only the general-error bit: the printer could not store it; send 38h again. */
  readonly retry: boolean;
}

/** Read a device frame as the POS does. */
export function readAnswer(framing: Framing, frame: Frame): DeviceAnswer {
  const status = frame.status ?? new Uint8Array();
  const text = decodeText(frame.data, "auto") ?? "";
  const xError = framing === "x" && !(text === "" || /^0(\t|$)/.test(text));
  const error = hasErrorBits(status) || xError;
  // Only 0.5 (general error) set, nothing specific: a storage failure, worth retrying.
  const s0 = status[0] ?? 0;
  const retry = error && (s0 & 0x23) === 0x20 && ((status[1] ?? 0) & 0x03) === 0;
  return { seq: frame.seq, cmd: frame.cmd, text, status, error, retry };
}

/** The sequence number after `seq`: 0x20–0x7F in old framing, 0x20–0xFF in X framing. */
export function nextSeq(framing: Framing, seq: number): number {
  const max = framing === "old" ? 0x7f : 0xff;
  return seq >= max ? 0x20 : seq + 1;
}
