import { describe, expect, it } from "vitest";
import {
  dlhdonId,
  formatKhhdon,
  formatMccqt,
  isValidShdon,
  KHHDON_MTT_RE,
  MCCQT_RE,
  parseMccqt,
} from "../../src/invoice/index.js";

describe("numbering", () => {
  it("formats the cash-register symbol C{YY}M{XX}", () => {
    expect(formatKhhdon(2026, "AB")).toBe("C26MAB");
    expect(formatKhhdon(2030, "YY")).toBe("C30MYY");
    expect(KHHDON_MTT_RE.test(formatKhhdon(2026, "Q1"))).toBe(true);
    expect(() => formatKhhdon(2026, "ab")).toThrow(RangeError);
    expect(() => formatKhhdon(2026, "ABC")).toThrow(RangeError);
    expect(KHHDON_MTT_RE.test("C26TAB")).toBe(false);
  });

  it("formats the MCCQT with 11 digits, independent of SHDon", () => {
    expect(formatMccqt("1", 2026, "A1B2C", 123)).toBe("M1-26-A1B2C-00000000123");
    expect(formatMccqt(2, 2025, "A1B2C", 1_234_567n)).toBe("M2-25-A1B2C-00001234567");
    // The real invoice of addendum §1a.
    expect(MCCQT_RE.test("M1-26-LPQZG-00001114278")).toBe(true);
    expect(parseMccqt("M1-26-LPQZG-00001114278")).toEqual({ typeDigit: "1", yy: "26", block: "LPQZG", seq: 1114278 });
    expect(parseMccqt("M1-26-LPQZG-1114278")).toBeUndefined();
    expect(() => formatMccqt("0", 2026, "A1B2C", 1)).toThrow(RangeError);
    expect(() => formatMccqt("1", 2026, "A1B2", 1)).toThrow(RangeError);
    expect(() => formatMccqt("1", 2026, "A1B2C", 100_000_000_000)).toThrow(RangeError);
    expect(() => formatMccqt("1", 2026, "A1B2C", -1)).toThrow(RangeError);
  });

  it("checks SHDon and makes a safe DLHDon Id", () => {
    expect(isValidShdon(1)).toBe(true);
    expect(isValidShdon(99_999_999)).toBe(true);
    expect(isValidShdon(0)).toBe(false);
    expect(isValidShdon(100_000_000)).toBe(false);
    expect(dlhdonId("1", "C26MAB", 123)).toBe("DLHDon-1C26MAB-123");
    expect(() => dlhdonId("1", "C26 AB", 1)).toThrow(RangeError);
    expect(() => dlhdonId("1", "C26MAB", 0)).toThrow(RangeError);
  });
});
