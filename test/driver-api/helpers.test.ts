import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import {
  bytesEqual,
  concatBytes,
  crc32,
  crc32Hex,
  fromHex,
  type LineFrame,
  lineFramer,
  toHex,
  utf8,
  utf8Text,
} from "../../src/driver-api/index.js";

const text = (b: Uint8Array): string => new TextDecoder().decode(b);

describe("crc32", () => {
  it("matches the IEEE check value and known vectors", () => {
    expect(crc32(utf8("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
    expect(crc32Hex(utf8("The quick brown fox jumps over the lazy dog"))).toBe("414fa339");
    expect(crc32Hex(utf8('{"type":"ping"}'))).toMatch(/^[0-9a-f]{8}$/);
  });
});

describe("bytes helpers", () => {
  it("round-trips hex and refuses what is not hex", () => {
    expect(toHex(Uint8Array.of(0, 0x7b, 0xff), " ")).toBe("00 7b ff");
    expect(fromHex("00 7b\nFF")).toEqual(Uint8Array.of(0, 0x7b, 0xff));
    expect(() => fromHex("0g")).toThrow(RangeError);
    expect(() => fromHex("abc")).toThrow(RangeError);
  });

  it("decodes UTF-8 strictly and concatenates", () => {
    expect(utf8Text(utf8("Trà sữa"))).toBe("Trà sữa");
    expect(utf8Text(Uint8Array.of(0x54, 0xe0, 0x20))).toBeUndefined();
    expect(concatBytes([utf8("ab"), new Uint8Array(), utf8("c")])).toEqual(utf8("abc"));
    expect(bytesEqual(utf8("ab"), utf8("ab"))).toBe(true);
    expect(bytesEqual(utf8("ab"), utf8("ac"))).toBe(false);
    expect(bytesEqual(utf8("ab"), utf8("a"))).toBe(false);
  });
});

describe("lineFramer", () => {
  it("splits on \\n, drops one trailing \\r, keeps the raw bytes", () => {
    const f = lineFramer({ maxLength: 100 });
    const out = [...f.push(utf8("a\r\nb")), ...f.push(utf8("c\n\n"))];
    expect(out.map((o) => o.type === "line" && [text(o.line), text(o.raw)])).toEqual([
      ["a", "a\r\n"],
      ["bc", "bc\n"],
      ["", "\n"],
    ]);
    expect(f.flush()).toBeUndefined();
  });

  it("returns an unfinished line on flush and starts over", () => {
    const f = lineFramer({ maxLength: 100 });
    expect(f.push(utf8("abc"))).toEqual([]);
    expect(text(f.flush()!)).toBe("abc");
    expect(f.flush()).toBeUndefined();
  });

  it("cuts an over-long line into pieces by byte count and resynchronises at the next \\n", () => {
    const f = lineFramer({ maxLength: 4 });
    const out = f.push(utf8("0123456789AB\nok\n"));
    expect(out.map((o) => [o.type, text(o.raw), o.type === "too-long" ? o.end : undefined])).toEqual([
      ["too-long", "01234", false],
      ["too-long", "56789", false],
      ["too-long", "AB\n", true],
      ["line", "ok\n", undefined],
    ]);
    // exactly maxLength + 1 bytes, then the newline alone ends the line
    expect(f.push(utf8("01234\n")).map((o) => [o.type, text(o.raw)])).toEqual([
      ["too-long", "01234"],
      ["too-long", "\n"],
    ]);
    expect(f.push(utf8("0123\n")).map((o) => o.type)).toEqual(["line"]);
  });

  it("refuses a nonsense maxLength", () => {
    expect(() => lineFramer({ maxLength: 0 })).toThrow(RangeError);
  });

  const describeFrames = (frames: LineFrame[]): unknown[] =>
    frames.map((f) => (f.type === "line" ? ["line", toHex(f.raw)] : ["too-long", toHex(f.raw), f.end, f.lineLength]));

  fcTest.prop([
    fc.uint8Array({ maxLength: 400 }).map((b) => b.map((x) => (x % 7 === 0 ? 0x0a : x))),
    fc.array(fc.integer({ min: 1, max: 399 }), { maxLength: 20 }),
    fc.integer({ min: 1, max: 50 }),
  ])("gives the same frames however the bytes are chunked, and loses no byte", (bytes, cuts, maxLength) => {
    const whole = lineFramer({ maxLength });
    const expected = [...whole.push(bytes)];
    const rest = whole.flush();
    const chunked = lineFramer({ maxLength });
    const points = [0, ...cuts.filter((c) => c < bytes.length).sort((a, b) => a - b), bytes.length];
    const got = points.slice(1).flatMap((end, i) => chunked.push(bytes.subarray(points[i]!, end)));
    expect(describeFrames(got)).toEqual(describeFrames(expected));
    const all = concatBytes([...expected.map((f) => f.raw), rest ?? new Uint8Array()]);
    expect(toHex(all)).toBe(toHex(bytes));
    for (const f of expected) if (f.type === "line") expect(f.line.length).toBeLessThanOrEqual(maxLength);
  });
});
