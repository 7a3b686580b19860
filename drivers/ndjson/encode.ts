/**
 * The register side of ndjson-v1, used by the simulator: receipts → lines, reply lines → values.
 * `decode(encode(r))` gives back `r` for every receipt the simulator generates (a property test checks it).
 */
import { crc32Hex, type ReceiptInput, utf8, utf8Text } from "../../src/driver-api/index.js";

/** Options of {@link encodeReceipt}. */
export interface EncodeOptions {
  /** Append the `*<crc32>` integrity trailer. */
  readonly crc?: boolean;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function put(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined) target[key] = value;
}

/** "2" → 2 and "0.5" → 0.5 when the number prints back identically; otherwise the string stays. */
function wireQuantity(q: string): number | string {
  const n = Number(q);
  return Number.isFinite(n) && String(n) === q ? n : q;
}

/** "8%" → 8 for the standard rates; codes like "KCT" or "KHAC:3.5%" stay strings. */
function wireVatRate(rate: string): number | string {
  const m = /^(0|5|8|10)%$/.exec(rate);
  return m ? Number(m[1]) : rate;
}

/**
 * A receipt in the ndjson-v1 message shape (README.md "Receipt message"); a refund of a whole sale named by its id
 * (no lines) goes as a `void` (README.md "Void").
 */
export function receiptToWire(r: ReceiptInput): Record<string, unknown> {
  if (r.kind === "refund" && r.lines.length === 0 && r.replaces?.receiptId !== undefined) {
    const msg: Record<string, unknown> = { v: 1, type: "void", id: r.receiptId, ts: r.issuedAt };
    msg["ref"] = r.replaces.receiptId;
    put(msg, "note", r.replaces.note);
    msg["total"] = r.total;
    return msg;
  }
  const msg: Record<string, unknown> = { v: 1, type: "receipt", id: r.receiptId, ts: r.issuedAt };
  if (r.device !== undefined) {
    const register: Record<string, unknown> = {};
    put(register, "serial", r.device.serial);
    put(register, "model", r.device.model);
    msg["register"] = register;
  }
  put(msg, "kind", r.kind);
  put(msg, "replaces", r.replaces);
  put(msg, "pricesIncludeVat", r.pricesIncludeVat);
  put(msg, "currency", r.currency);
  msg["items"] = r.lines.map((l) => {
    const item: Record<string, unknown> = {};
    put(item, "kind", l.kind);
    put(item, "code", l.code);
    put(item, "name", l.name);
    put(item, "unit", l.unit);
    if (l.quantity !== undefined) item["qty"] = wireQuantity(l.quantity);
    put(item, "unitPrice", l.unitPrice);
    put(item, "discount", l.discount);
    put(item, "amount", l.amount);
    if (l.vatRate !== undefined) item["vatRate"] = wireVatRate(l.vatRate);
    put(item, "group", l.group);
    return item;
  });
  if (r.payments !== undefined) msg["payments"] = r.payments.map((p) => ({ method: p.method, amount: p.amount }));
  msg["total"] = r.total;
  put(msg, "buyer", r.buyer);
  return msg;
}

/** One message as a line: JSON, the optional CRC trailer, `\n`. */
export function encodeMessage(message: Record<string, unknown>, options: EncodeOptions = {}): Uint8Array {
  const json = JSON.stringify(message);
  return utf8(options.crc ? `${json}*${crc32Hex(utf8(json))}\n` : `${json}\n`);
}

/** One receipt as a line. */
export function encodeReceipt(r: ReceiptInput, options: EncodeOptions = {}): Uint8Array {
  return encodeMessage(receiptToWire(r), options);
}

/** A register's day close, as it sends it (its Z report). */
export interface DayClose {
  readonly id: string;
  /** `YYYY-MM-DD`. */
  readonly date: string;
  /** Sales receipts the register made that day. */
  readonly receipts: number;
  /** Its takings that day, whole đồng (sales less voids and refunds). */
  readonly total: number;
}

/** A register's day close (its Z report): `{"type":"dayClose"}` with its own count and takings (README.md). */
export function encodeDayClose(close: DayClose, options: EncodeOptions = {}): Uint8Array {
  return encodeMessage({ v: 1, type: "dayClose", ...close }, options);
}

/** A `{"type":"ping"}` line. */
export function encodePing(options: EncodeOptions = {}): Uint8Array {
  return encodeMessage({ type: "ping" }, options);
}

/** A reply line the daemon sent, as the register understands it. */
export type NdjsonReply =
  | {
      readonly type: "ack";
      readonly id: string;
      readonly status: "ok" | "dup";
      readonly mccqt?: string;
      readonly khmshdon?: string;
      readonly khhdon?: string;
      readonly shdon?: number;
      readonly qr?: string;
    }
  | {
      readonly type: "nak";
      readonly id: string | null;
      readonly code: string;
      readonly error: string;
      /** The daemon stored nothing and a resend may succeed (transmission error, storage failure). */
      readonly retry: boolean;
    }
  | { readonly type: "pong" };

const optString = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/**
 * Parse one reply line (without or with its `\n`, `\r\n`, CRC trailer). `undefined` for anything that is not a
 * well-formed reply, including a reply whose CRC trailer does not match.
 */
export function parseReply(line: Uint8Array): NdjsonReply | undefined {
  let text = utf8Text(line)?.replace(/\r?\n$/, "");
  if (text === undefined) return undefined;
  const m = /^(.*\})\*([0-9a-fA-F]{8})$/s.exec(text);
  if (m) {
    if (crc32Hex(utf8(m[1]!)) !== m[2]!.toLowerCase()) return undefined;
    text = m[1]!;
  }
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(msg)) return undefined;
  if (msg["pong"] === true) return { type: "pong" };
  if (typeof msg["ack"] === "string" && (msg["status"] === "ok" || msg["status"] === "dup")) {
    return {
      type: "ack",
      id: msg["ack"],
      status: msg["status"],
      mccqt: optString(msg["mccqt"]),
      khmshdon: optString(msg["khmshdon"]),
      khhdon: optString(msg["khhdon"]),
      shdon: typeof msg["shdon"] === "number" ? msg["shdon"] : undefined,
      qr: optString(msg["qr"]),
    };
  }
  if ("nak" in msg && (typeof msg["nak"] === "string" || msg["nak"] === null)) {
    return {
      type: "nak",
      id: msg["nak"],
      code: optString(msg["code"]) ?? "UNKNOWN",
      error: optString(msg["error"]) ?? "",
      retry: msg["retry"] === true,
    };
  }
  return undefined;
}
