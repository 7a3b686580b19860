/**
 * escpos-tap: the tokenizer's argument lengths, code pages, Vietnamese numbers, templates, the bridge's held cut and
 * footer, status answers, PNG rendering, and the properties of issue 4 (same events however the bytes are chunked,
 * receipts survive garbage, decode(encode(x)) = x). Captures in captures/ are replayed by test/drivers.test.ts.
 */
import { inflateSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  concatBytes,
  crc32,
  type DecoderEvent,
  fromHex,
  type RecordOutcome,
  toHex,
  utf8,
} from "../../src/driver-api/index.js";
// What a receipt printed in the `hoadon-sim` layout carries: the simulator's own truth (item codes, groups and
// device are not printed).
import { printedFields } from "../../src/simulator/escpos.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import {
  CMD,
  type CutStyle,
  createTokenizer,
  cutBytes,
  decodeText,
  type EscposOptionsInput,
  encodeText,
  escposConfig,
  escposOptions,
  escposTap,
  jobTexts,
  parseDong,
  parseQuantity,
  ReceiptTemplate,
  type RenderOptions,
  receiptLines,
  renderPng,
  renderReceipt,
  tokenize,
} from "./index.js";

const options = (o: EscposOptionsInput = {}) => escposOptions.parse(o);

const names = (hex: string): string[] => tokenize(fromHex(hex)).map((t) => `${t.kind}:${t.name}:${t.end - t.start}`);

describe("tokenizer", () => {
  it.each([
    ["1b40", ["command:ESC @:2"]],
    ["1b7434", ["command:ESC t:3"]],
    ["1b2101", ["command:ESC !:3"]],
    ["1b6400", ["command:ESC d:3"]],
    ["1b240010", ["command:ESC $:4"]],
    ["1b7000197d", ["command:ESC p:5"]],
    ["1b633501", ["command:ESC c:4"]],
    ["1b44081000", ["command:ESC D:5"]],
    ["1b69", ["cut:ESC i:2"]],
    ["1b6d", ["cut:ESC m:2"]],
    ["1d5600", ["cut:GS V:3"]],
    ["1d5631", ["cut:GS V:3"]],
    ["1d564203", ["cut:GS V:4"]],
    ["1d566803", ["cut:GS V:4"]],
    ["1d2111", ["command:GS !:3"]],
    ["1d4c0000", ["command:GS L:4"]],
    ["1d7201", ["query:GS r:3"]],
    ["1d4943", ["query:GS I:3"]],
    ["100401", ["query:DLE EOT:3"]],
    ["10040701", ["query:DLE EOT:4"]],
    ["100501", ["query:DLE ENQ:3"]],
    ["1014010003", ["command:DLE DC4:5"]],
    ["10140801020304050607", ["command:DLE DC4:10"]],
    ["1c2e", ["command:FS .:2"]],
    ["1c26", ["command:FS &:2"]],
    ["1c700100", ["command:FS p:4"]],
    // GS ( k: pL pH counts the bytes after them; the payload "1D 56 00" is data, not a cut.
    ["1d286b0600315030" + "1d5600", ["command:GS ( k:11"]],
    // GS k, m ≤ 6: NUL-terminated; m ≥ 65: length byte.
    ["1d6b04" + "41424300", ["command:GS k:7"]],
    ["1d6b4903" + "1d5600", ["command:GS k:7"]],
    // ESC * m=33: 3 bytes per column.
    ["1b2a210200" + "1d56001d5600", ["image:ESC *:11"]],
    // GS v 0: x bytes × y rows of data, with a GS V and an LF inside.
    ["1d7630000200020" + "01d56000a", ["image:GS v 0:12"]],
    ["1d2a0101" + "1d56000a1d56000a", ["image:GS *:12"]],
    ["1d384c0400000030321d56", ["command:GS 8 L:11"]],
    // ESC & y c1 c2 then per character x + y·x bytes.
    ["1b2603414201" + "1d5600" + "00", ["image:ESC &:10"]],
    // FS q n then per image xL xH yL yH + x·y·8 bytes.
    ["1c7101" + "01000100" + "1d56001d5600000a", ["image:FS q:15"]],
  ])("%s", (hex, expected) => {
    expect(names(hex)).toEqual(expected);
  });

  it("reads an unknown ESC x as two bytes and goes on", () => {
    expect(names("1b99 41 1b40")).toEqual(["unknown:1b 99:2", "text:text:1", "command:ESC @:2"]);
  });

  it("reads an impossible image header as two unknown bytes, so noise cannot swallow what follows", () => {
    expect(names("1d7630 00ffffffff 41")).toEqual([
      "unknown:1d 76:2",
      "text:text:1",
      "control:NUL:1",
      "text:text:4",
      "text:text:1",
    ]);
  });

  it("treats a lone DLE as one unknown byte and reads the next byte again", () => {
    expect(names("10 41")).toEqual(["unknown:0x10:1", "text:text:1"]);
  });

  it("makes the same tokens (text runs joined) whatever the chunking", () => {
    const bytes = renderReceipt(RECEIPTS[0]!, { codePage: "cp1258", logo: true, codes: true });
    const whole = tokenize(bytes);
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1, max: bytes.length - 1 }), { maxLength: 40 }), (cuts) => {
        const points = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
        const pieces = points.slice(1).map((e, i) => bytes.subarray(points[i]!, e));
        const chunked = joinText(pieces);
        expect(chunked).toEqual(joinText([bytes]));
        expect(chunked.length).toBe(whole.length);
      }),
      { numRuns: 100 },
    );
  });
});

