/**
 * `hoadon invoice verify` (src/commands/invoice.ts `checkInvoice`) on broken copies of the golden invoices. Each copy
 * is re-signed after the change, so the signature holds and the check under test is the one that must speak: the
 * first problem names what is wrong and where.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { checkInvoice } from "../../src/commands/invoice.js";
import { assembleHdon, checkStructure, readXmlTree } from "../../src/invoice/index.js";
import { createSigner, createTestIdentity, loadPkcs12, type XmlSigner } from "../../src/sign/index.js";
import { tempDir } from "../sign/helpers.js";
import { buildCase, CASES } from "./fixtures.js";

const identity = createTestIdentity({ commonName: "Kiểm tra", taxCode: "0100000001" });
let signer: XmlSigner;

beforeAll(() => {
  signer = createSigner(loadPkcs12(identity.pfx, identity.password));
});

/** A golden case with `change` applied to its DLHDon (and `hdonChange` to the HDon), signed again. */
function broken(name: string, change: (dlhdon: string) => string, hdonChange: (hdon: string) => string = (h) => h) {
  const c = buildCase(name);
  const dlhdon = change(c.dlhdon);
  const signature = signer.signEnveloped({
    refId: c.id,
    canonical: dlhdon,
    signatureId: `${c.id}-NBan`,
    signingTime: `${c.ctx.nlap}T12:00:00`,
  });
  const qr = /<DLQRCode>([^<]*)</.exec(c.hdon)?.[1] ?? "";
  const mccqt = /<MCCQT>([^<]*)</.exec(c.hdon)?.[1] ?? "";
  const out = hdonChange(assembleHdon({ dlhdon, qr, mccqt, signature }));
  expect(out, "the change must change something").not.toBe(
    assembleHdon({
      dlhdon: c.dlhdon,
      qr,
      mccqt,
      signature: signer.signEnveloped({
        refId: c.id,
        canonical: c.dlhdon,
        signatureId: `${c.id}-NBan`,
        signingTime: `${c.ctx.nlap}T12:00:00`,
      }),
    }),
  );
  return out;
}

const first = (xml: string): { code?: string; path?: string; message?: string } => {
  const check = checkInvoice(xml, "x.xml", identity.certPem);
  return check.problems[0] ?? {};
};

describe("hoadon invoice verify: structure", () => {
  it("finds nothing wrong in any golden, in either profile or form", () => {
    for (const name of CASES) expect(checkStructure(readXmlTree(buildCase(name).hdon)), name).toEqual([]);
  });

  it.each([
    [
      "an element out of order (DVTTe after HTTToan)",
      "cafe-8-10",
      (x: string) => x.replace("<DVTTe>VND</DVTTe><HTTToan>TM</HTTToan>", "<HTTToan>TM</HTTToan><DVTTe>VND</DVTTe>"),
      "ELEMENT_ORDER",
      "HDon/DLHDon/TTChung/DVTTe",
      "DVTTe phải đứng trước HTTToan trong TTChung",
    ],
    [
      "a required element missing in the 2.1 profile (MSTTCGP)",
      "cafe-8-10",
      (x: string) => x.replace("<MSTTCGP>0100000009</MSTTCGP>", ""),
      "ELEMENT_MISSING",
      "HDon/DLHDon/TTChung/MSTTCGP",
      "Thiếu MSTTCGP trong TTChung",
    ],
    [
      "a 2.1 element in the 2.0.1 profile",
      "cafe-2.0.1",
      (x: string) => x.replace("</NLap>", "</NLap><DVTTe>VND</DVTTe>"),
      "ELEMENT_UNEXPECTED",
      "HDon/DLHDon/TTChung/DVTTe",
      "DVTTe không thuộc TTChung (hồ sơ 2.0.1)",
    ],
    [
      "a rate on a sales invoice",
      "household-sales",
      (x: string) => x.replace("</ThTien>", "</ThTien><TSuat>8%</TSuat>"),
      "ELEMENT_UNEXPECTED",
      "HDon/DLHDon/NDHDon/DSHHDVu/HHDVu/TSuat",
      "TSuat không được có trên hóa đơn bán hàng",
    ],
    [
      "an unknown seller element",
      "pharmacy-kct",
      (x: string) => x.replace("</DChi>", "</DChi><GhiChu>x</GhiChu>"),
      "ELEMENT_UNEXPECTED",
      "HDon/DLHDon/NDHDon/NBan/GhiChu",
      "GhiChu không thuộc NBan",
    ],
    [
      "a repeated element",
      "grocery-inclusive",
      (x: string) => x.replace(/<NLap>[^<]*<\/NLap>/, (m) => m + m),
      "ELEMENT_REPEATED",
      "HDon/DLHDon/TTChung/NLap",
      "NLap xuất hiện hai lần",
    ],
    [
      "an adjustment instead of a replacement",
      "replacement",
      (x: string) => x.replace("<TCHDon>1</TCHDon>", "<TCHDon>2</TCHDon>"),
      "CORRECTION_NOT_REPLACEMENT",
      "HDon/DLHDon/TTChung/TTHDLQuan/TCHDon",
      "TCHDon 2: hóa đơn khởi tạo từ máy tính tiền chỉ được thay thế",
    ],
    [
      "a line without its name",
      "cafe-inclusive",
      (x: string) => x.replace("<THHDVu>Bạc xỉu</THHDVu>", ""),
      "ELEMENT_MISSING",
      "HDon/DLHDon/NDHDon/DSHHDVu/HHDVu/THHDVu",
      "Thiếu THHDVu trong HHDVu",
    ],
  ])("names %s", (_, name, change, code, path, message) => {
    const p = first(broken(name, change));
    expect(p).toMatchObject({ code, path });
    expect(p.message).toContain(message);
  });
});

