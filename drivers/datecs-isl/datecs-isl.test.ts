/**
 * datecs-isl-v1: framing against the spec's example frames, the printer's rules in the device role, the close and
 * commit cycle, repeated frames, the tap's hold and retry, and the properties of style.md Part 4 (chunking,
 * garbage, round trip). Captures are replayed by test/drivers.test.ts.
 */
import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  concatBytes,
  type DecoderEvent,
  fromHex,
  type RecordOutcome,
  type Side,
  toHex,
} from "../../src/driver-api/index.js";
import { Receipt, type ReceiptInput } from "../../src/receipt/model.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import {
  type HostCommand,
  hostFrame,
  nextSeq,
  projectReceipt,
  receiptCommands,
  type StornoReference,
  setTimeCommand,
  UnencodableReceiptError,
} from "./encode.js";
import { CMD } from "./engine.js";
import { createDeframer, type DeframeEvent, encodeFrame, escapeData, type Framing, unescapeData } from "./frame.js";
import { type DatecsOptions, datecsIsl, resolveOptions } from "./index.js";
import { cp1258Decode, cp1258Encode, decodeText, lineGross, parseDatecsDateTime, parseDong } from "./text.js";

const enc = new TextEncoder();
const ascii = (s: string): Uint8Array => enc.encode(s);
const hex = (b: Uint8Array): string => toHex(b, " ");
const T0 = Date.parse("2026-11-20T10:02:15+07:00");

const OK: RecordOutcome = {
  status: "ok",
  invoice: { mccqt: "M1-26-TEST0-00000000001", khmshdon: "1", khhdon: "C26MAB", shdon: 1, qr: "q" },
};
const DUP: RecordOutcome = { ...OK, status: "dup" };
const FAILED: RecordOutcome = { status: "failed", code: "STORE_FULL", message: "disk full" };
const REJECTED: RecordOutcome = { status: "rejected", code: "RECEIPT_INVALID", message: "bad" };

const options = (o: Partial<DatecsOptions> = {}): DatecsOptions => datecsIsl.options.parse(o);

/** A POS talking to one device decoder; `send` returns that frame's events. */
function pos(o: Partial<DatecsOptions> = {}) {
  const opts = options(o);
  const framing: Framing = opts.framing;
  const decoder = datecsIsl.createDecoder(opts);
  let seq = 0x20;
  let now = T0;
  const frame = (cmd: number, text: string, s = seq): Uint8Array =>
    encodeFrame(framing, { seq: s, cmd, data: ascii(text) });
  return {
    framing,
    decoder,
    advance(ms: number): void {
      now += ms;
    },
    /** Send a new frame (next SEQ). */
    send(cmd: number, text = ""): DecoderEvent[] {
      seq = nextSeq(framing, seq);
      return decoder.push(frame(cmd, text), now);
    },
    /** Send the last frame again (same SEQ). */
    resend(cmd: number, text = ""): DecoderEvent[] {
      return decoder.push(frame(cmd, text), now);
    },
    raw(bytes: Uint8Array): DecoderEvent[] {
      return decoder.push(bytes, now);
    },
  };
}

/** The answer frame of the only reply-carrying event, parsed. */
function answer(framing: Framing, events: readonly DecoderEvent[]): { text: string; status: string } {
  const bytes = events.flatMap((e) =>
    e.type === "reply" ? [e.bytes] : e.type === "problem" && e.reply ? [e.reply] : [],
  );
  expect(bytes).toHaveLength(1);
  const frames = createDeframer({ framing, source: "device", maxFrameBytes: 4096 }).push(bytes[0]!);
  const f = frames[0];
  if (f?.kind !== "frame") throw new Error(`not a frame: ${hex(bytes[0]!)}`);
  return { text: new TextDecoder().decode(f.frame.data), status: hex(f.frame.status!) };
}

const receiptsOf = (events: readonly DecoderEvent[]) =>
  events.filter((e): e is Extract<DecoderEvent, { type: "receipt" }> => e.type === "receipt");
const problemsOf = (events: readonly DecoderEvent[]) =>
  events.filter((e): e is Extract<DecoderEvent, { type: "problem" }> => e.type === "problem");

const CLEAN = "80 80 80 80 86 9a";
const OPEN = "80 80 88 80 86 9a";