/** Tokens with adjacent text tokens merged. */
function joinText(pieces: readonly Uint8Array[]): string[] {
  const t = createTokenizer();
  const out: string[] = [];
  for (const tok of [...pieces.flatMap((p) => t.push(p)), ...t.flush()]) {
    const last = out[out.length - 1];
    if (tok.kind === "text" && last?.startsWith("text:")) out[out.length - 1] = `${last}${toHex(tok.bytes)}`;
    else out.push(`${tok.kind}:${tok.name}:${tok.start}:${tok.kind === "text" ? toHex(tok.bytes) : tok.end}`);
  }
  return out;
}

describe("code pages", () => {
  it("composes cp1258's separate tone bytes to NFC", () => {
    const text = decodeText(fromHex("54 72 e0 20 73 fd de 61"), "cp1258");
    expect([...text]).toHaveLength(8);
    expect(text.normalize("NFC")).toBe("Trà sữa");
    expect([...text.normalize("NFC")]).toHaveLength(7);
  });

  it("reads TCVN-3 lower case on page 30 and capitals on page 31", () => {
    expect(decodeText(fromHex("b5 b6 b7 b8 b9 a8 a9 aa ab ac ad ae"), "tcvn3")).toBe("àảãáạăâêôơưđ");
    expect(decodeText(fromHex("a1 a2 a3 a4 a5 a6 a7"), "tcvn3")).toBe("ĂÂÊÔƠƯĐ");
    expect(decodeText(fromHex("f8 6e 67"), "tcvn3-caps")).toBe("ỨNG");
  });

  it("reads VISCII, cp437 and cp1252", () => {
    expect(decodeText(fromHex("43 e0 20 70 68 ea"), "viscii")).toBe("Cà phê");
    expect(decodeText(fromHex("c9 cd bb"), "cp437")).toBe("╔═╗");
    expect(decodeText(fromHex("80 e9"), "cp1252")).toBe("€é");
  });

  it("never maps C0 bytes to letters (they are printer commands)", () => {
    expect(decodeText(fromHex("01 02 41"), "tcvn3")).toBe("A");
    expect(jobTexts(escposConfig(options({ defaultCodePage: "tcvn3" })), fromHex("41 02 42 0a 1d 56 00"))).toEqual([
      "AB",
    ]);
  });

  it.each(["cp1258", "tcvn3", "viscii", "utf8"] as const)("round-trips every Vietnamese letter through %s", (cp) => {
    let letters =
      "aàảãáạăằẳẵắặâầẩẫấậeèẻẽéẹêềểễếệiìỉĩíịoòỏõóọôồổỗốộơờởỡớợuùủũúụưừửữứựyỳỷỹýỵđ" +
      "AÀẢÃÁẠĂẰẲẴẮẶÂẦẨẪẤẬEÈẺẼÉẸÊỀỂỄẾỆIÌỈĨÍỊOÒỎÕÓỌÔỒỔỖỐỘƠỜỞỠỚỢUÙỦŨÚỤƯỪỬỮỨỰYỲỶỸÝỴĐ";
    // VISCII keeps six capitals in C0 (Ẳ Ẵ Ẫ Ỷ Ỹ Ỵ), which a printer reads as commands: they print without marks.
    if (cp === "viscii") letters = letters.replace(/[ẲẴẪỶỸỴ]/g, "");
    const page = { cp1258: 52, tcvn3: 30, viscii: 27, utf8: undefined }[cp];
    const bytes = concatBytes([
      page === undefined ? new Uint8Array(0) : CMD.codePage(page),
      encodeText(letters, cp, { viscii: 27 }),
      CMD.lf,
    ]);
    const config = escposConfig(
      options({ codePages: { "27": "viscii" }, defaultCodePage: cp === "utf8" ? "utf8" : "cp437" }),
    );
    expect(jobTexts(config, bytes)).toEqual([letters]);
  });
});

