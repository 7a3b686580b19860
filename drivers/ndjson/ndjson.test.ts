import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { concatBytes, type DecoderEvent, type RecordOutcome, utf8, utf8Text } from "../../src/driver-api/index.js";
import { Receipt } from "../../src/receipt/model.js";
import { generateReceipts, withVoids } from "../../src/simulator/generate.js";
import { numberToDecimal, receiptReply } from "./decode.js";
import { encodeMessage, encodePing, encodeReceipt, parseReply, receiptToWire } from "./encode.js";
import { ndjson } from "./index.js";

const decoder = (options: object = {}): ReturnType<typeof ndjson.createDecoder> =>
  ndjson.createDecoder(ndjson.options.parse(options));

const receiptsOf = (events: readonly DecoderEvent[]): unknown[] =>
  events.flatMap((e) => (e.type === "receipt" ? [e.receipt] : []));

const ok: RecordOutcome = {
  status: "ok",
  invoice: { mccqt: "M1-26-ABCDE-00000000042", khmshdon: "1", khhdon: "C26MAB", shdon: 42, qr: "qr-payload" },
};

describe("ndjson-v1 round trip", () => {
  fcTest.prop([fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.boolean()], { numRuns: 100 })(
    "decode(encode(r)) equals r for generated receipts, and the result passes the Receipt schema",
    (seed, crc) => {
      const receipts = generateReceipts({ seed, count: 5, startMs: Date.UTC(2026, 10, 20, 2) });
      const d = decoder();
      const events = d.push(concatBytes(receipts.map((r) => encodeReceipt(r, { crc }))), 0);
      expect(receiptsOf(events)).toEqual(receipts);
      for (const r of receiptsOf(events)) expect(Receipt.safeParse(r).success).toBe(true);
    },
  );

  fcTest.prop([fc.integer({ min: 0, max: 2 ** 31 - 1 }), fc.double({ min: 0, max: 1, noNaN: true })], {
    numRuns: 50,
  })("decode(encode(r)) equals r with voids among the sales (sent as type void)", (seed, rate) => {
    const sent = withVoids(generateReceipts({ seed, count: 6, startMs: Date.UTC(2026, 10, 20, 2) }), { rate, seed });
    const bytes = concatBytes(sent.map((r) => encodeReceipt(r)));
    expect(
      utf8Text(bytes)
        ?.split("\n")
        .filter((l) => l.includes('"type":"void"')),
    ).toHaveLength(sent.filter((r) => r.kind === "refund").length);
    const events = decoder().push(bytes, 0);
    expect(receiptsOf(events)).toEqual(sent);
    for (const r of receiptsOf(events)) expect(Receipt.safeParse(r).success).toBe(true);
  });

  fcTest.prop(
    [
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      fc.array(
        fc.uint8Array({ maxLength: 200 }).map((b) => b.filter((x) => x !== 0x0a)),
        { maxLength: 6 },
      ),
      fc.array(fc.integer({ min: 1, max: 5000 }), { maxLength: 30 }),
    ],
    { numRuns: 100 },
  )("valid lines survive random garbage lines around them, however chunked", (seed, garbage, cuts) => {
    const receipts = generateReceipts({ seed, count: 3, startMs: Date.UTC(2026, 10, 20, 2) });
    const parts: Uint8Array[] = [];
    receipts.forEach((r, i) => {
      for (const g of garbage.slice(i * 2, i * 2 + 2)) parts.push(g, utf8("\n"));
      parts.push(encodeReceipt(r));
    });
    for (const g of garbage.slice(6)) parts.push(g, utf8("\n"));
    const bytes = concatBytes(parts);
    const points = [0, ...cuts.filter((c) => c < bytes.length).sort((a, b) => a - b), bytes.length];
    const d = decoder();
    const events = points.slice(1).flatMap((end, i) => d.push(bytes.subarray(points[i]!, end), 0));
    expect(receiptsOf([...events, ...d.idle(0)])).toEqual(receipts);
  });

  fcTest.prop([fc.uint8Array({ minLength: 1, maxLength: 40 }).map((b) => b.filter((x) => x !== 0x0a && x !== 0x7b))])(
    "a receipt still decodes when line noise without '{' is glued to its front",
    (noise) => {
      const [r] = generateReceipts({ seed: 7, count: 1, startMs: Date.UTC(2026, 10, 20, 2) });
      const events = decoder().push(concatBytes([noise, encodeReceipt(r!)]), 0);
      expect(receiptsOf(events)).toEqual([r]);
    },
  );
});