describe("framing", () => {
  it("builds the example frames of spec §1b byte for byte", () => {
    expect(hex(encodeFrame("old", { seq: 0x20, cmd: 0x4a, data: ascii("") }))).toBe("01 24 20 4a 05 30 30 39 33 03");
    expect(hex(encodeFrame("old", { seq: 0x21, cmd: 0x30, data: ascii("1,0000,1") }))).toBe(
      "01 2c 21 30 31 2c 30 30 30 30 2c 31 05 30 31 3f 3c 03",
    );
    expect(hex(encodeFrame("old", { seq: 0x22, cmd: 0x31, data: ascii("Tra sua\tB25000.00*2") }))).toBe(
      "01 37 22 31 54 72 61 20 73 75 61 09 42 32 35 30 30 30 2e 30 30 2a 32 05 30 35 34 3b 03",
    );
    expect(hex(encodeFrame("old", { seq: 0x23, cmd: 0x35, data: ascii("\tP50000.00") }))).toBe(
      "01 2e 23 35 09 50 35 30 30 30 30 2e 30 30 05 30 32 36 37 03",
    );
    expect(hex(encodeFrame("old", { seq: 0x24, cmd: 0x38, data: ascii("") }))).toBe("01 24 24 38 05 30 30 38 35 03");
    expect(
      hex(
        encodeFrame("old", {
          seq: 0x24,
          cmd: 0x38,
          data: ascii("0012,0008"),
          status: fromHex("808080808 69a".replace(" ", "")),
        }),
      ),
    ).toBe("01 34 24 38 30 30 31 32 2c 30 30 30 38 04 80 80 80 80 86 9a 05 30 35 37 30 03");
    expect(hex(encodeFrame("x", { seq: 0x22, cmd: 0x31, data: ascii("Tra sua\t1\t25000.00\t2\t\t\t0\t") }))).toBe(
      "01 30 30 34 33 22 30 30 33 31 54 72 61 20 73 75 61 09 31 09 32 35 30 30 30 2e 30 30 09 32 09 09 09 30 09 05 30 36 39 39 03",
    );
  });

  it("escapes control bytes in DATA as 10, byte + 40h and reads them back", () => {
    const data = Uint8Array.of(0x1b, 0x40, 0x09, 0x0a, 0x00, 0x41);
    expect(hex(escapeData(data))).toBe("10 5b 40 09 0a 10 40 41");
    expect(unescapeData(escapeData(data))).toEqual(data);
    expect(unescapeData(Uint8Array.of(0x41, 0x02))).toBeUndefined();
    expect(unescapeData(Uint8Array.of(0x10, 0x30))).toBeUndefined();
    const d = createDeframer({ framing: "old", source: "host", maxFrameBytes: 300 });
    const [e] = d.push(encodeFrame("old", { seq: 0x20, cmd: 0x23, data }));
    expect(e?.kind === "frame" && e.frame.data).toEqual(data);
  });

  it("refuses a wrong LEN, a missing status block and a status byte without bit 7", () => {
    const host = createDeframer({ framing: "old", source: "host", maxFrameBytes: 300 });
    const f = encodeFrame("old", { seq: 0x20, cmd: 0x4a, data: ascii("X") });
    // LEN one too big, checksum fixed up: only the length is wrong.
    const body = Uint8Array.from(f.subarray(1, f.length - 5));
    body[0]! += 1;
    const sum = body.reduce((s, b) => (s + b) & 0xffff, 0);
    const bad = concatBytes([
      Uint8Array.of(1),
      body,
      ascii(sum.toString(16).padStart(4, "0")).map((c) => (c >= 0x61 ? c - 0x61 + 0x3a : c)),
      Uint8Array.of(3),
    ]);
    expect(host.push(bad)).toMatchObject([
      { kind: "bad", code: "DECODE_FAILED", detail: expect.stringContaining("LEN") },
    ]);
    const device = createDeframer({ framing: "x", source: "device", maxFrameBytes: 300 });
    expect(
      device.push(encodeFrame("x", { seq: 0x20, cmd: 0x4a, data: ascii("0\t20-11-26 10:02:15\t") })),
    ).toMatchObject([{ kind: "bad", code: "DECODE_FAILED", detail: expect.stringContaining("04") }]);
    expect(
      device.push(
        encodeFrame("x", { seq: 0x20, cmd: 0x4a, data: ascii(""), status: fromHex("80 80 80 80 86 1a 80 80") }),
      ),
    ).toMatchObject([{ kind: "bad", detail: expect.stringContaining("bit 7") }]);
  });

  const frameArb = (framing: Framing) =>
    fc.record({
      seq: fc.integer({ min: 0x20, max: framing === "old" ? 0x7f : 0xff }),
      cmd: fc.integer({ min: 0x20, max: 0xff }),
      data: fc.uint8Array({ maxLength: 60 }),
      device: fc.boolean(),
    });

  for (const framing of ["old", "x"] as const) {
    const stream = (frames: { seq: number; cmd: number; data: Uint8Array; device: boolean }[], device: boolean) =>
      frames.map((f) =>
        encodeFrame(framing, {
          seq: f.seq,
          cmd: f.cmd,
          data: f.data,
          ...(device ? { status: new Uint8Array(framing === "old" ? 6 : 8).fill(0x80) } : {}),
        }),
      );
    const decodeAll = (pieces: readonly Uint8Array[], device: boolean): DeframeEvent[] => {
      const d = createDeframer({ framing, source: device ? "device" : "host", maxFrameBytes: 4096 });
      return [...pieces.flatMap((p) => d.push(p)), ...d.flush()];
    };

    fcTest.prop([fc.array(frameArb(framing), { maxLength: 8 }), fc.boolean(), fc.array(fc.nat(), { maxLength: 30 })])(
      `${framing}: the same frames however the bytes are chunked`,
      (frames, device, cuts) => {
        const bytes = concatBytes(stream(frames, device));
        const points = [...new Set([0, ...cuts.map((c) => c % (bytes.length + 1)), bytes.length])].sort(
          (a, b) => a - b,
        );
        const pieces = points.slice(1).map((end, i) => bytes.subarray(points[i]!, end));
        const whole = decodeAll([bytes], device);
        expect(decodeAll(pieces, device)).toEqual(whole);
        expect(whole.map((e) => (e.kind === "frame" ? [e.frame.seq, e.frame.cmd, hex(e.frame.data)] : e.kind))).toEqual(
          frames.map((f) => [f.seq, f.cmd, hex(f.data)]),
        );
      },
    );

    fcTest.prop([
      fc.array(frameArb(framing), { minLength: 1, maxLength: 6 }),
      fc.array(fc.uint8Array({ maxLength: 12 })),
    ])(`${framing}: valid frames survive garbage around them`, (frames, noise) => {
      const encoded = stream(frames, false);
      const parts: Uint8Array[] = [];
      encoded.forEach((f, i) => {
        parts.push(noise[i] ?? new Uint8Array(), f);
      });
      parts.push(noise[encoded.length] ?? new Uint8Array());
      const events = decodeAll([concatBytes(parts)], false);
      const got = events.flatMap((e) => (e.kind === "frame" ? [[e.frame.seq, e.frame.cmd, hex(e.frame.data)]] : []));
      expect(got).toEqual(frames.map((f) => [f.seq, f.cmd, hex(f.data)]));
      // Every byte is accounted for: frames, problems and noise together are the input.
      expect(concatBytes(events.map((e) => e.raw)).length).toBe(concatBytes(parts).length);
    });
  }
});

describe("text, money and time", () => {
  it("reads and writes cp1258 with tone marks as separate bytes", () => {
    const text = "Trà sữa trân châu đường đen — Bánh mì ỐNG, Phở Hà Nội, Ẩm thực Huế, giá 25.000₫";
    const bytes = cp1258Encode(text);
    expect(bytes.every((b) => b >= 0x20)).toBe(true);
    expect(cp1258Decode(bytes)).toBe(text);
    expect(hex(cp1258Encode("ữ"))).toBe("fd de");
    expect(hex(cp1258Encode("漢"))).toBe("3f");
  });

  it("tells UTF-8 from cp1258 in auto mode", () => {
    expect(decodeText(ascii("Cà phê"), "auto")).toBe("Cà phê");
    expect(decodeText(cp1258Encode("Cà phê"), "auto")).toBe("Cà phê");
    expect(decodeText(cp1258Encode("Cà phê"), "utf-8")).toBeUndefined();
  });

  it("keeps money exact and refuses fractions of a đồng", () => {
    expect(parseDong("25000.00")).toBe(25000n);
    expect(parseDong("25000")).toBe(25000n);
    expect(parseDong("25000.50")).toBeUndefined();
    expect(lineGross("2.35", 38000n)).toBe(89300n);
    expect(lineGross("0.333", 10n)).toBe(3n);
    expect(lineGross("0.35", 10n)).toBe(4n); // half away from zero
  });

  it("reads the printer's date forms in Vietnam time", () => {
    expect(parseDatecsDateTime("20-11-26 10:02:15")).toBe(T0);
    expect(parseDatecsDateTime("20-11-26 10:02:15 DST")).toBe(T0);
    expect(parseDatecsDateTime("201126100215")).toBe(T0);
    expect(parseDatecsDateTime("31-02-26 10:00")).toBeUndefined();
  });
});