describe("Vietnamese numbers", () => {
  it.each([
    ["50.000", 50_000],
    ["50,000đ", 50_000],
    ["50.000 VND", 50_000],
    ["1.250.000 ₫", 1_250_000],
    ["140.000đ", 140_000],
    ["50000", 50_000],
    ["50.000,00", 50_000],
    ["-5.000", -5_000],
    ["1 250 000", 1_250_000],
    ["VNĐ 20.000", 20_000],
  ])("%s is %d đồng", (text, value) => {
    expect(parseDong(text)).toBe(value);
  });

  it.each(["50,5", "5.00.0", "abc", "12.34", "1.2345"])("%s is not a whole amount", (text) => {
    expect(parseDong(text)).toBeUndefined();
  });

  it.each([
    ["2", ",", "2"],
    ["0,5", ",", "0.5"],
    ["0,50", ",", "0.5"],
    ["1.5", ",", "1.5"],
    ["1.000", ",", "1000"],
    ["1,250.5", ",", "1250.5"],
    ["2.35", ".", "2.35"],
    ["007", ",", "7"],
  ])("quantity %s (decimal %s) is %s", (text, decimal, value) => {
    expect(parseQuantity(text, decimal as "," | ".")).toBe(value);
  });
});

const START = Date.UTC(2026, 10, 20, 2);
const RECEIPTS = generateReceipts({ seed: 7, count: 40, registerId: "QUAY1", startMs: START });

const receiptsOf = (events: readonly DecoderEvent[]): unknown[] =>
  events.flatMap((e) => (e.type === "receipt" ? [e.receipt] : []));

const CUTS: readonly CutStyle[] = ["GS V 0", "GS V 1", "GS V 48", "GS V 49", "GS V 65", "GS V 66", "ESC i", "ESC m"];
const CODE_PAGES = ["cp1258", "tcvn3", "viscii", "utf8"] as const;

const renderArb = fc.record({
  codePage: fc.constantFrom(...CODE_PAGES),
  cut: fc.constantFrom(...CUTS),
  logo: fc.boolean(),
  codes: fc.boolean(),
  drawer: fc.boolean(),
  kanjiGuard: fc.boolean(),
  width: fc.constantFrom(32, 42, 48),
});

const configFor = (r: RenderOptions): EscposOptionsInput => ({
  role: "sink",
  codePages: { "27": "viscii" },
  defaultCodePage: r.codePage === "utf8" ? "utf8" : "cp437",
});

describe("decode(encode(x)) = x", () => {
  it("for seeded receipts in every code page, cut style and extra (logo, QR, barcode, drawer, FS .)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: RECEIPTS.length - 1 }), renderArb, (i, r) => {
        const receipt = RECEIPTS[i]!;
        const o: RenderOptions = { ...r, pages: { viscii: 27 } };
        const decoder = escposTap.createDecoder(options(configFor(o)));
        const events = [...decoder.push(renderReceipt(receipt, o), START), ...decoder.idle(START)];
        expect(receiptsOf(events)).toEqual([printedFields(receipt)]);
      }),
      { numRuns: 300 },
    );
  });

  it("for thousands of seeded receipts (cp1258, GS V 66)", () => {
    const many = generateReceipts({ seed: 99, count: 2_000, registerId: "QUAY9", startMs: START });
    const decoder = escposTap.createDecoder(options({ role: "sniff" }));
    const bytes = concatBytes(many.map((r) => renderReceipt(r, { codePage: "cp1258" })));
    const events = [...decoder.push(bytes, START), ...decoder.idle(START)];
    expect(events.filter((e) => e.type !== "receipt")).toEqual([]);
    expect(receiptsOf(events)).toEqual(many.map(printedFields));
  });
});

