import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  checkArithmetic,
  checkRender,
  type InvoiceDraft,
  InvoiceInvalidError,
  type RenderContext,
  readInvoiceFacts,
  renderDlhdon,
} from "../../src/invoice/index.js";
import { buildCase, CASES, FIXTURES } from "./fixtures.js";

const HAS_XMLLINT = spawnSync("xmllint", ["--version"]).status === 0;

/** One fixture case built the way src/record.ts builds an invoice (register time and id in TTKhac). */
const build = (name: string) => buildCase(name);

function c14n(file: string): Buffer {
  const r = spawnSync("xmllint", ["--c14n", file]);
  if (r.status !== 0) throw new Error(r.stderr.toString());
  return r.stdout;
}

describe.each(CASES)("golden invoice %s", (name) => {
  const dir = join(FIXTURES, name);

  it("renders its golden DLHDon and HDon", async () => {
    const { dlhdon, hdon } = build(name);
    await expect(dlhdon).toMatchFileSnapshot(join(dir, "dlhdon.xml"));
    await expect(hdon).toMatchFileSnapshot(join(dir, "hdon.xml"));
  });

  it.skipIf(!HAS_XMLLINT)("is a C14N fixed point (xmllint --c14n | cmp)", () => {
    for (const f of ["dlhdon.xml", "hdon.xml"]) {
      expect(c14n(join(dir, f)).equals(readFileSync(join(dir, f)))).toBe(true);
    }
  });

  it("reads back with consistent arithmetic", () => {
    const { draft, hdon, id } = build(name);
    const read = readInvoiceFacts(hdon);
    if (!read.ok) throw new Error(JSON.stringify(read.problems));
    expect(read.facts.id).toBe(id);
    expect(read.facts.TgTTTBSo).toBe(String(draft.TgTTTBSo));
    expect(checkArithmetic(read.facts)).toEqual([]);
  });

  it("is deterministic", () => {
    expect(build(name).hdon).toBe(build(name).hdon);
  });
});

