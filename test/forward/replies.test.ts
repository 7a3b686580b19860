import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  concludeBatch,
  type InvoiceKey,
  mapErrorsToInvoices,
  type ParsedReply,
  parseReply,
} from "../../src/forward/replies.js";

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

/** The real 999 quoted in spec §7.3 (2022). */
const REAL_999 =
  "<TDiep><TTChung><PBan>2.0.0</PBan><MNGui>TCT</MNGui><MNNhan>V0401486901</MNNhan><MLTDiep>999</MLTDiep>" +
  "<MTDiep>TCT9CCBD05C4DAF43E787B29CF15C055F7B</MTDiep><MTDTChieu>V040148690141B924C263C34C13B5EF49E1DDB10CA5</MTDTChieu></TTChung>" +
  "<DLieu><TBao><MTDiep>V040148690141B924C263C34C13B5EF49E1DDB10CA5</MTDiep><MNGui>V0401486901</MNGui>" +
  "<NNhan>2022-01-12T16:24:22</NNhan><TTTNhan>0</TTTNhan></TBao></DLieu></TDiep>";

const batch: InvoiceKey[] = [
  { invoiceId: 11, khmshdon: "1", khhdon: "C26MAB", shdon: 123, position: 1 },
  { invoiceId: 12, khmshdon: "1", khhdon: "C26MAB", shdon: 124, position: 2 },
  { invoiceId: 13, khmshdon: "1", khhdon: "C26MAB", shdon: 125, position: 3 },
];

function ok(xml: string | Buffer): ParsedReply {
  const r = parseReply(xml);
  if (!r.ok) throw new Error(r.problem);
  return r.reply;
}

describe("parseReply", () => {
  it("reads the real 999 receipt of spec §7.3, tax codes as strings", () => {
    const r = ok(REAL_999);
    expect(r).toMatchObject({
      mltdiep: "999",
      mtdiep: "TCT9CCBD05C4DAF43E787B29CF15C055F7B",
      mtdtchieu: "V040148690141B924C263C34C13B5EF49E1DDB10CA5",
      received: true,
      tttnhan: "0",
      errors: [],
    });
  });

  it("reads the 204 sample (LTBao 7) with its LHDMTTien/DSLDo/LDo error", () => {
    const r = ok(fixture("tdiep-204-mtt-result.xml"));
    expect(r.mltdiep).toBe("204");
    if (r.mltdiep !== "204") return;
    expect(r.ltbao).toBe(7);
    expect(r.mtdtchieu).toBe("01000000993F2A9C0E5B7D4A1C8E6F0B2D4C6A8E0F");
    expect(r.notice).toBe("TB-EXAMPLE-0001");
    expect(r.errors).toEqual([
      {
        code: "XXXX",
        text: "(ví dụ) Tổng tiền thanh toán không khớp tổng tiền chưa thuế cộng tiền thuế",
        hint: "(ví dụ) Lập hóa đơn thay thế và gửi lại",
        stt: 1,
        note: undefined,
      },
    ]);
  });

  it("reads a 999 with TTTNhan=1 and its DSLDo/LDo(MLoi, MTa)", () => {
    const xml = REAL_999.replace(
      "<TTTNhan>0</TTTNhan>",
      "<TTTNhan>1</TTTNhan><DSLDo><LDo><MLoi>E104</MLoi><MTa>SLuong sai &amp; thiếu</MTa></LDo></DSLDo>",
    );
    expect(ok(xml)).toMatchObject({
      mltdiep: "999",
      received: false,
      errors: [{ code: "E104", text: "SLuong sai & thiếu" }],
    });
  });

  it("reads -1 and -2 replies, finding LDo wherever it is", () => {
    for (const code of ["-1", "-2"] as const) {
      const xml = REAL_999.replace("<MLTDiep>999</MLTDiep>", `<MLTDiep>${code}</MLTDiep>`).replace(
        "<TTTNhan>0</TTTNhan>",
        "<TTTNhan>1</TTTNhan><DSLDo><LDo><MLoi>E1</MLoi><MTa>hỏng</MTa></LDo></DSLDo>",
      );
      expect(ok(xml)).toMatchObject({ mltdiep: code, errors: [{ code: "E1", text: "hỏng" }] });
    }
  });

  it("decodes character references (&#272; is Đ)", () => {
    const xml = REAL_999.replace(
      "<TTTNhan>0</TTTNhan>",
      "<TTTNhan>1</TTTNhan><DSLDo><LDo><MLoi>1</MLoi><MTa>&#272;&#x1EA1;i</MTa></LDo></DSLDo>",
    );
    expect(ok(xml).errors[0]?.text).toBe("Đại");
  });

  it("refuses a DOCTYPE before parsing (XXE and entity expansion never reach the parser)", () => {
    const xxe =
      '<?xml version="1.0"?><!DOCTYPE TDiep [<!ENTITY x SYSTEM "file:///etc/passwd">]>' +
      REAL_999.replace("<MTa>", "<MTa>&x;");
    const r = parseReply(xxe);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(/DOCTYPE/);
    const laughs = `<!doctype TDiep [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>${REAL_999}`;
    expect(parseReply(laughs).ok).toBe(false);
  });

  it("refuses malformed XML, a non-TDiep root and anything over the size limit", () => {
    expect(parseReply("<TDiep><TTChung></TDiep>").ok).toBe(false);
    expect(parseReply("<Other/>").ok).toBe(false);
    expect(parseReply(REAL_999, { maxBytes: 100 })).toMatchObject({
      ok: false,
      problem: expect.stringMatching(/quá lớn/),
    });
  });
});