describe("ndjson-v1 conversions", () => {
  it("turns wire numbers into decimal strings and rate codes", () => {
    const line = encodeMessage({
      type: "receipt",
      id: "A-1",
      ts: "2026-11-20T09:41:07+07:00",
      items: [
        { name: "a", qty: 0.5, vatRate: 8, unitPrice: "25000" },
        { name: "b", quantity: "1.250", vatRate: "10%" },
        { name: "c", qty: 1e-7, vatRate: "kct" },
        { name: "d", qty: 3, vatRate: 0.08 },
        { name: "e", vatRate: "5" },
      ],
      payments: [{ method: "CASH", amount: "1000" }],
      total: 1000,
    });
    const [event] = decoder().push(line, 0);
    expect(event?.type).toBe("receipt");
    const receipt =
      event?.type === "receipt" ? (event.receipt as { lines: unknown[]; payments: unknown[] }) : undefined;
    expect(receipt?.lines).toEqual([
      { name: "a", quantity: "0.5", vatRate: "8%", unitPrice: 25000 },
      { name: "b", quantity: "1.250", vatRate: "10%" },
      { name: "c", quantity: "0.0000001", vatRate: "KCT" },
      { name: "d", quantity: "3", vatRate: "0.08%" },
      { name: "e", vatRate: "5%" },
    ]);
    expect(receipt?.payments).toEqual([{ method: "cash", amount: 1000 }]);
  });

  it("writes numbers without exponents", () => {
    expect(numberToDecimal(2)).toBe("2");
    expect(numberToDecimal(0.5)).toBe("0.5");
    expect(numberToDecimal(1e21)).toBe("1000000000000000000000");
    expect(numberToDecimal(1.5e-7)).toBe("0.00000015");
  });

  it("puts the standard rates on the wire as numbers and quantities as numbers when exact", () => {
    const [r] = generateReceipts({ seed: 3, count: 1, startMs: Date.UTC(2026, 10, 20, 2) });
    const wire = receiptToWire({ ...r!, lines: [{ name: "x", quantity: "1.50", vatRate: "KHAC:3.5%" }] });
    expect(wire["items"]).toEqual([{ name: "x", qty: "1.50", vatRate: "KHAC:3.5%" }]);
  });
});

describe("ndjson-v1 refunds (type refund, ref)", () => {
  const line = (o: object): Uint8Array => utf8(`${JSON.stringify(o)}\n`);
  const base = {
    v: 1,
    id: "QUAY1-R-1",
    ts: "2026-11-21T10:00:00+07:00",
    items: [{ name: "Dầu ăn", qty: 1, unitPrice: 60000, amount: 60000, vatRate: 8 }],
    total: 60000,
  };

  it("turns ref into the sale it names (replaces.receiptId), a valid refund receipt", () => {
    const [r] = receiptsOf(decoder().push(line({ ...base, type: "refund", ref: "QUAY1-S-7", note: "Trả hàng" }), 0));
    expect(r).toMatchObject({
      receiptId: "QUAY1-R-1",
      kind: "refund",
      replaces: { receiptId: "QUAY1-S-7", note: "Trả hàng" },
    });
    const parsed = Receipt.parse(r);
    expect(parsed.kind).toBe("refund");
    expect(parsed.replaces).toEqual({ receiptId: "QUAY1-S-7", note: "Trả hàng" });
  });

  it("takes an invoice number as ref, and an explicit replaces over ref", () => {
    const byNumber = { khmshdon: "1", khhdon: "C26MAB", shdon: "5" };
    const [a] = receiptsOf(decoder().push(line({ ...base, type: "refund", ref: byNumber }), 0));
    expect(Receipt.parse(a).replaces).toEqual(byNumber);
    const [b] = receiptsOf(decoder().push(line({ ...base, type: "refund", ref: "X", replaces: byNumber }), 0));
    expect(Receipt.parse(b).replaces).toEqual(byNumber);
  });

  it("passes a refund without a usable ref on, for the write path to refuse with its reason", () => {
    for (const ref of [undefined, 42, "S 7"]) {
      const [r] = receiptsOf(
        decoder().push(line({ ...base, type: "refund", ...(ref === undefined ? {} : { ref }) }), 0),
      );
      expect(Receipt.safeParse(r).success).toBe(false);
    }
  });
});