describe("hoadon invoice verify: codes and arithmetic", () => {
  it.each([
    [
      "a malformed MCCQT",
      (x: string) => x,
      (h: string) => h.replace(/<MCCQT>[^<]*/, "<MCCQT>M1-26-A1B2C-123"),
      "MCCQT_FORMAT",
    ],
    [
      "an MCCQT of another year",
      (x: string) => x,
      (h: string) => h.replace("<MCCQT>M1-26", "<MCCQT>M1-25"),
      "MCCQT_YEAR",
    ],
    ["a malformed symbol", (x: string) => x.replace("<KHHDon>C26MAB", "<KHHDon>C26TAB"), undefined, "KHHDON_FORMAT"],
    ["an SHDon with 9 digits", (x: string) => x.replace("<SHDon>123<", "<SHDon>123456789<"), undefined, "SHDON_FORMAT"],
    [
      "a total the QR does not carry",
      (x: string) => x.replace("<TgTTTBSo>130400", "<TgTTTBSo>130401"),
      undefined,
      "QR_MISMATCH",
    ],
    [
      "a line that does not add up",
      (x: string) => x.replace("<ThTien>50000</ThTien>", "<ThTien>50100</ThTien>"),
      undefined,
      "LINE_AMOUNT_MISMATCH",
    ],
    [
      "words that spell another amount",
      (x: string) => x.replace("Một trăm ba mươi nghìn bốn trăm đồng", "Một trăm ba mươi nghìn năm trăm đồng"),
      undefined,
      "WORDS_MISMATCH",
    ],
  ])("names %s", (_, change, hdonChange, code) => {
    const xml = broken("cafe-8-10", change, hdonChange);
    expect(first(xml).code).toBe(code);
  });

  it("names a missing or changed signature before anything else", () => {
    expect(first(buildCase("cafe-8-10").hdon)).toMatchObject({ code: "SIGNATURE_MISSING" });
    const signed = broken("cafe-8-10", (x) => x.replace("<MSTTCGP>0100000009</MSTTCGP>", ""));
    expect(first(signed.replace("<SHDon>123<", "<SHDon>124<"))).toMatchObject({ code: "SIGNATURE_INVALID" });
  });
});

describe("hoadon invoice verify: the command", () => {
  it("exits 65 with the first problem in words, and --json lists them all", async () => {
    const { runCli } = await import("../../src/cli.js");
    const dir = tempDir("hoadon-verify-");
    const file = join(dir, "bad.xml");
    writeFileSync(
      file,
      broken("cafe-8-10", (x) =>
        x
          .replace("<DVTTe>VND</DVTTe><HTTToan>TM</HTTToan>", "<HTTToan>TM</HTTToan><DVTTe>VND</DVTTe>")
          .replace("<ThTien>50000</ThTien>", "<ThTien>50100</ThTien>"),
      ),
    );
    const cert = join(dir, "cert.pem");
    writeFileSync(cert, identity.certPem);
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    expect(await runCli(["invoice", "verify", file, "--trusted-cert", cert], io)).toBe(65);
    expect(err.join("\n")).toContain("HDon/DLHDon/TTChung/DVTTe: DVTTe phải đứng trước HTTToan trong TTChung");
    expect(await runCli(["invoice", "verify", file, "--trusted-cert", cert, "--json"], io)).toBe(65);
    const report = JSON.parse(out.join("\n")) as { ok: boolean; problems: { code: string }[] };
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toEqual(
      expect.arrayContaining(["ELEMENT_ORDER", "LINE_AMOUNT_MISMATCH", "RATE_SUM_MISMATCH"]),
    );
  });
});

describe("hoadon invoice build", () => {
  it("prints a signed invoice that hoadon invoice verify accepts, and refuses a refund it cannot resolve", async () => {
    const { runCli } = await import("../../src/cli.js");
    const { writeDemoConfig } = await import("../support/demo-config.js");
    const dir = tempDir("hoadon-build-");
    const { file, certPem } = writeDemoConfig(dir);
    const sale = {
      receiptId: "B-1",
      issuedAt: new Date().toISOString(),
      lines: [
        { name: "Cà phê sữa đá", quantity: "2", unitPrice: 29000, amount: 58000 },
        { name: "Bia lon", quantity: "1", unitPrice: 22000, amount: 22000, group: "beer" },
      ],
      total: 80000,
    };
    const receipt = join(dir, "sale.json");
    writeFileSync(receipt, JSON.stringify(sale));
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (l: string) => out.push(l), err: (l: string) => err.push(l) };
    expect(await runCli(["invoice", "build", "--config", file, "--receipt", receipt], io), err.join("\n")).toBe(0);
    const xml = out.join("\n");
    expect(xml).toMatch(/^<HDon><DLHDon Id="DLHDon-1C\d\dMAB-1">/);
    expect(checkInvoice(xml, "built.xml", certPem).problems).toEqual([]);

    const refund = join(dir, "refund.json");
    writeFileSync(
      refund,
      JSON.stringify({
        ...sale,
        receiptId: "B-2",
        kind: "refund",
        replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "1" },
      }),
    );
    err.length = 0;
    expect(await runCli(["invoice", "build", "--config", file, "--receipt", refund], io)).toBe(65);
    expect(err.join("\n")).toContain("Phiếu trả hàng cần tra hóa đơn gốc trong kho dữ liệu");
  });
});
