import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  assembleHdon,
  checkArithmetic,
  type InvoiceFacts,
  InvoiceInvalidError,
  readInvoiceFacts,
} from "../../src/invoice/index.js";

const fixture = (name: string, file: string): string =>
  readFileSync(fileURLToPath(new URL(`../fixtures/invoices/${name}/${file}`, import.meta.url)), "utf8");

function facts(xml: string): InvoiceFacts {
  const r = readInvoiceFacts(xml);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.facts;
}

const codes = (xml: string): string[] => checkArithmetic(facts(xml)).map((p) => p.code);

describe("assembleHdon", () => {
  const dlhdon = '<DLHDon Id="DLHDon-1C26MAB-1"><TTChung></TTChung></DLHDon>';

  it("puts DLHDon, DLQRCode, MCCQT and an empty NBan in the real order", () => {
    expect(assembleHdon({ dlhdon, qr: "000201", mccqt: "M1-26-A1B2C-00000000001" })).toBe(
      `<HDon>${dlhdon}<DLQRCode>000201</DLQRCode><MCCQT>M1-26-A1B2C-00000000001</MCCQT><DSCKS><NBan></NBan></DSCKS></HDon>`,
    );
  });

  it("carries the signature, or leaves DSCKS and an empty QR out when asked", () => {
    const sig = '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"></Signature>';
    expect(assembleHdon({ dlhdon, qr: "", mccqt: "M1-26-A1B2C-00000000001", signature: sig })).toBe(
      `<HDon>${dlhdon}<MCCQT>M1-26-A1B2C-00000000001</MCCQT><DSCKS><NBan>${sig}</NBan></DSCKS></HDon>`,
    );
    expect(assembleHdon({ dlhdon, qr: "", mccqt: "M1-26-A1B2C-00000000001", dscks: false })).toBe(
      `<HDon>${dlhdon}<MCCQT>M1-26-A1B2C-00000000001</MCCQT></HDon>`,
    );
  });

  it("refuses a malformed MCCQT or an over-long QR", () => {
    expect(() => assembleHdon({ dlhdon, qr: "x".repeat(513), mccqt: "M1-26-A1B2C-123" })).toThrow(InvoiceInvalidError);
    try {
      assembleHdon({ dlhdon, qr: "x".repeat(513), mccqt: "M1-26-A1B2C-123" });
    } catch (e) {
      expect((e as InvoiceInvalidError).problems.map((p) => p.code)).toEqual(["MCCQT_INVALID", "FIELD_TOO_LONG"]);
    }
  });
});

describe("readInvoiceFacts", () => {
  it("reads numbering, totals, rate groups and lines as strings", () => {
    const f = facts(fixture("grocery-inclusive", "hdon.xml"));
    expect(f).toMatchObject({
      id: "DLHDon-1C26MQ1-88",
      PBan: "2.1.0",
      KHMSHDon: "1",
      KHHDon: "C26MQ1",
      SHDon: "88",
      NLap: "2026-11-21",
      sellerTaxCode: "0100000005",
      HTTToan: "TM/CK",
      MCCQT: "M1-26-A1B2C-00000004711",
      TgTCThue: "165259",
      TgTThue: "13341",
      TTCKTMai: "5463",
      TgTTTBSo: "178600",
    });
    expect(f.rates).toEqual([
      { TSuat: "8%", ThTien: "91759", TThue: "7341" },
      { TSuat: "KKKNT", ThTien: "13500", TThue: "0" },
      { TSuat: "10%", ThTien: "60000", TThue: "6000" },
    ]);
    expect(f.lines[1]).toEqual({
      STT: "2",
      TChat: "1",
      MHHDVu: "8934673573175",
      THHDVu: "Sữa tươi Vinamilk 1L",
      DVTinh: "Hộp",
      SLuong: "2",
      DGia: "30092.5",
      STCKhau: "4630",
      ThTien: "55555",
      TSuat: "8%",
      TThue: "4445",
    });
    expect(f.DLQRCode?.startsWith("000201")).toBe(true);
  });

  it("reads the spec's pretty-printed sample, comments and all, and finds its arithmetic right", () => {
    const sample = readFileSync(
      fileURLToPath(new URL("../fixtures/invoices/spec-sample-mtt-invoice-gtgt.xml", import.meta.url)),
      "utf8",
    );
    const f = facts(sample);
    expect([f.KHHDon, f.SHDon, f.MCCQT, f.TgTTTBSo]).toEqual(["C26MAB", "123", "M1-26-A1B2C-00000000123", "130400"]);
    expect(checkArithmetic(f)).toEqual([]);
  });

  it("refuses DOCTYPEs, malformed XML and other documents", () => {
    const bomb =
      '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]><HDon>&b;</HDon>';
    const code = (xml: string): string | undefined => {
      const r = readInvoiceFacts(xml);
      return r.ok ? undefined : r.problems[0]?.code;
    };
    expect(code(bomb)).toBe("XML_DOCTYPE");
    expect(code("<HDon><DLHDon></HDon>")).toBe("XML_MALFORMED");
    expect(code("<TDiep></TDiep>")).toBe("XML_NOT_INVOICE");
    expect(code('<DLHDon Id="x"><TTChung></TTChung></DLHDon>')).toBe("FIELD_MISSING");
  });
});