describe("properties of the decoder", () => {
  const stream = (seed: number, o: RenderOptions): Uint8Array =>
    concatBytes(
      generateReceipts({ seed, count: 3, startMs: START }).flatMap((r) => [CMD.statusPoll, renderReceipt(r, o)]),
    );
  const json = (events: readonly DecoderEvent[]): string =>
    JSON.stringify(
      events.map((e) =>
        e.type === "receipt"
          ? { ...e, raw: toHex(e.raw), reply: undefined }
          : e.type === "problem"
            ? { ...e, raw: toHex(e.raw) }
            : e,
      ),
    );

  it("gives the same events however the bytes are chunked (status answers included)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 50 }),
        renderArb,
        fc.array(fc.nat(), { maxLength: 30 }),
        (seed, r, cutsRaw) => {
          const o: RenderOptions = { ...r, pages: { viscii: 27 } };
          const bytes = stream(seed, o);
          const cuts = [...new Set(cutsRaw.map((c) => 1 + (c % (bytes.length - 1))))].sort((a, b) => a - b);
          const points = [0, ...cuts, bytes.length];
          const run = (pieces: readonly Uint8Array[]): string => {
            const d = escposTap.createDecoder(options(configFor(o)));
            return json([...pieces.flatMap((p) => d.push(p, START)), ...d.idle(START)]);
          };
          expect(run(points.slice(1).map((e, i) => bytes.subarray(points[i]!, e)))).toBe(run([bytes]));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("keeps every valid receipt when line noise (without command bytes) is glued around it", () => {
    const noise = fc.uint8Array({ maxLength: 80 }).map((a) => a.filter((b) => ![0x10, 0x1b, 0x1c, 0x1d].includes(b)));
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: RECEIPTS.length - 1 }),
        fc.array(noise, { minLength: 3, maxLength: 3 }),
        (i, [a, b, c]) => {
          const receipt = RECEIPTS[i]!;
          const next = RECEIPTS[(i + 1) % RECEIPTS.length]!;
          const d = escposTap.createDecoder(options({ role: "sniff" }));
          const bytes = concatBytes([
            a!,
            renderReceipt(receipt, { codePage: "cp1258" }),
            b!,
            renderReceipt(next, { codePage: "cp1258" }),
            c!,
          ]);
          const events = [...d.push(bytes, START), ...d.idle(START)];
          expect(receiptsOf(events)).toEqual([printedFields(receipt), printedFields(next)]);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("keeps every valid receipt after arbitrary garbage followed by a quiet gap (the session's idle)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: RECEIPTS.length - 1 }),
        fc.uint8Array({ minLength: 1, maxLength: 200 }),
        (i, garbage) => {
          const receipt = RECEIPTS[i]!;
          const d = escposTap.createDecoder(options({ role: "sniff" }));
          const events = [
            ...d.push(garbage, START),
            ...d.idle(START + 3_000),
            ...d.push(renderReceipt(receipt, { codePage: "tcvn3", cut: "GS V 0" }), START + 10_000),
            ...d.idle(START + 13_000),
          ];
          expect(receiptsOf(events)).toEqual([printedFields(receipt)]);
          for (const e of events) if (e.type === "problem") expect(["NO_TEMPLATE", "RASTER_ONLY"]).toContain(e.code);
        },
      ),
      { numRuns: 300 },
    );
  });
});

const OK: RecordOutcome = {
  status: "ok",
  invoice: {
    mccqt: "M1-26-7K3QX-00000000123",
    khmshdon: "1",
    khhdon: "C26MAB",
    shdon: 123,
    qr: "00020101021199630010A000000775011003123456730201103062C26MAB04031230508202611200606140000",
  },
};