describe("mapErrorsToInvoices", () => {
  it("maps by the KHMSHDon;KHHDon;SHDon; prefix first, then by STT, else to the batch", () => {
    const { byInvoice, batchLevel } = mapErrorsToInvoices(
      [
        { code: "H1", text: "1;C26MAB;124; tổng tiền sai", stt: 1 },
        { code: "H2", text: "lỗi không rõ hóa đơn", stt: 3 },
        { code: "H3", text: "lỗi chung" },
        { code: "H4", text: "1;C26MAB;999; hóa đơn không có trong lô", stt: 7 },
      ],
      batch,
    );
    expect([...byInvoice]).toEqual([
      [12, "H1: 1;C26MAB;124; tổng tiền sai"],
      [13, "H2: lỗi không rõ hóa đơn"],
    ]);
    expect(batchLevel).toEqual(["H3: lỗi chung", "H4: 1;C26MAB;999; hóa đơn không có trong lô"]);
  });

  it("joins several errors of one invoice and keeps the fix hint", () => {
    const { byInvoice } = mapErrorsToInvoices(
      [
        { code: "A", text: "1;C26MAB;00123; một", hint: "sửa đi" },
        { code: "B", text: "1;C26MAB;123;hai" },
      ],
      batch,
    );
    expect(byInvoice.get(11)).toBe("A: 1;C26MAB;00123; một (Hướng dẫn xử lý: sửa đi); B: 1;C26MAB;123;hai");
  });
});

describe("concludeBatch", () => {
  const r999 = (received: boolean): ParsedReply => ({
    mltdiep: "999",
    mtdiep: "TCT1",
    mtdtchieu: "X",
    received,
    tttnhan: received ? "0" : "1",
    errors: received ? [] : [{ code: "E1", text: "sai" }],
  });
  const r204 = (ltbao: number, errors: ParsedReply["errors"] = []): ParsedReply => ({
    mltdiep: "204",
    mtdiep: "TCT2",
    mtdtchieu: "X",
    ltbao,
    errors,
  });

  it("waits without replies, is received after a 999 TTTNhan=0", () => {
    expect(concludeBatch([], batch)).toEqual({ kind: "waiting" });
    expect(concludeBatch([r999(true)], batch)).toEqual({ kind: "received" });
  });

  it("fails the batch on 999 TTTNhan=1, -1 and -2, whatever else came", () => {
    expect(concludeBatch([r999(false)], batch)).toMatchObject({
      kind: "failed",
      reason: expect.stringMatching(/E1: sai/),
    });
    const minus2: ParsedReply = { mltdiep: "-2", mtdiep: "TCT3", mtdtchieu: "X", errors: [] };
    expect(concludeBatch([r999(true), r204(2), minus2], batch)).toMatchObject({ kind: "failed" });
  });

  it("accepts all on LTBao 2, in any order", () => {
    expect(concludeBatch([r204(2), r999(true)], batch)).toEqual({ kind: "settled", ltbao: 2, rejected: new Map() });
  });

  it("on LTBao 7 rejects only the named invoices", () => {
    const v = concludeBatch([r999(true), r204(7, [{ code: "H105", text: "1;C26MAB;125; tổng sai" }])], batch);
    expect(v).toEqual({ kind: "settled", ltbao: 7, rejected: new Map([[13, "H105: 1;C26MAB;125; tổng sai"]]) });
  });

  it("on LTBao 7 with an error naming no invoice, or no errors at all, rejects the whole batch", () => {
    const v = concludeBatch([r204(7, [{ code: "X", text: "gói sai" }])], batch);
    expect(v.kind === "settled" && [...v.rejected.keys()]).toEqual([11, 12, 13]);
    const empty = concludeBatch([r204(9)], batch);
    expect(empty.kind === "settled" && empty.rejected.size).toBe(3);
  });
});