describe("checkArithmetic", () => {
  const good = fixture("grocery-inclusive", "hdon.xml");

  it("passes every golden invoice", () => {
    for (const name of ["cafe-8-10", "household-sales", "pharmacy-kct", "replacement"]) {
      expect(codes(fixture(name, "hdon.xml"))).toEqual([]);
    }
  });

  it("finds a changed total, and that the words no longer spell it", () => {
    expect(codes(good.replace("<TgTTTBSo>178600<", "<TgTTTBSo>178700<"))).toEqual(["TOTAL_MISMATCH", "WORDS_MISMATCH"]);
  });

  it("finds a line that no longer adds up to its rate group", () => {
    const xml = good.replace("<ThTien>41667</ThTien>", "<ThTien>41669</ThTien>");
    expect(codes(xml)).toEqual(["LINE_AMOUNT_MISMATCH", "RATE_SUM_MISMATCH"]);
  });

  it("finds a VAT that is not the rate's, and line VATs that do not add up", () => {
    const xml = good
      .replace("<TThue>6000</TThue>", "<TThue>6100</TThue>")
      .replace("<TgTThue>13341</TgTThue>", "<TgTThue>13441</TgTThue>")
      .replace("<TgTTTBSo>178600</TgTTTBSo>", "<TgTTTBSo>178700</TgTTTBSo>")
      .replace(/<TgTTTBChu>[^<]*</, "<TgTTTBChu>Một trăm bảy mươi tám nghìn bảy trăm đồng<");
    expect(codes(xml)).toEqual(["LINE_VAT_MISMATCH", "RATE_VAT_MISMATCH"]);
  });

  it("finds wrong words, an unreadable amount and a wrong trade-discount total", () => {
    expect(codes(good.replace(/<TgTTTBChu>[^<]*</, "<TgTTTBChu>Một trăm đồng<"))).toEqual(["WORDS_MISMATCH"]);
    expect(codes(good.replace(/<TgTTTBChu>[^<]*</, "<TgTTTBChu>Một con mèo<"))).toEqual(["WORDS_UNREADABLE"]);
    expect(codes(good.replace("<TTCKTMai>5463<", "<TTCKTMai>5400<"))).toEqual(["DISCOUNT_SUM_MISMATCH"]);
    expect(codes(good.replace("<ThTien>60000</ThTien><TSuat>", "<ThTien>6e4</ThTien><TSuat>"))).toContain(
      "NUMBER_INVALID",
    );
  });

  it("checks a sales invoice against its lines", () => {
    const sales = fixture("household-sales", "hdon.xml");
    expect(codes(sales.replace("<TgTTTBSo>109340<", "<TgTTTBSo>119340<"))).toEqual([
      "TOTAL_MISMATCH",
      "WORDS_MISMATCH",
    ]);
  });
});