describe("device role", () => {
  const sale = (p: ReturnType<typeof pos>, unp = "QUAY1-0001") => {
    p.send(CMD.SET_TIME, "20-11-26 10:02:15");
    p.send(CMD.OPEN, `1,0000,1,${unp}`);
    p.send(CMD.SALE, "Cà phê đen đá\tC25000.00*2#ly");
    p.send(CMD.PAYMENT, "\tP50000.00");
  };

  it("answers within the protocol's rules and sets 2.3 while a receipt is open", () => {
    const p = pos();
    const [statusReply] = p.send(CMD.STATUS);
    const [statusFrame] = createDeframer({ framing: "old", source: "device", maxFrameBytes: 300 }).push(
      statusReply?.type === "reply" ? statusReply.bytes : new Uint8Array(),
    );
    expect(statusFrame?.kind === "frame" && [hex(statusFrame.frame.data), hex(statusFrame.frame.status!)]).toEqual([
      CLEAN,
      CLEAN,
    ]); // 4Ah answers the status bytes as DATA too
    expect(answer("old", p.send(CMD.OPEN, "1,0000,1,A-1"))).toEqual({ text: "0001,0001", status: OPEN });
    expect(answer("old", p.send(CMD.SALE, "Bạc xỉu\tC32000.00"))).toEqual({ text: "", status: OPEN });
    expect(answer("old", p.send(CMD.RECEIPT_STATUS, "T")).text).toBe("1,0001,+32000.00,+0.00");
    expect(answer("old", p.send(CMD.PAYMENT, "\tP20000.00")).text).toBe("D+12000.00");
    expect(answer("old", p.send(CMD.PAYMENT, "\tP20000.00")).text).toBe("R+8000.00");
    const events = p.send(CMD.CLOSE);
    const [r] = receiptsOf(events);
    expect(events).toHaveLength(1); // no answer yet: it waits for the commit
    expect(r?.receipt).toMatchObject({
      receiptId: "A-1",
      total: 32000,
      payments: [
        { method: "cash", amount: 20000 },
        { method: "cash", amount: 12000 }, // 8 000 of the second was change
      ],
    });
    expect(answer("old", [{ type: "reply", bytes: r!.reply(OK)! }])).toEqual({ text: "0001,0001", status: CLEAN });
    expect(answer("old", p.send(CMD.LAST_DOCUMENT)).text).toBe("0000001");
  });

  it("answers a resent frame with the cached answer and does not execute it twice", () => {
    const p = pos();
    p.send(CMD.OPEN, "1,0000,1,A-2");
    const first = p.send(CMD.SALE, "Trà đá\tC5000.00");
    expect(p.resend(CMD.SALE, "Trà đá\tC5000.00")).toEqual(first);
    const pay = p.send(CMD.PAYMENT, "\tP2000.00");
    expect(p.resend(CMD.PAYMENT, "\tP2000.00")).toEqual(pay); // still D 3000: paid once
    expect(answer("old", pay).text).toBe("D+3000.00");
    expect(answer("old", p.send(CMD.PAYMENT, "\t")).text).toBe("R+0.00");
    const [r] = receiptsOf(p.send(CMD.CLOSE));
    expect(r?.receipt).toMatchObject({ lines: [{ name: "Trà đá", amount: 5000 }], total: 5000 });
    expect((r!.receipt as ReceiptInput).payments).toEqual([
      { method: "cash", amount: 2000 },
      { method: "cash", amount: 3000 },
    ]);
  });

  it("keeps an open receipt and its last answer across an unplug (linkDown), as a fiscal printer does", () => {
    const p = pos();
    p.send(CMD.OPEN, "1,0000,1,A-4");
    const sold = p.send(CMD.SALE, "Trà đá\tC5000.00");
    // The cable goes mid-frame: the cut frame is the only loss.
    const cut = encodeFrame("old", { seq: 0x30, cmd: CMD.SALE, data: ascii("Bánh mì\tC20000.00") }).subarray(0, 9);
    expect(p.raw(cut)).toEqual([]);
    expect(problemsOf(p.decoder.linkDown!(T0))).toMatchObject([{ code: "TRUNCATED", raw: cut }]);
    // Back: the POS resends its unanswered frame (same SEQ): the cached answer, not a second line.
    expect(p.resend(CMD.SALE, "Trà đá\tC5000.00")).toEqual(sold);
    p.send(CMD.PAYMENT, "\t");
    const [r] = receiptsOf(p.send(CMD.CLOSE));
    expect(r?.receipt).toMatchObject({ receiptId: "A-4", lines: [{ name: "Trà đá", amount: 5000 }], total: 5000 });
  });

  it("ends an open receipt at idle (the stop), keeping its bytes as TRUNCATED", () => {
    const p = pos();
    p.send(CMD.OPEN, "1,0000,1,A-5");
    p.send(CMD.SALE, "Trà đá\tC5000.00");
    expect(problemsOf(p.decoder.linkDown!(T0))).toEqual([]);
    expect(problemsOf(p.decoder.idle(T0))).toMatchObject([
      { code: "TRUNCATED", detail: expect.stringContaining("left open") },
    ]);
  });

  it("executes a frame with the same SEQ but other content (a POS that restarted)", () => {
    const p = pos();
    p.send(CMD.OPEN, "1,0000,1,A-3");
    p.send(CMD.SALE, "Một\tC1000.00");
    p.resend(CMD.SALE, "Hai\tC2000.00");
    p.send(CMD.PAYMENT, "\t");
    const [r] = receiptsOf(p.send(CMD.CLOSE));
    expect((r!.receipt as ReceiptInput).total).toBe(3000);
  });

  it("answers SYN to a resent close while the commit runs, then the committed answer", () => {
    const p = pos();
    sale(p);
    const [r] = receiptsOf(p.send(CMD.CLOSE));
    expect(p.resend(CMD.CLOSE)).toEqual([{ type: "reply", bytes: Uint8Array.of(0x16) }]);
    const okBytes = r!.reply(OK)!;
    expect(p.resend(CMD.CLOSE)).toEqual([{ type: "reply", bytes: okBytes }]);
    expect(r!.reply(DUP)).toEqual(okBytes);
  });

  it("opens the receipt again when nothing was stored, so the POS's next close retries with the same id", () => {
    const p = pos();
    sale(p, "QUAY1-0002");
    const [first] = receiptsOf(p.send(CMD.CLOSE));
    const failed = first!.reply(FAILED)!;
    expect(answer("old", [{ type: "reply", bytes: failed }])).toEqual({ text: "", status: "a0 80 88 80 86 9a" });
    expect(p.resend(CMD.CLOSE)).toEqual([{ type: "reply", bytes: failed }]); // cached, not executed again
    expect(answer("old", p.send(CMD.RECEIPT_STATUS, "T")).text).toBe("1,0001,+50000.00,+50000.00");
    p.advance(3_000);
    const [second] = receiptsOf(p.send(CMD.CLOSE));
    expect(second?.receipt).toEqual(first?.receipt); // same id, same issuedAt (the first close), same content
    expect(second?.raw.length).toBe(first?.raw.length);
    expect(answer("old", [{ type: "reply", bytes: second!.reply(OK)! }]).status).toBe(CLEAN);
  });

  it("closes a rejected receipt with a data error and does not open it again", () => {
    const p = pos();
    sale(p);
    const [r] = receiptsOf(p.send(CMD.CLOSE));
    expect(answer("old", [{ type: "reply", bytes: r!.reply(REJECTED)! }]).status).toBe("a1 80 80 80 86 9a");
    expect(problemsOf(p.send(CMD.CLOSE))).toMatchObject([{ code: "COMMAND_REFUSED" }]);
  });

  it("refuses what a printer refuses, with 1.1 (not allowed) or 0.0 (syntax)", () => {
    const p = pos();
    const refused = (events: DecoderEvent[]) => [problemsOf(events)[0]?.code, answer("old", events).status];
    expect(refused(p.send(CMD.SALE, "X\tC1000.00"))).toEqual(["COMMAND_REFUSED", "a0 82 80 80 86 9a"]);
    p.send(CMD.OPEN, "1,0000,1,A-4");
    expect(refused(p.send(CMD.OPEN, "1,0000,1,A-5"))).toEqual(["COMMAND_REFUSED", "a0 82 88 80 86 9a"]);
    expect(refused(p.send(CMD.SET_TIME, "20-11-26 10:00:00"))[0]).toBe("COMMAND_REFUSED");
    expect(refused(p.send(CMD.DAY_REPORT, "0"))[0]).toBe("COMMAND_REFUSED");
    expect(refused(p.send(CMD.SALE, "X\tC1000.50"))).toEqual(["DECODE_FAILED", "a1 80 88 80 86 9a"]);
    expect(refused(p.send(CMD.SALE, "X\tC1000.00,+10.00"))[0]).toBe("DECODE_FAILED"); // surcharge
    expect(refused(p.send(CMD.SALE, "X\tH1000.00"))[0]).toBe("DECODE_FAILED"); // unset group
    expect(refused(p.send(CMD.SALE, "X\tC1000.00;-2000.00"))[0]).toBe("DECODE_FAILED"); // discount > line
    expect(refused(p.send(CMD.SALE, "X\t-C1000.00"))[0]).toBe("DECODE_FAILED");
    expect(refused(p.send(CMD.SALE, "Không có\tC-1000.00"))[0]).toBe("COMMAND_REFUSED"); // void of nothing
    p.send(CMD.SALE, "Y\tC1000.00");
    expect(refused(p.send(CMD.CLOSE))[0]).toBe("COMMAND_REFUSED"); // not paid
    p.send(CMD.PAYMENT, "\tP500.00");
    expect(refused(p.send(CMD.SALE, "Z\tC1000.00"))[0]).toBe("COMMAND_REFUSED"); // sale after payment
    expect(refused(p.send(CMD.CANCEL))[0]).toBe("COMMAND_REFUSED"); // cancel after payment
    expect(refused(p.send(CMD.PAYMENT, "\tQ500.00"))[0]).toBe("DECODE_FAILED"); // unknown PaidMode
    expect(refused(p.send(0x99))).toEqual(["UNKNOWN_RECORD", "a2 80 88 80 86 9a"]);
    expect(answer("old", p.send(0x6a))).toEqual({ text: "", status: OPEN }); // drawer: harmless
  });

  it("answers X framing errors with an ErrorCode", () => {
    const p = pos({ framing: "x" });
    expect(answer("x", p.send(CMD.SALE, "X\t3\t1000.00\t1\t0\t\t0\t"))).toEqual({
      text: "-100003\t",
      status: "a0 82 80 80 86 9a 80 80",
    });
    expect(answer("x", p.send(CMD.OPEN, "1\t0000\tX-1\t1\t\t")).text).toBe("0\t1\t");
    expect(answer("x", p.send(CMD.SALE, "X\t9\t1000.00\t1\t0\t\t0\t")).text).toBe("-100001\t");
    expect(answer("x", p.send(CMD.SALE, "Bánh\t3\t1000.00\t3\t4\t500.00\t0\tcái\t")).text).toBe("0\t1\t");
    expect(answer("x", p.send(CMD.RECEIPT_STATUS)).text).toBe("0\t1\t1\t1\t2500.00\t0.00\t");
    expect(answer("x", p.send(CMD.PAYMENT, "4\t3000.00\t\t")).text).toBe("0\tR\t500.00\t");
    const [r] = receiptsOf(p.send(CMD.CLOSE));
    expect(r?.receipt).toMatchObject({
      lines: [{ name: "Bánh", unit: "cái", quantity: "3", unitPrice: 1000, discount: 500, amount: 2500 }],
      payments: [{ method: "ewallet", amount: 2500 }],
    });
    expect(answer("x", [{ type: "reply", bytes: r!.reply(FAILED)! }]).text).toBe("-100005\t");
  });

  it("numbers receipts without a UNP from the printer clock and continues a UNP the POS set once", () => {
    const p = pos();
    p.send(CMD.SET_TIME, "20-11-26 10:02:15");
    const ids: unknown[] = [];
    for (const open of ["1,0000,1", "1,0000,1,DT000001-OP01-0000099", "1,0000,1"]) {
      p.send(CMD.OPEN, open);
      p.send(CMD.SALE, "Nước\tC6000.00");
      p.send(CMD.PAYMENT, "\t");
      const [r] = receiptsOf(p.send(CMD.CLOSE));
      r!.reply(OK);
      ids.push((r!.receipt as ReceiptInput).receiptId);
    }
    expect(ids).toEqual(["20261120T100215-0000001", "DT000001-OP01-0000099", "DT000001-OP01-0000100"]);
  });

  it("keeps the printer clock: issuedAt is set time + elapsed, in Vietnam time", () => {
    const p = pos();
    p.send(CMD.SET_TIME, "20-11-26 23:59:58");
    p.advance(3_500);
    expect(answer("old", p.send(CMD.GET_TIME)).text).toBe("21-11-26 00:00:01");
    p.send(CMD.OPEN, "1,0000,1,A-6");
    p.send(CMD.SALE, "Nước\tC6000.00");
    p.send(CMD.PAYMENT, "\t");
    expect((receiptsOf(p.send(CMD.CLOSE))[0]!.receipt as ReceiptInput).issuedAt).toBe("2026-11-21T00:00:01+07:00");
  });

  it("takes percent discounts, sales by department and a buyer with a personal id", () => {
    const p = pos({ departments: { "2": "D" } });
    p.send(CMD.OPEN, "1,0000,1,I,A-7");
    p.send(CMD.SALE, "Bia Tiger Crystal lon 330ml\t2\t21000.00*24#lon,-5.00");
    p.send(CMD.SALE, "Báo\nTuổi Trẻ\tE8000.00");
    p.send(CMD.PAYMENT, "\tD486800.00");
    p.send(CMD.BUYER, "#079190012345\t\t\tNguyễn Thị Thu Hằng\t\tTầng 3\n12 Lý Tự Trọng");
    const [r] = receiptsOf(p.send(CMD.CLOSE));
    expect(r?.receipt).toMatchObject({
      lines: [
        { name: "Bia Tiger Crystal lon 330ml", quantity: "24", discount: 25200, amount: 478800, vatRate: "10%" },
        { name: "Báo Tuổi Trẻ", amount: 8000, vatRate: "KCT" },
      ],
      total: 486800,
      buyer: { personName: "Nguyễn Thị Thu Hằng", citizenId: "079190012345", address: "Tầng 3, 12 Lý Tự Trọng" },
    });
  });

  it("refuses storno receipts when told to", () => {
    const p = pos({ storno: "refuse" });
    expect(problemsOf(p.send(CMD.STORNO_OLD, "1,0000,1,R0000003"))).toMatchObject([
      { code: "COMMAND_REFUSED", detail: expect.stringContaining("storno") },
    ]);
  });

  it("turns a storno naming its sale (StUNP) into a refund whose close answer waits for the commit", () => {
    const p = pos();
    p.send(CMD.SET_TIME, "21-11-26 09:00:00");
    const opened = p.send(CMD.STORNO_OLD, "1,0000,1,ST-1,R0000003,A-1,201126100215,02000001#Khách trả 1 ly");
    expect(answer("old", opened).status).toBe("80 90 88 80 86 9a"); // 1.4 storno open, 2.3 receipt open
    p.send(CMD.SALE, "Trà đào\tC45000.00*1#ly");
    p.send(CMD.PAYMENT, "\t");
    const [r] = receiptsOf(p.send(CMD.CLOSE));
    expect(r?.receipt).toEqual({
      receiptId: "ST-1",
      issuedAt: "2026-11-21T09:00:00+07:00",
      kind: "refund",
      replaces: { receiptId: "A-1", note: "Khách trả 1 ly" },
      pricesIncludeVat: true,
      lines: [{ name: "Trà đào", unit: "ly", quantity: "1", unitPrice: 45000, amount: 45000, vatRate: "8%" }],
      payments: [{ method: "cash", amount: 45000 }],
      total: 45000,
    });
    expect(Receipt.safeParse(r?.receipt).success).toBe(true);
    // Nothing stored: the storno is open again (1.4 + 2.3) and a new close commits it.
    expect(answer("old", [{ type: "reply", bytes: r!.reply(FAILED)! }]).status).toBe("a0 90 88 80 86 9a");
    const [again] = receiptsOf(p.send(CMD.CLOSE));
    expect(again?.receipt).toEqual(r?.receipt);
    expect(answer("old", [{ type: "reply", bytes: again!.reply(OK)! }])).toEqual({ text: "0001,0001", status: CLEAN });
    // A storno whose own UNP is its sale's would look like a resend of the sale: the printer numbers it instead.
    p.send(CMD.STORNO_OLD, "1,0000,1,A-1,R0000003,A-1,201126100215,02000001");
    p.send(CMD.SALE, "Bánh\tC15000.00");
    p.send(CMD.PAYMENT, "\t");
    const [same] = receiptsOf(p.send(CMD.CLOSE));
    expect(same?.receipt).toMatchObject({ receiptId: "20261121T090000-0000002", replaces: { receiptId: "A-1" } });
    same!.reply(OK);
    // A reason letter without text gives the replacement's note (E: entered wrongly).
    p.send(CMD.STORNO_OLD, "1,0000,1,ST-2,E0000004,A-2,201126100500,02000001");
    p.send(CMD.SALE, "Bánh\tC15000.00");
    p.send(CMD.PAYMENT, "\t");
    expect(receiptsOf(p.send(CMD.CLOSE))[0]?.receipt).toMatchObject({
      replaces: { receiptId: "A-2", note: "Thay thế do nhập sai trên máy tính tiền (phiếu hủy storno)" },
    });
  });

  it("reads the X storno's NSale as the sale it reverses; the printer numbers the storno", () => {
    const p = pos({ framing: "x", encoding: "utf-8" });
    p.send(CMD.SET_TIME, "21-11-26 09:00:00\t");
    p.send(CMD.STORNO_X, "1\t0000\t1\t1\t3\t20-11-26 10:02:15\t02000001\t\t\tTrả hàng\tQUAY1-20261120-00003\t");
    p.send(CMD.SALE, "Trà đào\t3\t45000.00\t1\t0\t\t0\t");
    p.send(CMD.PAYMENT, "0\t45000.00\t");
    expect(receiptsOf(p.send(CMD.CLOSE))[0]?.receipt).toMatchObject({
      receiptId: "20261121T090000-0000001",
      kind: "refund",
      replaces: { receiptId: "QUAY1-20261120-00003", note: "Trả hàng" },
      total: 45000,
    });
  });

  it("names a sale closed without a UNP by the id this printer gave it, never another printer's", () => {
    const p = pos();
    p.send(CMD.SET_TIME, "20-11-26 10:02:15");
    p.send(CMD.OPEN, "1,0000,1");
    p.send(CMD.SALE, "Nước\tC6000.00*2");
    p.send(CMD.PAYMENT, "\t");
    const [sale] = receiptsOf(p.send(CMD.CLOSE));
    sale!.reply(OK);
    expect(answer("old", p.send(CMD.LAST_DOCUMENT)).text).toBe("0000001");
    p.advance(60_000);
    p.send(CMD.STORNO_OLD, "1,0000,1,R0000001,,201126100215,02000001");
    p.send(CMD.SALE, "Nước\tC6000.00*1");
    p.send(CMD.PAYMENT, "\t");
    const [storno] = receiptsOf(p.send(CMD.CLOSE));
    expect((storno!.receipt as ReceiptInput).replaces).toEqual({
      receiptId: (sale!.receipt as ReceiptInput).receiptId,
    });
    expect((sale!.receipt as ReceiptInput).receiptId).toBe("20261120T100215-0000001");
    storno!.reply(OK);
    // Another fiscal memory, or no date: nothing to name. Kept for a person, answered like a printer.
    for (const open of ["1,0000,1,R0000001,,201126100215,02999999", "1,0000,1,R0000001"]) {
      p.send(CMD.STORNO_OLD, open);
      p.send(CMD.SALE, "Nước\tC6000.00");
      p.send(CMD.PAYMENT, "\t");
      const events = p.send(CMD.CLOSE);
      expect(receiptsOf(events)).toEqual([]);
      expect(problemsOf(events)).toMatchObject([
        { code: "STORNO_UNSUPPORTED", detail: expect.stringContaining("names no sale hoadon can find") },
      ]);
      expect(answer("old", events).status).toBe(CLEAN);
    }
  });

  it("keeps storno receipts for a person with storno: quarantine", () => {
    const p = pos({ storno: "quarantine" });
    p.send(CMD.STORNO_OLD, "1,0000,1,ST-1,R0000003,A-1,201126100215,02000001");
    p.send(CMD.SALE, "Bánh\tC15000.00");
    p.send(CMD.PAYMENT, "\t");
    const events = p.send(CMD.CLOSE);
    expect(receiptsOf(events)).toEqual([]);
    expect(problemsOf(events)).toMatchObject([
      { code: "STORNO_UNSUPPORTED", detail: expect.stringContaining("option storno: quarantine") },
    ]);
  });

  const PLU = {
    "1": { name: "Cà phê sữa đá", price: 29000, tax: "C", unit: "ly" },
    "0042": { name: "Bia Tiger Crystal lon 330ml", price: 21000, tax: "D", unit: "lon" },
  } as const;

  it("sells programmed articles (3Ah) from the PLU table, and refuses an unknown PLU instead of guessing", () => {
    const p = pos({ plu: PLU });
    p.send(CMD.OPEN, "1,0000,1,P-1");
    expect(answer("old", p.send(CMD.PLU_SALE, "1*2")).status).toBe(OPEN);
    p.send(CMD.PLU_SALE, "42*6;-6000.00");
    p.send(CMD.PLU_SALE, "1#25000.00");
    p.send(CMD.PLU_SALE, "-1#25000.00"); // void of the line just sold
    const unknown = p.send(CMD.PLU_SALE, "7*1");
    expect(problemsOf(unknown)).toMatchObject([
      { code: "DECODE_FAILED", detail: expect.stringContaining("PLU 7 không có trong bảng PLU (tùy chọn plu)") },
    ]);
    expect(answer("old", unknown).status).toBe("a1 80 88 80 86 9a"); // syntax error, receipt still open
    p.send(CMD.PAYMENT, "\t");
    const [r] = receiptsOf(p.send(CMD.CLOSE));
    expect((r!.receipt as ReceiptInput).lines).toEqual([
      { name: "Cà phê sữa đá", unit: "ly", quantity: "2", unitPrice: 29000, amount: 58000, vatRate: "8%" },
      {
        name: "Bia Tiger Crystal lon 330ml",
        unit: "lon",
        quantity: "6",
        unitPrice: 21000,
        discount: 6000,
        amount: 120000,
        vatRate: "10%",
      },
    ]);
    expect((r!.receipt as ReceiptInput).total).toBe(178000);
  });

  it("sells PLUs in X framing (PLU, quantity, price, discount)", () => {
    const p = pos({ framing: "x", encoding: "utf-8", plu: PLU });
    p.send(CMD.OPEN, "1\t0000\tP-2\t1\t\t");
    p.send(CMD.PLU_SALE, "0042\t2\t\t2\t10.00\t");
    expect(answer("x", p.send(CMD.PLU_SALE, "9\t1\t")).text).toBe("-100001\t");
    p.send(CMD.PAYMENT, "0\t37800.00\t");
    expect(receiptsOf(p.send(CMD.CLOSE))[0]?.receipt).toMatchObject({
      lines: [{ name: "Bia Tiger Crystal lon 330ml", quantity: "2", unitPrice: 21000, discount: 4200, amount: 37800 }],
      total: 37800,
    });
  });

  it("validates the PLU table at config load", () => {
    const issues = (plu: unknown, extra: object = {}) =>
      datecsIsl.options.safeParse({ plu, ...extra }).error?.issues.map((i) => `${i.path.join(".")}: ${i.message}`) ??
      [];
    expect(issues(PLU)).toEqual([]);
    expect(issues({ "1": { name: "Trà", price: 10000, tax: "G" } })[0]).toMatch(/^plu\.1\.tax: nhóm thuế G chưa có/);
    expect(issues({ "1": { name: "Trà", price: 10000, tax: "C" } }, { taxGroups: { C: null } })).toHaveLength(1);
    expect(issues({ "01": { name: "A", price: 1, tax: "C" }, "1": { name: "B", price: 1, tax: "C" } })[0]).toMatch(
      /trùng/,
    );
    expect(issues({ "1": { name: "Trà", price: 10000.5, tax: "C" } })[0]).toMatch(/số đồng nguyên/);
    expect(issues({ x1: { name: "Trà", price: 1, tax: "C" } })).toHaveLength(1);
    expect(issues({ "1": { name: "Trà", price: 1, tax: "C", color: "red" } })).toHaveLength(1);
  });

  it("asks the session for SYN every 60 ms while a commit runs, in both roles", () => {
    for (const role of ["device", "tap"] as const) {
      const busy = datecsIsl.busySignalFor?.(options({ role }));
      expect(busy?.everyMs).toBe(60);
      expect(hex(busy!.bytes)).toBe("16");
    }
  });

  it("reports its own identity on 5Ah and answers the seller tax code on 63h", () => {
    const p = pos({ device: { serial: "DT654321", model: "FP-2000", taxId: "0312345673" } });
    const events = p.send(CMD.DIAGNOSTICS, "1");
    expect(events[0]).toEqual({ type: "identity", serial: "DT654321", model: "FP-2000", firmware: "1.00VN" });
    expect(answer("old", events.slice(1)).text).toBe("FP-2000,1.00VN 20Nov26 1000,FFFF,00000000,DT654321,02000001");
    expect(answer("old", p.send(CMD.TAX_ID)).text).toBe("0312345673,MST");
  });

  it("has all-default options that parse from {}", () => {
    const o = resolveOptions(options());
    expect(o.taxGroups).toEqual({ A: "0%", B: "5%", C: "8%", D: "10%", E: "KCT", F: "KKKNT", G: null, H: null });
    expect(datecsIsl.portsFor?.(options())).toBe(1);
    expect(datecsIsl.portsFor?.(options({ role: "tap" }))).toBe(2);
    expect(() => options({ taxGroups: { A: "7%" } } as never)).toThrow();
  });
});

