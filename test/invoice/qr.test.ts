import { describe, expect, it } from "vitest";
import { crc16CcittFalse, lookupQr, parseLookupQr, parseTlv } from "../../src/invoice/index.js";

// Addendum §2a: the lookup QR of a real cash-register invoice as the GDT portal returns it (no CRC, empty GUID,
// empty payment tags, branch MST with hyphen, amount with ".0").
const GDT_PORTAL =
  "000201" +
  "010212" +
  "0200" +
  "0400" +
  "2600" +
  "5200" +
  "5300" +
  "5400" +
  "5800" +
  "5900" +
  "6000" +
  "6200" +
  "9973" +
  "0000" +
  "01140102721191-001" +
  "02011" +
  "0306C26MCV" +
  "04071113544" +
  "050820260404" +
  "06091425303.0";

describe("crc16CcittFalse", () => {
  it("has the known answer for 123456789", () => {
    expect(crc16CcittFalse("123456789")).toBe(0x29b1);
  });
});

describe("parseTlv / parseLookupQr", () => {
  it("reads the GDT portal value", () => {
    const top = parseTlv(GDT_PORTAL);
    expect(top.map((f) => f.id)).toEqual([
      "00",
      "01",
      "02",
      "04",
      "26",
      "52",
      "53",
      "54",
      "58",
      "59",
      "60",
      "62",
      "99",
    ]);
    expect(parseLookupQr(GDT_PORTAL)).toEqual({
      guid: "",
      sellerTaxCode: "0102721191-001",
      khmshdon: "1",
      khhdon: "C26MCV",
      shdon: "1113544",
      date: "20260404",
      total: "1425303.0",
      crc: "absent",
    });
  });

  it("refuses malformed TLV", () => {
    expect(() => parseTlv("0002")).toThrow(RangeError);
    expect(() => parseTlv("00020")).toThrow(RangeError);
    expect(() => parseTlv("ab0201")).toThrow(RangeError);
    expect(() => parseLookupQr("000201")).toThrow(/tag 99/);
  });
});

describe("lookupQr", () => {
  const input = {
    sellerTaxCode: "0100000001",
    khmshdon: "1",
    khhdon: "C26MAB",
    shdon: 123,
    nlap: "2026-11-20",
    total: 130_400,
  };

  it("writes template 99 and a CRC over everything up to 6304", () => {
    const qr = lookupQr(input);
    expect(qr).toBe(
      "000201010211" +
        "9972" +
        "0010A000000775" +
        "01100100000001" +
        "02011" +
        "0306C26MAB" +
        "0403123" +
        "050820261120" +
        "0606130400" +
        // Python's binascii.crc_hqx(payload, 0xFFFF) gives the same.
        "6304CE40",
    );
    expect(qr.slice(-8, -4)).toBe("6304");
    expect(qr.slice(-4)).toMatch(/^[0-9A-F]{4}$/);
    expect(parseLookupQr(qr)).toMatchObject({ khhdon: "C26MAB", shdon: "123", total: "130400", crc: "ok" });
  });

  it("detects a changed payload through its CRC", () => {
    const qr = lookupQr(input).replace("0606130400", "0606930400");
    expect(parseLookupQr(qr).crc).toBe("bad");
  });

  it("has the [U] variants as options", () => {
    const branch = { ...input, sellerTaxCode: "0102721191-001" };
    expect(parseLookupQr(lookupQr(branch)).sellerTaxCode).toBe("0102721191-001");
    expect(parseLookupQr(lookupQr({ ...branch, hyphenBranch: false })).sellerTaxCode).toBe("0102721191001");
    const plain = lookupQr({ ...input, crc: false, initiation: "12" });
    expect(plain.startsWith("000201010212")).toBe(true);
    expect(parseLookupQr(plain).crc).toBe("absent");
  });

  it("refuses a malformed date", () => {
    expect(() => lookupQr({ ...input, nlap: "20/11/2026" })).toThrow(RangeError);
  });
});