describe("bridge", () => {
  const bridge = (o: EscposOptionsInput = {}) => escposTap.createTapDecoder!(options({ role: "bridge", ...o }));

  it("forwards every byte at once except the cut, which comes back after the footer in the receipt's reply", () => {
    const receipt = RECEIPTS[3]!;
    const bytes = renderReceipt(receipt, { codePage: "cp1258", cut: "GS V 66" });
    const d = bridge();
    const events = [
      ...d.push(bytes.subarray(0, 100), START, "register"),
      ...d.push(bytes.subarray(100), START, "register"),
    ];
    const forwarded = concatBytes(events.flatMap((e) => (e.type === "forward" ? [e.bytes] : [])));
    const cut = cutBytes("GS V 66");
    expect(toHex(forwarded)).toBe(toHex(bytes.subarray(0, bytes.length - cut.length)));
    // The first 100 bytes went out before the rest had even arrived.
    expect(events[0]).toMatchObject({ type: "forward", to: "device" });
    expect(events[0]!.type === "forward" && events[0]!.bytes.length).toBe(100);
    const r = events.find((e) => e.type === "receipt")!;
    expect(r).toMatchObject({ type: "receipt", replyTo: "device" });
    if (r.type !== "receipt") throw new Error("no receipt");
    const reply = r.reply(OK)!;
    expect(toHex(reply.subarray(reply.length - cut.length))).toBe(toHex(cut));
    const footer = reply.subarray(0, reply.length - cut.length);
    const text = jobTexts(escposConfig(options()), concatBytes([CMD.codePage(52), footer]));
    expect(text.join("\n")).toContain("Mã CQT: M1-26-7K3QX-00000000123");
    // GS ( k store function 80 carries the lookup QR payload.
    expect(toHex(footer)).toContain(toHex(utf8(OK.status === "ok" ? OK.invoice.qr : "")));
    expect(toHex(footer)).toContain("1d286b0300315130"); // print the QR
    expect(toHex(r.reply({ status: "rejected", code: "X", message: "x" })!)).toBe(toHex(cut));
    expect(toHex(r.reply({ status: "failed", code: "X", message: "x" })!)).toBe(toHex(cut));
  });

  it("releases the cut right after a problem (the printer keeps printing whatever hoadon thinks)", () => {
    const bytes = renderReceipt(RECEIPTS[0]!, { codePage: "raster", cut: "GS V 0" });
    const events = bridge().push(bytes, START, "register");
    expect(events.map((e) => e.type)).toEqual(["forward", "problem", "forward"]);
    expect(toHex(concatBytes(events.flatMap((e) => (e.type === "forward" ? [e.bytes] : []))))).toBe(toHex(bytes));
  });

  it("holds an ESC at the end of a chunk until the next byte says what it is", () => {
    const d = bridge();
    expect(d.push(fromHex("41 42 1b"), START, "register")).toEqual([
      { type: "forward", to: "device", bytes: fromHex("41 42") },
    ]);
    expect(d.push(fromHex("45 01"), START, "register")).toEqual([
      { type: "forward", to: "device", bytes: fromHex("1b 45 01") },
    ]);
  });

  it("forwards an unfinished command at once when it cannot become a cut", () => {
    const d = bridge();
    expect(d.push(fromHex("41 1b 45"), START, "register")).toEqual([
      { type: "forward", to: "device", bytes: fromHex("41 1b 45") },
    ]);
    expect(d.push(fromHex("01 1d 56"), START, "register")).toEqual([
      { type: "forward", to: "device", bytes: fromHex("01") },
    ]);
    expect(d.push(fromHex("42"), START, "register")).toEqual([]);
    expect(d.push(fromHex("03"), START, "register").map((e) => e.type)).toEqual(["problem", "forward"]);
  });

  it("passes the cut through untouched when the footer is off", () => {
    const bytes = renderReceipt(RECEIPTS[1]!, { codePage: "cp1258" });
    const events = bridge({ footer: { enabled: false } }).push(bytes, START, "register");
    expect(toHex(concatBytes(events.flatMap((e) => (e.type === "forward" ? [e.bytes] : []))))).toBe(toHex(bytes));
    const r = events.find((e) => e.type === "receipt");
    expect(r?.type === "receipt" && r.reply(OK)).toBeUndefined();
  });

  it("prints the footer after an idle-gap job only when the printer has no cutter (footer.withoutCut)", () => {
    const bytes = renderReceipt(RECEIPTS[2]!, { codePage: "cp1258", cut: "none" });
    const run = (o: EscposOptionsInput) => {
      const d = bridge(o);
      const pushed = d.push(bytes, START, "register");
      const ended = d.idle(START + 60_000);
      return { pushed, ended };
    };
    const plain = run({});
    // Every byte went to the printer at once: there was no cut to hold.
    expect(toHex(concatBytes(plain.pushed.flatMap((e) => (e.type === "forward" ? [e.bytes] : []))))).toBe(toHex(bytes));
    const r0 = plain.ended.find((e) => e.type === "receipt");
    if (r0?.type !== "receipt") throw new Error("no receipt on the idle gap");
    expect(r0.reply(OK)).toBeUndefined();

    const r1 = run({ footer: { withoutCut: true } }).ended.find((e) => e.type === "receipt");
    if (r1?.type !== "receipt") throw new Error("no receipt on the idle gap");
    const footer = r1.reply(OK)!;
    const text = jobTexts(escposConfig(options()), concatBytes([CMD.codePage(52), footer]));
    expect(text.join("\n")).toContain("Mã CQT: M1-26-7K3QX-00000000123");
    // No cut of any form at the end (the printer has none): the footer ends with a paper feed.
    for (const style of ["GS V 0", "GS V 1", "GS V 66", "ESC i", "ESC m"] as const) {
      expect(toHex(footer).endsWith(toHex(cutBytes(style)))).toBe(false);
    }
    expect(r1.reply({ status: "rejected", code: "X", message: "x" })).toBeUndefined();
  });

  it("passes the printer's answers back unchanged and reads its name from GS I", () => {
    const d = bridge();
    d.push(fromHex("1d 49 43 1d 49 41"), START, "register");
    expect(d.push(fromHex("5f 54 4d 2d 54 38 32 00"), START, "device")).toEqual([
      { type: "forward", to: "register", bytes: fromHex("5f 54 4d 2d 54 38 32 00") },
      { type: "identity", model: "TM-T82" },
    ]);
  });

  it("answers status requests itself while the printer is absent, when configured", () => {
    const d = bridge({ absentPrinter: "offline" });
    d.link!("device", false, START);
    expect(d.push(fromHex("10 04 01"), START, "register")).toEqual([
      { type: "reply", bytes: Uint8Array.of(0x1a) },
      { type: "forward", to: "device", bytes: fromHex("10 04 01") },
    ]);
    d.link!("device", true, START);
    expect(d.push(fromHex("10 04 01"), START, "register").map((e) => e.type)).toEqual(["forward"]);
  });
});