describe("tap role", () => {
  const st = fromHex("80 80 80 80 86 9a");
  const stOpen = fromHex("80 80 88 80 86 9a");
  const dev = (seq: number, cmd: number, text: string, status = stOpen) =>
    encodeFrame("old", { seq, cmd, data: ascii(text), status });
  const host = (seq: number, cmd: number, text: string) => encodeFrame("old", { seq, cmd, data: ascii(text) });

  function tap() {
    const decoder = datecsIsl.createTapDecoder!(options({ role: "tap" }));
    const forwarded: Record<Side, Uint8Array[]> = { register: [], device: [] };
    const feed = (from: Side, bytes: Uint8Array): DecoderEvent[] => {
      const events = decoder.push(bytes, T0, from);
      for (const e of events) if (e.type === "forward") forwarded[e.to].push(e.bytes);
      return events.filter((e) => e.type !== "forward");
    };
    return { decoder, forwarded, feed };
  }

  function openAndPay(t: ReturnType<typeof tap>): void {
    t.feed("register", host(0x21, CMD.OPEN, "1,0000,1,T-1"));
    t.feed("device", dev(0x21, CMD.OPEN, "0001,0001"));
    t.feed("register", host(0x22, CMD.SALE, "Kem đánh răng P/S 180g\tC32000.00*1#tuýp"));
    t.feed("device", dev(0x22, CMD.SALE, ""));
    t.feed("register", host(0x23, CMD.PAYMENT, "\tP32000.00"));
    t.feed("device", dev(0x23, CMD.PAYMENT, "R+0.00"));
    t.feed("register", host(0x24, CMD.CLOSE, ""));
  }

  it("forwards every byte at once, except the close answer, which the commit releases", () => {
    const t = tap();
    openAndPay(t);
    const closeAnswer = dev(0x24, CMD.CLOSE, "0001,0001", st);
    const [r] = receiptsOf(t.feed("device", concatBytes([Uint8Array.of(0x16), closeAnswer])));
    expect(r?.replyTo).toBe("register");
    expect(r?.receipt).toMatchObject({ receiptId: "T-1", total: 32000 });
    expect(concatBytes(t.forwarded.device)).toEqual(
      concatBytes([
        host(0x21, CMD.OPEN, "1,0000,1,T-1"),
        host(0x22, CMD.SALE, "Kem đánh răng P/S 180g\tC32000.00*1#tuýp"),
        host(0x23, CMD.PAYMENT, "\tP32000.00"),
        host(0x24, CMD.CLOSE, ""),
      ]),
    );
    expect(hex(t.forwarded.register.at(-1)!)).toBe("16"); // the SYN went on; the answer is held
    expect(r!.reply(OK)).toEqual(closeAnswer);
  });

  it("holds the answer back after a failed commit and commits again on the printer's repeated answer", () => {
    const t = tap();
    openAndPay(t);
    const closeAnswer = dev(0x24, CMD.CLOSE, "0001,0001", st);
    const [first] = receiptsOf(t.feed("device", closeAnswer));
    expect(first!.reply(FAILED)).toBeUndefined();
    t.feed("register", host(0x24, CMD.CLOSE, "")); // the POS's resend after 500 ms
    const [second] = receiptsOf(t.feed("device", closeAnswer)); // the printer repeats its cached answer
    expect(second?.receipt).toEqual(first?.receipt);
    expect(second!.reply(OK)).toEqual(closeAnswer);
    t.feed("register", host(0x24, CMD.CLOSE, ""));
    expect(receiptsOf(t.feed("device", closeAnswer))).toEqual([]); // committed: not again
    expect(t.forwarded.register.at(-1)).toEqual(closeAnswer);
  });

  it("holds the close answer while the commit runs, dropping the printer's repeat to the POS's resend", () => {
    const t = tap();
    openAndPay(t);
    const closeAnswer = dev(0x24, CMD.CLOSE, "0001,0001", st);
    const [r] = receiptsOf(t.feed("device", closeAnswer));
    const before = t.forwarded.register.length;
    // A slow commit: the POS resends 38h, the printer repeats its answer; the POS must not see it yet.
    t.feed("register", host(0x24, CMD.CLOSE, ""));
    expect(t.feed("device", closeAnswer)).toEqual([]);
    expect(t.forwarded.register).toHaveLength(before);
    expect(r!.reply(OK)).toEqual(closeAnswer);
    // Committed: a later repeat passes on as any printer answer does.
    t.feed("register", host(0x24, CMD.CLOSE, ""));
    t.feed("device", closeAnswer);
    expect(t.forwarded.register.at(-1)).toEqual(closeAnswer);
  });

  it("takes a storno the printer accepted as a refund", () => {
    const t = tap();
    t.feed("register", host(0x21, CMD.STORNO_OLD, "1,0000,1,ST-9,R0000003,T-1,201126100215,02000001"));
    t.feed("device", dev(0x21, CMD.STORNO_OLD, "0002,0002", fromHex("80 90 88 80 86 9a")));
    t.feed("register", host(0x22, CMD.SALE, "Kem đánh răng P/S 180g\tC32000.00*1#tuýp"));
    t.feed("device", dev(0x22, CMD.SALE, ""));
    t.feed("register", host(0x23, CMD.PAYMENT, "\t"));
    t.feed("device", dev(0x23, CMD.PAYMENT, "R+0.00"));
    t.feed("register", host(0x24, CMD.CLOSE, ""));
    const [r] = receiptsOf(t.feed("device", dev(0x24, CMD.CLOSE, "0002,0002", st)));
    expect(r?.receipt).toMatchObject({ receiptId: "ST-9", kind: "refund", replaces: { receiptId: "T-1" } });
  });

  it("reports a receipt the printer closed but hoadon could not store when the line closes", () => {
    const t = tap();
    openAndPay(t);
    receiptsOf(t.feed("device", dev(0x24, CMD.CLOSE, "0001,0001", st)))[0]!.reply(FAILED);
    expect(problemsOf(t.decoder.idle(T0))).toMatchObject([
      { code: "TRUNCATED", detail: expect.stringContaining("printer") },
    ]);
  });

  it("keeps following the printer's open receipt across the POS's unplug (linkDown)", () => {
    const t = tap();
    t.feed("register", host(0x21, CMD.OPEN, "1,0000,1,T-3"));
    t.feed("device", dev(0x21, CMD.OPEN, "0001,0001"));
    t.feed("register", host(0x22, CMD.SALE, "Kem đánh răng P/S 180g\tC32000.00*1#tuýp"));
    const cut = host(0x23, CMD.PAYMENT, "\tP32000.00").subarray(0, 6);
    t.feed("register", cut);
    // The POS's cable goes; the printer's answer to the sale still arrives and applies.
    expect(problemsOf(t.decoder.linkDown!(T0))).toMatchObject([{ code: "TRUNCATED", raw: cut }]);
    t.feed("device", dev(0x22, CMD.SALE, ""));
    // The POS is back and goes on with the receipt the printer kept open.
    t.feed("register", host(0x23, CMD.PAYMENT, "\tP32000.00"));
    t.feed("device", dev(0x23, CMD.PAYMENT, "R+0.00"));
    t.feed("register", host(0x24, CMD.CLOSE, ""));
    const [r] = receiptsOf(t.feed("device", dev(0x24, CMD.CLOSE, "0001,0001", st)));
    expect(r?.receipt).toMatchObject({ receiptId: "T-3", total: 32000 });
  });

  it("applies only what the printer accepted, once", () => {
    const t = tap();
    t.feed("register", host(0x21, CMD.OPEN, "1,0000,1,T-2"));
    t.feed("device", dev(0x21, CMD.OPEN, "0001,0001"));
    t.feed("register", host(0x22, CMD.SALE, "A\tC1000.00"));
    t.feed("device", dev(0x22, CMD.SALE, "", fromHex("a1 80 88 80 86 9a"))); // refused
    t.feed("register", host(0x23, CMD.SALE, "B\tC2000.00"));
    t.feed("device", dev(0x23, CMD.SALE, ""));
    t.feed("register", host(0x23, CMD.SALE, "B\tC2000.00")); // resend
    t.feed("device", dev(0x23, CMD.SALE, "")); // the printer's cached answer
    t.feed("register", host(0x24, CMD.PAYMENT, "\t"));
    t.feed("device", Uint8Array.of(0x15)); // NAK: resent
    t.feed("register", host(0x24, CMD.PAYMENT, "\t"));
    t.feed("device", dev(0x24, CMD.PAYMENT, "R+0.00"));
    t.feed("register", host(0x25, CMD.CLOSE, ""));
    const [r] = receiptsOf(t.feed("device", dev(0x25, CMD.CLOSE, "0001,0001", st)));
    expect(r?.receipt).toMatchObject({ lines: [{ name: "B", amount: 2000 }], total: 2000 });
    expect(r?.receipt).toMatchObject({ receiptId: "T-2" });
  });
});

