/**
 * ndjson-v1 decoder: `\n`-terminated JSON lines → receipt / reply / problem events (README.md "Wire format").
 * Sans-I/O; a bad line becomes one problem event and the next line decodes normally.
 */
import {
  crc32Hex,
  type Decoder,
  type DecoderEvent,
  formatDong,
  type LineFrame,
  lineFramer,
  type ProblemCode,
  type RecordOutcome,
  utf8,
  utf8Text,
} from "../../src/driver-api/index.js";

/** Options of the ndjson-v1 decoder (validated by the driver's zod schema). */
export interface NdjsonDecoderOptions {
  /** Longest accepted line in bytes, before `\n`. */
  readonly maxLineBytes: number;
  /** Refuse lines without the `*<crc32>` trailer. */
  readonly requireCrc: boolean;
}

const OPEN_BRACE = 0x7b;
const STAR = 0x2a;
const TRAILER_LENGTH = 9; // "*" + 8 hex digits

/** A reply line: JSON, the CRC trailer when the line it answers had one, `\n`. */
export function replyLine(message: Record<string, unknown>, withCrc: boolean): Uint8Array {
  const json = JSON.stringify(message);
  return utf8(withCrc ? `${json}*${crc32Hex(utf8(json))}\n` : `${json}\n`);
}

/** The reply to a receipt once the write path has spoken (README.md "Replies"). */
export function receiptReply(id: string, outcome: RecordOutcome, withCrc: boolean): Uint8Array {
  switch (outcome.status) {
    case "ok":
    case "dup": {
      const inv = outcome.invoice;
      return replyLine(
        {
          ack: id,
          status: outcome.status,
          mccqt: inv.mccqt,
          khmshdon: inv.khmshdon,
          khhdon: inv.khhdon,
          shdon: inv.shdon,
          qr: inv.qr,
        },
        withCrc,
      );
    }
    case "rejected":
    case "failed":
      return replyLine(
        { nak: id, status: "error", code: outcome.code, error: outcome.message, retry: outcome.status === "failed" },
        withCrc,
      );
    default: {
      const never: never = outcome;
      throw new TypeError(`unknown outcome ${JSON.stringify(never)}`);
    }
  }
}