describe("sink and sniff", () => {
  it("answers as a printer out of paper when told so", () => {
    const d = escposTap.createDecoder(options({ role: "sink", printer: { paper: "out" } }));
    expect(d.push(fromHex("10 04 04 10 04 01 1d 72 01"), START)).toEqual([
      { type: "reply", bytes: Uint8Array.of(0x7e) },
      { type: "reply", bytes: Uint8Array.of(0x1a) },
      { type: "reply", bytes: Uint8Array.of(0x0f) },
    ]);
  });

  it("prints VISCII's six C0 capitals without their marks (C0 bytes are commands)", () => {
    expect(decodeText(encodeText("ẲẴẪỶỸỴ", "viscii"), "viscii")).toBe("AAAYYY");
  });

  it("answers nothing in sniff role", () => {
    expect(escposTap.createDecoder(options({ role: "sniff" })).push(fromHex("10 04 01 1d 72 01"), START)).toEqual([]);
  });

  it("needs two ports only as a bridge", () => {
    expect(escposTap.portsFor!(options())).toBe(2);
    expect(escposTap.portsFor!(options({ role: "sink" }))).toBe(1);
    expect(escposTap.idleMsFor!(options({ idleGapMs: 1_500 }))).toBe(1_500);
  });
});

describe("print jobs", () => {
  it("keeps a job with no cut past maxReceiptBytes as TOO_LONG", () => {
    const d = escposTap.createDecoder(options({ maxReceiptBytes: 4_096 }));
    const events = d.push(new Uint8Array(5_000).fill(0x41), START);
    expect(events.map((e) => e.type === "problem" && e.code)).toEqual(["TOO_LONG"]);
  });

  it("starts a new job at ESC @ after content when splitOnInit is set", () => {
    const a = renderReceipt(RECEIPTS[0]!, { codePage: "cp1258", cut: "none" });
    const b = renderReceipt(RECEIPTS[1]!, { codePage: "cp1258", cut: "none" });
    const d = escposTap.createDecoder(options({ splitOnInit: true }));
    expect(receiptsOf([...d.push(concatBytes([a, b]), START), ...d.idle(START)])).toEqual([
      printedFields(RECEIPTS[0]!),
      printedFields(RECEIPTS[1]!),
    ]);
  });

  it("drops jobs that match an ignore pattern", () => {
    const ticket = concatBytes([CMD.init, encodeText("PHIEU BEP\n1 x Pho\n", "cp437"), cutBytes("GS V 0")]);
    expect(escposTap.createDecoder(options({ ignore: ["^PHIEU BEP$"] })).push(ticket, START)).toEqual([]);
  });

  it("uses the first byte's time and a hash of the bytes when the receipt prints neither", () => {
    const t: EscposOptionsInput["templates"] = [
      {
        id: "bare",
        items: { line: "^(?<name>\\S.*?) +(?<amount>\\d+)$", end: "^TOTAL" },
        total: "^TOTAL (?<amount>\\d+)$",
      },
    ];
    const bytes = concatBytes([encodeText("Pho bo 50000\nTra da 5000\nTOTAL 55000\n", "cp437"), cutBytes("GS V 0")]);
    const [e] = escposTap.createDecoder(options({ templates: t })).push(bytes, Date.UTC(2026, 0, 2, 3, 4, 5));
    expect(e).toMatchObject({
      type: "receipt",
      receipt: {
        receiptId: expect.stringMatching(/^ESCPOS-[0-9a-f]{24}$/),
        issuedAt: "2026-01-02T10:04:05+07:00",
        total: 55000,
      },
    });
  });

  it("reports a line whose amount is not quantity × price − discount", () => {
    const text = renderReceipt(RECEIPTS[0]!, { codePage: "cp1258" });
    const bad = fromHex(toHex(text).replace(toHex(utf8(" x ")), toHex(utf8(" x 1"))));
    const [e] = escposTap.createDecoder(options({ role: "sniff" })).push(bad, START);
    expect(e).toMatchObject({ type: "problem", code: "TOTAL_MISMATCH" });
  });

  it("reports an impossible printed date as FIELD_INVALID", () => {
    const r = { ...RECEIPTS[0]!, issuedAt: "2026-02-30T10:00:00+07:00" };
    const [e] = escposTap
      .createDecoder(options({ role: "sniff" }))
      .push(renderReceipt(r, { codePage: "cp1258" }), START);
    expect(e).toMatchObject({ type: "problem", code: "FIELD_INVALID" });
  });
});