describe("ndjson-v1 voids and day closes (type void, dayClose)", () => {
  const line = (o: object): Uint8Array => utf8(`${JSON.stringify(o)}\n`);
  const voidMsg = {
    v: 1,
    type: "void",
    id: "QUAY1-V-1",
    ts: "2026-11-21T18:00:00+07:00",
    ref: "QUAY1-S-7",
    total: 60000,
  };

  it("turns a void into a refund of the whole sale: no lines, ref as the sale", () => {
    const [r] = receiptsOf(decoder().push(line(voidMsg), 0));
    const parsed = Receipt.parse(r);
    expect(parsed).toMatchObject({
      receiptId: "QUAY1-V-1",
      kind: "refund",
      lines: [],
      total: 60000,
      replaces: { receiptId: "QUAY1-S-7" },
    });
    // The register's own reason wins; items sent with a void are not read (a void takes back everything).
    const items = [{ name: "Dầu ăn", qty: 1, unitPrice: 60000, amount: 60000, vatRate: 8 }];
    const [own] = receiptsOf(decoder().push(line({ ...voidMsg, note: "Thu ngân bấm nhầm", items }), 0));
    expect(Receipt.parse(own)).toMatchObject({ lines: [], replaces: { note: "Thu ngân bấm nhầm" } });
  });

  it("leaves a void without total or ref for the write path to refuse, and no lines only to refunds", () => {
    const { total: _total, ...noTotal } = voidMsg;
    const { ref: _ref, ...noRef } = voidMsg;
    for (const msg of [noTotal, noRef]) {
      expect(Receipt.safeParse(receiptsOf(decoder().push(line(msg), 0))[0]).success).toBe(false);
    }
    const sale = Receipt.safeParse({ receiptId: "S-1", issuedAt: voidMsg.ts, lines: [], total: 0 });
    expect(sale.success || sale.error.issues.map((i) => i.message)).toEqual([
      "cần ít nhất một dòng hàng / a receipt needs at least one line",
    ]);
  });

  it("acks a day close at once and keeps it as a DAY_CLOSE notice with the register's figures", () => {
    const msg = { v: 1, type: "dayClose", id: "Z-20261121", date: "2026-11-21", receipts: 42, total: 3150000 };
    const events = decoder().push(line(msg), 0);
    expect(events).toHaveLength(1);
    const [e] = events;
    if (e?.type !== "problem") throw new Error(JSON.stringify(e));
    expect(e.code).toBe("DAY_CLOSE");
    expect(e.detail).toBe(
      "Chốt ca/ngày 2026-11-21, 42 phiếu, doanh thu 3.150.000 đ / day close 2026-11-21, 42 receipts, sales 3150000 VND",
    );
    expect(parseReply(e.reply ?? new Uint8Array())).toEqual({ type: "ack", id: "Z-20261121", status: "ok" });
  });
});

describe("ndjson-v1 replies", () => {
  it("answers each outcome, and the register side reads it back", () => {
    expect(parseReply(receiptReply("A-1", ok, false))).toEqual({
      type: "ack",
      id: "A-1",
      status: "ok",
      mccqt: "M1-26-ABCDE-00000000042",
      khmshdon: "1",
      khhdon: "C26MAB",
      shdon: 42,
      qr: "qr-payload",
    });
    expect(parseReply(receiptReply("A-1", { ...ok, status: "dup" }, true))).toMatchObject({ status: "dup" });
    const rejected = receiptReply("A-1", { status: "rejected", code: "X", message: "sai / wrong" }, false);
    expect(parseReply(rejected)).toEqual({ type: "nak", id: "A-1", code: "X", error: "sai / wrong", retry: false });
    const failed = receiptReply("A-1", { status: "failed", code: "STORE_FULL", message: "đầy / full" }, true);
    expect(parseReply(failed)).toMatchObject({ type: "nak", retry: true });
    expect(utf8Text(failed)).toMatch(/\}\*[0-9a-f]{8}\n$/);
  });

  it("refuses a reply whose CRC does not match, and anything that is not a reply", () => {
    const good = utf8Text(receiptReply("A-1", ok, true))!;
    expect(parseReply(utf8(good.replace('"shdon":42', '"shdon":43')))).toBeUndefined();
    expect(parseReply(utf8("hello\n"))).toBeUndefined();
    expect(parseReply(utf8('{"ack":1}\n'))).toBeUndefined();
    expect(parseReply(utf8("[]\n"))).toBeUndefined();
    expect(parseReply(Uint8Array.of(0xff, 0x0a))).toBeUndefined();
  });

  it("answers a ping with a pong, with the CRC trailer when the ping had one", () => {
    const [plain] = decoder().push(encodePing(), 0);
    expect(plain?.type === "reply" && utf8Text(plain.bytes)).toBe('{"pong":true}\n');
    const [withCrc] = decoder().push(encodePing({ crc: true }), 0);
    expect(withCrc?.type === "reply" && parseReply(withCrc.bytes)).toEqual({ type: "pong" });
  });

  it("refuses lines without a trailer when requireCrc is set", () => {
    const [r] = generateReceipts({ seed: 1, count: 1, startMs: Date.UTC(2026, 10, 20, 2) });
    const [event] = decoder({ requireCrc: true }).push(encodeReceipt(r!), 0);
    expect(event).toMatchObject({ type: "problem", code: "BAD_CHECKSUM" });
    const [good] = decoder({ requireCrc: true }).push(encodeReceipt(r!, { crc: true }), 0);
    expect(good?.type).toBe("receipt");
  });
});