function nak(id: string | null, code: string, error: string, retry: boolean, withCrc: boolean): Uint8Array {
  return replyLine({ nak: id, status: "error", code, error, retry }, withCrc);
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A JSON number as a decimal string without exponent ("0.5", "2", "0.0000001"), digits as JavaScript prints them. */
export function numberToDecimal(n: number): string {
  if (Number.isInteger(n)) return BigInt(n).toString();
  const s = String(n);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  // Shift the decimal point of the shortest round-trip digits instead of printing the binary value in full.
  const digits = m[2]! + (m[3] ?? "");
  const point = 1 + Number(m[4]);
  const body =
    point <= 0
      ? `0.${"0".repeat(-point)}${digits}`
      : point >= digits.length
        ? digits + "0".repeat(point - digits.length)
        : `${digits.slice(0, point)}.${digits.slice(point)}`;
  return m[1]! + body;
}

/** Wire quantity (number or decimal string) → the Receipt's decimal string; anything else is passed on unchanged. */
function quantity(v: unknown): unknown {
  if (typeof v === "number" && Number.isFinite(v)) return numberToDecimal(v);
  if (typeof v === "string") return v.trim();
  return v;
}

/** Whole đồng; a string of digits is accepted ("25000"). Anything else passes on for the write path to refuse. */
function dong(v: unknown): unknown {
  if (typeof v === "string" && /^\d{1,15}$/.test(v.trim())) return Number(v.trim());
  return v;
}

const STANDARD_RATES = new Set([0, 5, 8, 10]);

/**
 * Wire VAT rate → `TSuat` code: 8 / "8" / "8%" → "8%"; "kct" → "KCT"; other numbers become "<n>%", which the
 * write path refuses (send "KHAC:3.5%" for an "other" rate, so a fraction like 0.08 can never slip through).
 */
function vatRate(v: unknown): unknown {
  if (typeof v === "number") return STANDARD_RATES.has(v) ? `${v}%` : `${numberToDecimal(v)}%`;
  if (typeof v === "string") {
    const s = v.trim().toUpperCase();
    return /^\d+(\.\d+)?$/.test(s) ? `${s}%` : s;
  }
  return v;
}

function put(target: Record<string, unknown>, key: string, value: unknown): void {
  if (value !== undefined) target[key] = value;
}

function line(item: unknown): unknown {
  if (!isRecord(item)) return item;
  const out: Record<string, unknown> = {};
  put(out, "kind", item["kind"]);
  put(out, "code", item["code"]);
  put(out, "name", item["name"]);
  put(out, "unit", item["unit"]);
  const qty = item["qty"] ?? item["quantity"];
  if (qty !== undefined) out["quantity"] = quantity(qty);
  if (item["unitPrice"] !== undefined) out["unitPrice"] = dong(item["unitPrice"]);
  if (item["discount"] !== undefined) out["discount"] = dong(item["discount"]);
  if (item["amount"] !== undefined) out["amount"] = dong(item["amount"]);
  if (item["vatRate"] !== undefined) out["vatRate"] = vatRate(item["vatRate"]);
  put(out, "group", item["group"]);
  return out;
}

function payment(p: unknown): unknown {
  if (!isRecord(p)) return p;
  const out: Record<string, unknown> = {};
  put(out, "method", typeof p["method"] === "string" ? p["method"].trim().toLowerCase() : p["method"]);
  if (p["amount"] !== undefined) out["amount"] = dong(p["amount"]);
  return out;
}

/**
 * A wire receipt message → the Receipt wire shape (`ReceiptInput`), unvalidated: values that cannot be converted
 * are passed on as they are, so the write path rejects them with a precise zod message (and keeps the bytes).
 */
export function receiptFromWire(msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  put(out, "receiptId", msg["id"]);
  put(out, "issuedAt", msg["ts"]);
  put(out, "kind", msg["kind"]);
  put(out, "replaces", msg["replaces"]);
  put(out, "pricesIncludeVat", msg["pricesIncludeVat"]);
  put(out, "currency", msg["currency"]);
  const items = msg["items"];
  out["lines"] = Array.isArray(items) ? items.map(line) : items;
  const payments = msg["payments"];
  if (payments !== undefined) out["payments"] = Array.isArray(payments) ? payments.map(payment) : payments;
  put(out, "buyer", msg["buyer"]);
  if (msg["total"] !== undefined) out["total"] = dong(msg["total"]);
  const register = msg["register"];
  if (isRecord(register)) {
    const device: Record<string, unknown> = {};
    put(device, "serial", register["serial"]);
    put(device, "model", register["model"]);
    out["device"] = device;
  } else if (register !== undefined) {
    out["device"] = register;
  }
  return out;
}

/**
 * A `{"type":"refund"}` message (register-protocols.md §4.3): a receipt of kind `refund` whose `ref` names the sale
 * it takes goods back from — a string is that sale's `id` (→ `replaces.receiptId`), an object an invoice number
 * (`{khmshdon, khhdon, shdon}`). An explicit `replaces` wins; `note` is the replacement's reason (`GChu`).
 */
export function refundFromWire(msg: Record<string, unknown>): Record<string, unknown> {
  const out = receiptFromWire(msg);
  out["kind"] = "refund";
  if (msg["replaces"] === undefined) {
    const ref = msg["ref"];
    const replaces: Record<string, unknown> =
      typeof ref === "string" ? { receiptId: ref } : isRecord(ref) ? { ...ref } : {};
    if (ref !== undefined && typeof ref !== "string" && !isRecord(ref)) replaces["receiptId"] = ref; // zod says why
    put(replaces, "note", msg["note"]);
    out["replaces"] = replaces;
  }
  return out;
}

/**
 * A `{"type":"void"}` message: the register voids a sale whose invoice was already made. An invoice is never
 * cancelled (corrections.ts), so this is a refund of the whole sale named by `ref`: no lines, `total` the money given
 * back (it must equal the invoice's). The write path issues the zero-total replacement, or holds it for review
 * (`invoice.fullRefund`). `items`, if any, are not read.
 */
export function voidFromWire(msg: Record<string, unknown>): Record<string, unknown> {
  return refundFromWire({ ...msg, items: [] });
}

/**
 * A `{"type":"dayClose"}` message (the register's Z report) → the notice kept for the daily reconciliation: the
 * register's own count and takings of the day, as it sent them.
 */
function dayCloseDetail(msg: Record<string, unknown>): string {
  const date = typeof msg["date"] === "string" ? msg["date"] : typeof msg["ts"] === "string" ? msg["ts"] : "?";
  const whole = (v: unknown): number | undefined =>
    Number.isSafeInteger(v) && (v as number) >= 0 ? (v as number) : undefined;
  const count = whole(msg["receipts"]);
  const total = whole(msg["total"]);
  const vi = [`Chốt ca/ngày ${date}`];
  const en = [`day close ${date}`];
  if (count !== undefined) {
    vi.push(`${count} phiếu`);
    en.push(`${count} receipts`);
  }
  if (total !== undefined) {
    vi.push(`doanh thu ${formatDong(total)} đ`);
    en.push(`sales ${total} VND`);
  }
  return `${vi.join(", ")} / ${en.join(", ")}`;
}

/** Split `*xxxxxxxx` off the end of a line when present. */
function splitTrailer(body: Uint8Array): { json: Uint8Array; crc?: string } {
  if (body.length > TRAILER_LENGTH && body[body.length - TRAILER_LENGTH] === STAR) {
    const hex = String.fromCharCode(...body.subarray(body.length - 8));
    if (/^[0-9a-fA-F]{8}$/.test(hex)) return { json: body.subarray(0, body.length - TRAILER_LENGTH), crc: hex };
  }
  return { json: body };
}

const isBlank = (bytes: Uint8Array): boolean => bytes.every((b) => b === 0x20 || b === 0x09 || b === 0x0d);

/** Create a decoder (one per connection). */
export function createNdjsonDecoder(options: NdjsonDecoderOptions): Decoder {
  const framer = lineFramer({ maxLength: options.maxLineBytes });

  const problem = (code: ProblemCode, detail: string, raw: Uint8Array, reply?: Uint8Array): DecoderEvent =>
    reply === undefined ? { type: "problem", code, detail, raw } : { type: "problem", code, detail, raw, reply };

  function decodeLine(body: Uint8Array, raw: Uint8Array, out: DecoderEvent[]): void {
    if (isBlank(body)) return; // keep-alive blank line
    // Line noise before the object (power-on garbage, a stray byte): keep it as its own problem, decode the rest.
    const start = body.indexOf(OPEN_BRACE);
    if (start === -1) {
      out.push(
        problem(
          "GARBAGE",
          "Dòng không chứa đối tượng JSON / line holds no JSON object",
          raw,
          nak(null, "GARBAGE", "Dòng không chứa đối tượng JSON / line holds no JSON object", true, false),
        ),
      );
      return;
    }
    if (start > 0 && !isBlank(body.subarray(0, start))) {
      out.push(
        problem(
          "GARBAGE",
          `${start} byte rác trước JSON / ${start} bytes of noise before the JSON`,
          raw.subarray(0, start),
        ),
      );
      body = body.subarray(start);
      raw = raw.subarray(start);
    }

    const { json, crc } = splitTrailer(body);
    const withCrc = crc !== undefined;
    if (crc !== undefined) {
      const computed = crc32Hex(json);
      if (computed !== crc.toLowerCase()) {
        const msg = `Sai mã CRC-32: nhận ${crc}, tính được ${computed} / CRC-32 mismatch: got ${crc}, computed ${computed}`;
        out.push(problem("BAD_CHECKSUM", msg, raw, nak(null, "BAD_CHECKSUM", msg, true, true)));
        return;
      }
    } else if (options.requireCrc) {
      const msg = "Thiếu mã CRC-32 cuối dòng / missing CRC-32 trailer";
      out.push(problem("BAD_CHECKSUM", msg, raw, nak(null, "BAD_CHECKSUM", msg, true, false)));
      return;
    }

    const text = utf8Text(json);
    if (text === undefined) {
      const msg = "Dòng không phải UTF-8 hợp lệ / line is not valid UTF-8";
      out.push(problem("BAD_JSON", msg, raw, nak(null, "BAD_JSON", msg, true, withCrc)));
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const detail = `Dòng không phải JSON hợp lệ / line is not valid JSON: ${why}`;
      out.push(problem("BAD_JSON", detail, raw, nak(null, "BAD_JSON", detail, true, withCrc)));
      return;
    }
    if (!isRecord(msg)) {
      const detail = "Thông điệp phải là một đối tượng JSON / a message must be a JSON object";
      out.push(problem("DECODE_FAILED", detail, raw, nak(null, "DECODE_FAILED", detail, false, withCrc)));
      return;
    }
    const type = msg["type"];
    if (type === undefined && ("ack" in msg || "nak" in msg || "pong" in msg)) {
      // Our own reply coming back (echo on, or two daemons wired together): never answer it, or we would loop.
      out.push(problem("UNKNOWN_RECORD", "Nhận lại dòng trả lời (echo?) / got a reply line back (echo?)", raw));
      return;
    }
    const v = msg["v"] ?? 1;
    if (v !== 1) {
      const detail = `Phiên bản không hỗ trợ: v=${JSON.stringify(v)} / unsupported version`;
      const id = typeof msg["id"] === "string" ? msg["id"] : null;
      out.push(problem("UNKNOWN_RECORD", detail, raw, nak(id, "UNKNOWN_RECORD", detail, false, withCrc)));
      return;
    }
    if (type === "ping") {
      const pong: Record<string, unknown> = { pong: true };
      if (typeof msg["id"] === "string") pong["id"] = msg["id"];
      out.push({ type: "reply", bytes: replyLine(pong, withCrc) });
      return;
    }
    if (type === "dayClose") {
      const id = typeof msg["id"] === "string" ? msg["id"] : null;
      const ack: Record<string, unknown> = { ack: id, status: "ok" };
      out.push(problem("DAY_CLOSE", dayCloseDetail(msg), raw, replyLine(ack, withCrc)));
      return;
    }
    if (type !== "receipt" && type !== "refund" && type !== "void") {
      const detail = `Loại thông điệp không hỗ trợ: ${JSON.stringify(type)} / unsupported message type`;
      const id = typeof msg["id"] === "string" ? msg["id"] : null;
      out.push(problem("UNKNOWN_RECORD", detail, raw, nak(id, "UNKNOWN_RECORD", detail, false, withCrc)));
      return;
    }
    const id = msg["id"];
    if (typeof id !== "string" || id.length === 0) {
      const detail = 'Thiếu mã phiếu "id" (chuỗi) / missing receipt "id" (a string)';
      out.push(problem("DECODE_FAILED", detail, raw, nak(null, "DECODE_FAILED", detail, false, withCrc)));
      return;
    }
    out.push({
      type: "receipt",
      receipt: type === "refund" ? refundFromWire(msg) : type === "void" ? voidFromWire(msg) : receiptFromWire(msg),
      raw,
      reply: (outcome: RecordOutcome) => receiptReply(id, outcome, withCrc),
    });
  }

  function handle(frames: LineFrame[], out: DecoderEvent[]): void {
    for (const f of frames) {
      if (f.type === "line") {
        decodeLine(f.line, f.raw, out);
        continue;
      }
      const detail = `Dòng dài quá ${options.maxLineBytes} byte (đã nhận ${f.lineLength}) / line longer than ${options.maxLineBytes} bytes (${f.lineLength} so far)`;
      out.push(
        f.end
          ? problem("TOO_LONG", detail, f.raw, nak(null, "TOO_LONG", detail, false, false))
          : problem("TOO_LONG", detail, f.raw),
      );
    }
  }

  return {
    push(bytes: Uint8Array): DecoderEvent[] {
      const out: DecoderEvent[] = [];
      handle(framer.push(bytes), out);
      return out;
    },
    idle(): DecoderEvent[] {
      const rest = framer.flush();
      if (rest === undefined || isBlank(rest)) return [];
      return [
        problem(
          "TRUNCATED",
          `Dòng bị cắt, thiếu "\\n" (${rest.length} byte) / line cut off without "\\n" (${rest.length} bytes)`,
          rest,
        ),
      ];
    },
  };
}