describe("templates in config", () => {
  it("refuses a pattern that does not compile or lacks a named group, in Vietnamese first", () => {
    const r = ReceiptTemplate.safeParse({ id: "x", items: { line: "^(?<name>.+)$" }, total: "(" });
    expect(r.success).toBe(false);
    const messages = r.error!.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    expect(messages).toEqual([
      expect.stringMatching(/^items\.line: thiếu nhóm \(\?<amount>…\)/),
      expect.stringMatching(/^total: Biểu thức chính quy sai/),
    ]);
  });

  it("has defaults that parse from {}", () => {
    expect(options()).toMatchObject({ role: "bridge", defaultCodePage: "cp437", idleGapMs: 3_000 });
    expect(options().footer).toMatchObject({ enabled: true, qr: true });
  });
});

describe("PNG of a raster receipt", () => {
  it("is a valid 1-bit PNG of the stacked images, with dots where the text was drawn", () => {
    const raw = renderReceipt(RECEIPTS[0]!, { codePage: "raster", width: 32 });
    const png = renderPng(raw)!;
    expect(toHex(png.subarray(0, 8))).toBe("89504e470d0a1a0a");
    const view = new DataView(png.buffer, png.byteOffset);
    let at = 8;
    const chunks: Record<string, Uint8Array> = {};
    while (at < png.length) {
      const length = view.getUint32(at);
      const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
      const body = png.subarray(at + 8, at + 8 + length);
      expect(view.getUint32(at + 8 + length)).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
      chunks[type] = body;
      at += 12 + length;
    }
    const ihdr = new DataView(chunks["IHDR"]!.buffer, chunks["IHDR"]!.byteOffset);
    const width = ihdr.getUint32(0);
    const height = ihdr.getUint32(4);
    expect(width).toBe(192);
    expect(height).toBe(10 * receiptLines(RECEIPTS[0]!, 32).length);
    const rows = inflateSync(chunks["IDAT"]!);
    expect(rows.length).toBe(height * (width / 8 + 1));
    expect([...rows].some((b, i) => i % (width / 8 + 1) !== 0 && b !== 0xff)).toBe(true);
    expect(chunks["IEND"]).toHaveLength(0);
  });

  it("is undefined for a receipt with no pictures", () => {
    expect(renderPng(renderReceipt(RECEIPTS[0]!, { codePage: "cp1258" }))).toBeUndefined();
  });
});