describe("round trip", () => {
  const START = Date.parse("2026-11-20T08:00:00+07:00");

  /** Encode `r` as a POS would (clock set to its issuedAt first), decode it, answer ok. */
  function roundTrip(r: ReceiptInput, o: Partial<DatecsOptions>, storno?: StornoReference): unknown {
    const opts = options(o);
    const ro = resolveOptions(opts);
    const decoder = datecsIsl.createDecoder(opts);
    const encodeOptions = {
      framing: ro.framing,
      encoding: ro.encoding,
      taxGroups: ro.taxGroups,
      paymentModes: ro.paymentModes,
    };
    const commands: HostCommand[] = [
      setTimeCommand(encodeOptions, Date.parse(r.issuedAt)),
      ...receiptCommands(r, encodeOptions, storno),
    ];
    let seq = 0x20;
    const receipts: unknown[] = [];
    for (const c of commands) {
      for (const e of decoder.push(hostFrame(ro.framing, seq, c), START)) {
        if (e.type === "problem") throw new Error(`${e.code}: ${e.detail}`);
        if (e.type === "receipt") {
          receipts.push(e.receipt);
          e.reply(OK);
        }
      }
      seq = nextSeq(ro.framing, seq);
    }
    expect(receipts).toHaveLength(1);
    return receipts[0];
  }

  fcTest.prop(
    [fc.integer({ min: 1, max: 1_000_000 }), fc.constantFrom("old", "x"), fc.constantFrom("utf-8", "cp1258", "auto")],
    { numRuns: 120 },
  )("decode(encode(r)) equals projectReceipt(r)", (seed, framing, encoding) => {
    for (const r of generateReceipts({ seed, count: 3, startMs: START })) {
      expect(roundTrip(r, { framing, encoding })).toEqual(projectReceipt(r));
    }
  });

  fcTest.prop([fc.integer({ min: 1, max: 1_000_000 }), fc.constantFrom("old", "x")], { numRuns: 60 })(
    "a refund naming its sale goes out as a storno and comes back as that refund",
    (seed, framing) => {
      for (const sale of generateReceipts({ seed, count: 2, startMs: START })) {
        const refund: ReceiptInput = {
          ...sale,
          receiptId: `${sale.receiptId}-TH`,
          kind: "refund",
          replaces: { receiptId: sale.receiptId, note: "Khách trả hàng" },
          buyer: undefined,
        };
        delete refund.buyer;
        const ref = { docNo: 12, closedAtMs: Date.parse(sale.issuedAt), fiscalMemory: "02000001" };
        const back = roundTrip(refund, { framing }, ref) as ReceiptInput;
        const expected = projectReceipt(refund);
        // X framing carries no UNP for the storno itself: the printer numbers it (clock at the close, document 1).
        if (framing === "x") expected.receiptId = `${back.issuedAt.slice(0, 19).replace(/[-:]/g, "")}-0000001`;
        expect(back).toEqual(expected);
      }
    },
  );

  it("refuses to encode a refund without its reference, or a replacement", () => {
    const [sale] = generateReceipts({ seed: 1, count: 1, startMs: START });
    const eo = resolveOptions(options());
    expect(() => receiptCommands({ ...sale!, kind: "refund", replaces: { receiptId: "A" } }, eo)).toThrow(
      UnencodableReceiptError,
    );
    expect(() => receiptCommands({ ...sale!, kind: "replacement" }, eo)).toThrow(UnencodableReceiptError);
  });
});