describe("renderDlhdon", () => {
  const sample = build("cafe-8-10");

  it("follows the spec sample's numbers and element order", () => {
    const spec = readFileSync(
      fileURLToPath(new URL("../fixtures/invoices/spec-sample-mtt-invoice-gtgt.xml", import.meta.url)),
      "utf8",
    );
    const theirs = readInvoiceFacts(spec);
    const ours = readInvoiceFacts(sample.hdon);
    if (!theirs.ok || !ours.ok) throw new Error("unreadable");
    for (const k of ["TgTCThue", "TgTThue", "TgTTTBSo", "TgTTTBChu", "KHHDon", "SHDon", "NLap"] as const) {
      expect(ours.facts[k]).toBe(theirs.facts[k]);
    }
    expect(ours.facts.rates).toEqual(theirs.facts.rates);
    expect(ours.facts.lines.map(({ TThue, ...l }) => l)).toEqual(theirs.facts.lines);
    expect(sample.dlhdon).toMatch(/^<DLHDon Id="DLHDon-1C26MAB-123"><TTChung><PBan>2\.1\.0<\/PBan><THDon>/);
    expect(sample.dlhdon).toContain(
      "<NLap>2026-11-20</NLap><HDCTTChinh>0</HDCTTChinh><DVTTe>VND</DVTTe><HTTToan>TM</HTTToan><MSTTCGP>0100000009</MSTTCGP></TTChung>",
    );
  });

  it("puts the 2.1 facts into TTChung/TTKhac for the 2.0.1 profile", () => {
    const { dlhdon } = build("cafe-2.0.1");
    expect(dlhdon).toContain("<NLap>2026-11-20</NLap><TTKhac><TTin><TTruong>HDCTTChinh</TTruong>");
    expect(dlhdon).not.toContain("<DVTTe>");
    // DCTDTu is not an NBan element of the QĐ 1510 profile: it goes to NBan/TTKhac.
    expect(dlhdon).toContain("<TTKhac><TTin><TTruong>DCTDTu</TTruong><KDLieu>string</KDLieu>");
    expect(dlhdon).toContain("<NMua><HVTNMHang>Bán cho người tiêu dùng</HVTNMHang></NMua>");
  });

  it("writes the anonymous buyer per the configured mode", () => {
    expect(build("anonymous-omit").dlhdon).not.toContain("<NMua>");
    expect(build("anonymous-empty").dlhdon).toContain("</NBan><NMua></NMua><DSHHDVu>");
    expect(build("anonymous-name").dlhdon).toContain("<NMua><Ten>Bán cho người tiêu dùng</Ten></NMua>");
  });

  it("writes no TSuat and no per-rate totals on a sales invoice", () => {
    const { dlhdon } = build("household-sales");
    expect(dlhdon).not.toContain("<TSuat>");
    expect(dlhdon).not.toContain("THTTLTSuat");
    expect(dlhdon).not.toContain("HDCTTChinh");
    expect(dlhdon).toContain("<THDon>Hóa đơn bán hàng</THDon>");
    expect(dlhdon).toContain("<TTruong>NQ204_GTTGT</TTruong>");
  });

  it("writes TTHDLQuan on a replacement", () => {
    expect(build("replacement").dlhdon).toContain(
      "<MSTTCGP>0100000009</MSTTCGP><TTHDLQuan><TCHDon>1</TCHDon><LHDCLQuan>1</LHDCLQuan><KHMSHDCLQuan>1</KHMSHDCLQuan><KHHDCLQuan>C26MAB</KHHDCLQuan><SHDCLQuan>123</SHDCLQuan><NLHDCLQuan>2026-11-20</NLHDCLQuan><GChu>",
    );
  });

  it("refuses every length-limit violation at once, with clear problems", () => {
    const long = (n: number): string => "Ắ".repeat(n);
    const draft: InvoiceDraft = {
      ...sample.draft,
      lines: [{ ...(sample.draft.lines[0] as InvoiceDraft["lines"][number]), THHDVu: long(501), DVTinh: long(51) }],
      TgTTTBChu: long(256),
    };
    const ctx: RenderContext = {
      ...sample.ctx,
      seller: { ...sample.ctx.seller, name: long(401), phone: "0".repeat(21) },
      pban: "2.1.0-x",
    };
    const problems = checkRender(draft, ctx);
    expect(problems.map((p) => `${p.code} ${p.path}`)).toEqual([
      "FIELD_TOO_LONG TTChung/PBan",
      "FIELD_TOO_LONG NBan/Ten",
      "FIELD_TOO_LONG NBan/SDThoai",
      "FIELD_TOO_LONG DSHHDVu/HHDVu[1]/THHDVu",
      "FIELD_TOO_LONG DSHHDVu/HHDVu[1]/DVTinh",
      "FIELD_TOO_LONG TToan/TgTTTBChu",
    ]);
    expect(problems[1]?.message).toBe("Ten dài 401 ký tự, tối đa 400 / Ten has 401 characters, at most 400");
    let thrown: unknown;
    try {
      renderDlhdon(draft, ctx);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(InvoiceInvalidError);
    expect((thrown as InvoiceInvalidError).code).toBe("INVOICE_INVALID");
    expect((thrown as InvoiceInvalidError).problems).toEqual(problems);
  });

  it("refuses configuration text that is not NFC-clean", () => {
    const nfd = "CÔNG TY".normalize("NFD");
    const problems = checkRender(sample.draft, { ...sample.ctx, seller: { ...sample.ctx.seller, name: nfd } });
    expect(problems.map((p) => `${p.code} ${p.path}`)).toEqual(["TEXT_NOT_CLEAN NBan/name"]);
  });

  it("refuses bad numbering, dates, ids and extra fields", () => {
    const problems = checkRender(sample.draft, {
      ...sample.ctx,
      khmshdon: "2",
      khhdon: "C25MAB",
      shdon: 0,
      id: "1bad id",
      providerTaxCode: "123",
      extra: [
        { name: "ThoiDiemLap", type: "dateTime", value: "2026-11-20 09:41" },
        { name: "SoLuong", type: "numeric", value: "abc" },
      ],
    });
    expect(problems.map((p) => p.code)).toEqual([
      "FORM_MISMATCH",
      "NUMBER_INVALID",
      "SYMBOL_YEAR_MISMATCH",
      "ID_INVALID",
      "TAX_CODE_INVALID",
      "EXTRA_INVALID",
      "EXTRA_INVALID",
    ]);
  });
});
