import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { amountInWords, MAX_WORDS_AMOUNT, parseWords } from "../../src/invoice/words.js";

const TABLE: [bigint | number, string][] = [
  [0, "Không đồng"],
  [1, "Một đồng"],
  [4, "Bốn đồng"],
  [5, "Năm đồng"],
  [10, "Mười đồng"],
  [11, "Mười một đồng"],
  [14, "Mười bốn đồng"],
  [15, "Mười lăm đồng"],
  [20, "Hai mươi đồng"],
  [21, "Hai mươi mốt đồng"],
  [24, "Hai mươi tư đồng"],
  [25, "Hai mươi lăm đồng"],
  [99, "Chín mươi chín đồng"],
  [100, "Một trăm đồng"],
  [101, "Một trăm linh một đồng"],
  [105, "Một trăm linh năm đồng"],
  [110, "Một trăm mười đồng"],
  [115, "Một trăm mười lăm đồng"],
  [121, "Một trăm hai mươi mốt đồng"],
  [1000, "Một nghìn đồng"],
  [1005, "Một nghìn không trăm linh năm đồng"],
  [1010, "Một nghìn không trăm mười đồng"],
  [1100, "Một nghìn một trăm đồng"],
  [20_021, "Hai mươi nghìn không trăm hai mươi mốt đồng"],
  [130_400, "Một trăm ba mươi nghìn bốn trăm đồng"],
  [1_000_000, "Một triệu đồng"],
  [1_000_001, "Một triệu không trăm linh một đồng"],
  [1_000_010, "Một triệu không trăm mười đồng"],
  [1_001_000, "Một triệu không trăm linh một nghìn đồng"],
  [1_005_001, "Một triệu không trăm linh năm nghìn không trăm linh một đồng"],
  [1_284_000, "Một triệu hai trăm tám mươi tư nghìn đồng"],
  [10_000_000, "Mười triệu đồng"],
  [1_000_000_000, "Một tỷ đồng"],
  [1_000_000_005, "Một tỷ không trăm linh năm đồng"],
  [2_000_300_000, "Hai tỷ ba trăm nghìn đồng"],
  [2_000_030_000, "Hai tỷ không trăm ba mươi nghìn đồng"],
  [1_000_000_000_000n, "Một nghìn tỷ đồng"],
  [5_000_003_000_000n, "Năm nghìn tỷ không trăm linh ba triệu đồng"],
  [MAX_WORDS_AMOUNT, "Một triệu tỷ đồng"],
  [
    MAX_WORDS_AMOUNT - 1n,
    "Chín trăm chín mươi chín nghìn chín trăm chín mươi chín tỷ chín trăm chín mươi chín triệu chín trăm chín mươi chín nghìn chín trăm chín mươi chín đồng",
  ],
  [-5000, "Âm năm nghìn đồng"],
];

describe("amountInWords", () => {
  it.each(TABLE)("%s → %s", (n, words) => {
    expect(amountInWords(n)).toBe(words);
  });

  it("has the southern variant and a configurable currency and four", () => {
    expect(amountInWords(1005, { style: "south" })).toBe("Một ngàn không trăm lẻ năm đồng");
    expect(amountInWords(24, { four: "bốn" })).toBe("Hai mươi bốn đồng");
    expect(amountInWords(12, { currency: "đô la Mỹ" })).toBe("Mười hai đô la Mỹ");
  });

  it("refuses amounts it cannot spell", () => {
    expect(() => amountInWords(MAX_WORDS_AMOUNT + 1n)).toThrow(RangeError);
    expect(() => amountInWords(1.5)).toThrow(RangeError);
  });
});

describe("parseWords", () => {
  it.each(TABLE)("reads back %s", (n, words) => {
    expect(parseWords(words)).toBe(BigInt(n));
  });

  it("reads other producers' variants", () => {
    expect(parseWords("Một triệu hai trăm tám mươi bốn nghìn đồng.")).toBe(1_284_000n);
    expect(parseWords("một ngàn không trăm lẻ năm đồng chẵn")).toBe(1005n);
    expect(parseWords("Hai tỉ đồng")).toBe(2_000_000_000n);
  });

  it("refuses what is not an amount", () => {
    expect(() => parseWords("Một hai đồng")).toThrow(RangeError);
    expect(() => parseWords("Một trăm con mèo đồng")).toThrow(RangeError);
    expect(() => parseWords("đồng")).toThrow(RangeError);
  });

  test.prop([fc.bigInt({ min: 0n, max: MAX_WORDS_AMOUNT }), fc.constantFrom("north", "south" as const)], {
    numRuns: 2000,
  })("inverts amountInWords on [0, 10^15]", (n, style) => {
    expect(parseWords(amountInWords(n, { style }))).toBe(n);
  });

  test.prop([fc.integer({ min: 0, max: 2_000_000 })])("inverts amountInWords on small amounts", (n) => {
    expect(parseWords(amountInWords(n))).toBe(BigInt(n));
  });
});
