import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { verifyStore } from "../src/audit/verify-store.js";
import { driverCatalogue } from "../src/catalogue.js";
import { checkInvoice } from "../src/commands/invoice.js";
import { loadConfig } from "../src/config/load.js";
import { createRecorder, type RecordInput } from "../src/record.js";
import { manualClock } from "../src/shared/clock.js";
import { silentLogger } from "../src/shared/log.js";
import { createSigner, createTestIdentity, loadPkcs12, verifySignatures } from "../src/sign/index.js";
import { openStore } from "../src/store/db.js";
import { ingestStore } from "../src/store/ingest.js";
import { packSignedXml, readSignedXml, type StoredSignedXml } from "../src/store/signed-xml.js";
import { recorderSettings } from "../src/writer/core.js";
import { writeDemoConfig } from "./support/demo-config.js";
import { tempDir } from "./support/tmp.js";

const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
const receipt = (id: string, over: Record<string, unknown> = {}): Record<string, unknown> => ({
  receiptId: id,
  issuedAt: "2026-11-20T09:41:07+07:00",
  lines: [
    { name: "Cà phê sữa đá", unit: "ly", quantity: "2", unitPrice: 27000, amount: 54000, vatRate: "8%" },
    { name: "Bia lon", unit: "lon", quantity: "2", unitPrice: 22000, amount: 44000, group: "beer" },
  ],
  payments: [{ method: "cash", amount: 98000 }],
  total: 98000,
  ...over,
});

/** The same sale without rates of its own: the config's schedule decides (beer stays at 10%). */
const UNRATED = [
  { name: "Cà phê sữa đá", unit: "ly", quantity: "2", unitPrice: 27000, amount: 54000 },
  { name: "Bia lon", unit: "lon", quantity: "2", unitPrice: 22000, amount: 44000, group: "beer" },
];

function setup(over: { invoice?: Record<string, unknown>; corrections?: boolean } = {}) {
  const dir = tempDir();
  const file = writeDemoConfig(dir).file;
  if (over.invoice) {
    const raw = parse(readFileSync(file, "utf8")) as { invoice: Record<string, unknown> };
    Object.assign(raw.invoice, over.invoice);
    writeFileSync(file, stringify(raw));
  }
  const config = loadConfig(file, driverCatalogue);
  const db = openStore(join(dir, "hoadon.sqlite"));
  const clock = manualClock(Date.parse("2026-11-20T02:41:10Z"));
  const record = createRecorder({
    store: ingestStore(db),
    signer: createSigner(loadPkcs12(identity.pfx, identity.password)),
    settings: recorderSettings(config),
    clock,
    log: silentLogger,
    storePath: join(dir, "hoadon.sqlite"),
    ...(over.corrections === false ? {} : { findIssued: ingestStore(db).findIssuedInvoice }),
  });
  const input = (r: unknown, registerId = "quay-1"): RecordInput => ({
    registerId,
    driverId: "ndjson-v1",
    receipt: r,
    raw: new TextEncoder().encode(JSON.stringify(r)),
    receivedAt: clock.now(),
  });
  const xmlOf = (shdon: number, khhdon = "C26MAB"): string =>
    readSignedXml(
      db
        .prepare("SELECT signed_xml, signed_xml_size FROM invoices WHERE khhdon = ? AND shdon = ?")
        .get(khhdon, shdon) as StoredSignedXml,
    ).toString("utf8");
  const quarantined = (): { code: string; detail: string }[] =>
    db.prepare("SELECT code, detail FROM quarantine ORDER BY id").all() as { code: string; detail: string }[];
  return { db, record, input, clock, xmlOf, quarantined };
}

describe("the write path (record)", () => {
  it("commits receipt, raw bytes, signed invoice and delivery together, numbered from 1", () => {
    const { db, record, input } = setup();
    const out = record(input(receipt("A-1")));
    expect(out).toMatchObject({
      status: "ok",
      invoice: { mccqt: "M1-26-A1B2C-00000000001", khmshdon: "1", khhdon: "C26MAB", shdon: 1 },
    });
    const row = db.prepare("SELECT * FROM invoices").get() as Record<string, unknown>;
    expect(row.nlap).toBe("2026-11-20");
    expect(row.total).toBe(98000);
    const xml = readSignedXml(row as unknown as StoredSignedXml, row.sha256 as string).toString("utf8");
    expect(xml).toContain("<TSuat>10%</TSuat>"); // beer group stays at 10%
    expect(verifySignatures(xml, { trustedCertPem: identity.certPem }).ok).toBe(true);
    expect(db.prepare("SELECT state FROM deliveries").get()).toEqual({ state: "pending" });
    const r = db.prepare("SELECT raw FROM receipts").get() as { raw: Buffer };
    expect(JSON.parse(r.raw.toString("utf8")).receiptId).toBe("A-1");
  });

  it("answers a resent receipt with the invoice made the first time and makes no new one", () => {
    const { db, record, input } = setup();
    const first = record(input(receipt("A-1")));
    const again = record(input(receipt("A-1")));
    expect(again).toEqual({ status: "dup", invoice: (first as { invoice: unknown }).invoice });
    // The same receipt id from another register is another sale.
    expect(record(input(receipt("A-1"), "quay-2"))).toMatchObject({ status: "ok", invoice: { shdon: 2 } });
    expect(db.prepare("SELECT count(*) AS n FROM invoices").get()).toEqual({ n: 2 });
  });

  it.each([
    ["totals that do not add up", { total: 99000 }],
    ["a negative amount", { lines: [{ name: "X", quantity: "1", unitPrice: 1000, amount: -1000, vatRate: "8%" }] }],
    ["an unknown VAT rate", { lines: [{ name: "X", quantity: "1", unitPrice: 1000, amount: 1000, vatRate: "7%" }] }],
    ["no lines", { lines: [] }],
  ])("quarantines %s with the reason and the raw bytes, and uses no number", (_, over) => {
    const { db, record, input } = setup();
    const out = record(input(receipt("B-1", over)));
    expect(out.status).toBe("rejected");
    const q = db.prepare("SELECT code, detail, raw FROM quarantine").get() as {
      code: string;
      detail: string;
      raw: Buffer;
    };
    expect(q.detail).toMatch(/ \/ /); // Vietnamese / English
    expect(JSON.parse(q.raw.toString("utf8")).receiptId).toBe("B-1");
    expect(db.prepare("SELECT count(*) AS n FROM invoices").get()).toEqual({ n: 0 });
    expect(record(input(receipt("B-2")))).toMatchObject({ status: "ok", invoice: { shdon: 1 } });
  });

  it("restarts numbering with the year (local midnight, UTC+7) and keeps the chain verifiable", () => {
    const { db, record, input, clock } = setup();
    clock.set(Date.parse("2026-12-31T16:59:59Z")); // 23:59:59 on 31 Dec in Vietnam
    expect(record(input(receipt("Y-1", { lines: UNRATED })))).toMatchObject({
      invoice: { khhdon: "C26MAB", shdon: 1 },
    });
    clock.set(Date.parse("2026-12-31T17:00:00Z")); // 00:00 on 1 Jan 2027 in Vietnam
    expect(record(input(receipt("Y-2", { lines: UNRATED })))).toMatchObject({
      invoice: { khhdon: "C27MAB", shdon: 1, mccqt: "M1-27-A1B2C-00000000001" },
    });
    expect(verifyStore(db, { trustedCertPem: identity.certPem })).toMatchObject({ ok: true, invoices: 2 });
  });

  it("audit verification names a tampered invoice", () => {
    const { db, record, input } = setup();
    for (let i = 1; i <= 3; i++) record(input(receipt(`T-${i}`)));
    db.exec("DROP TRIGGER invoices_no_update");
    const stored = db.prepare("SELECT signed_xml, signed_xml_size FROM invoices WHERE id = 2").get() as StoredSignedXml;
    const changed = packSignedXml(Buffer.from(readSignedXml(stored).toString("utf8").replace("98000", "9800")));
    db.prepare("UPDATE invoices SET signed_xml = ?, signed_xml_size = ? WHERE id = 2").run(
      changed.signedXml,
      changed.signedXmlSize,
    );
    const check = verifyStore(db);
    expect(check.ok).toBe(false);
    expect(check.problem).toContain("#2");
  });
});

describe("the write path: VAT rates of the invoice date", () => {
  it("invoices at 8% until 23:59:59 on 31 Dec 2026 and at 10% from 00:00 on 1 Jan 2027 (Vietnam time)", () => {
    const { record, input, clock, xmlOf } = setup();
    clock.set(Date.parse("2026-12-31T16:59:59Z"));
    expect(record(input(receipt("M-1", { lines: UNRATED })))).toMatchObject({ status: "ok" });
    clock.set(Date.parse("2026-12-31T17:00:00Z"));
    expect(record(input(receipt("M-2", { lines: UNRATED })))).toMatchObject({ status: "ok" });
    const before = xmlOf(1, "C26MAB");
    expect(before).toContain("<NLap>2026-12-31</NLap>");
    expect(before).toContain(
      "<THTTLTSuat><LTSuat><TSuat>8%</TSuat><ThTien>50000</ThTien><TThue>4000</TThue></LTSuat>" +
        "<LTSuat><TSuat>10%</TSuat><ThTien>40000</ThTien><TThue>4000</TThue></LTSuat></THTTLTSuat>",
    );
    const after = xmlOf(1, "C27MAB");
    expect(after).toContain("<NLap>2027-01-01</NLap>");
    // 54 000 + 44 000 VAT-inclusive, all at 10%: VAT = round(98 000 × 10/110) = 8 909.
    expect(after).toContain(
      "<THTTLTSuat><LTSuat><TSuat>10%</TSuat><ThTien>89091</ThTien><TThue>8909</TThue></LTSuat></THTTLTSuat>",
    );
  });

  it("holds a receipt whose register still sends 8% in 2027, and invoices it when the config extends the reduction", () => {
    const stale = receipt("S-1"); // line 1 carries vatRate 8%
    const held = setup();
    held.clock.set(Date.parse("2027-01-02T03:00:00Z"));
    expect(held.record(held.input(stale))).toMatchObject({ status: "rejected", code: "RATE_NOT_IN_FORCE" });
    expect(held.quarantined()[0]?.detail).toMatch(/^Dòng 1: thuế suất 8% không còn/);

    const extended = setup({
      invoice: {
        rates: [
          { group: "beer", rate: "10%" },
          { rate: "8%", from: "2027-01-01", until: "2027-06-30" },
        ],
      },
    });
    extended.clock.set(Date.parse("2027-01-02T03:00:00Z"));
    expect(extended.record(extended.input(stale))).toMatchObject({ status: "ok", invoice: { khhdon: "C27MAB" } });
    expect(extended.xmlOf(1, "C27MAB")).toContain("<TSuat>8%</TSuat>");

    const trusting = setup({ invoice: { holdRatesNotInForce: false } });
    trusting.clock.set(Date.parse("2027-01-02T03:00:00Z"));
    expect(trusting.record(trusting.input(stale))).toMatchObject({ status: "ok" });
  });
});

describe("the write path: MCCQT ranges for several boxes", () => {
  it("numbers inside this box's range and stops with CONFIG_INVALID when it is used up, committing nothing", () => {
    const { db, record, input } = setup({ invoice: { mccqtRange: { start: 5_000_000_001, end: 5_000_000_002 } } });
    expect(record(input(receipt("R-1")))).toMatchObject({ invoice: { mccqt: "M1-26-A1B2C-05000000001", shdon: 1 } });
    expect(record(input(receipt("R-2")))).toMatchObject({ invoice: { mccqt: "M1-26-A1B2C-05000000002", shdon: 2 } });
    const out = record(input(receipt("R-3")));
    expect(out).toMatchObject({ status: "failed", code: "CONFIG_INVALID" });
    expect((out as { message: string }).message).toMatch(/^Đã dùng hết dải số MCCQT 5000000001–5000000002/);
    expect(db.prepare("SELECT count(*) AS n FROM invoices").get()).toEqual({ n: 2 });
    expect(db.prepare("SELECT count(*) AS n FROM quarantine").get()).toEqual({ n: 0 }); // the register resends
    // SHDon did not move either: the next invoice after a new range keeps the gap-free sequence.
    expect(db.prepare("SELECT value FROM counters WHERE name = 'shdon:1:C26MAB'").get()).toEqual({ value: 2 });
  });

  it("gives two boxes sharing a block disjoint codes", () => {
    const a = setup({ invoice: { mccqtRange: { start: 1, end: 49_999_999_999 } } });
    const b = setup({ invoice: { mccqtRange: { start: 50_000_000_000, end: 99_999_999_999 } } });
    const codes = new Set<string>();
    for (let i = 1; i <= 3; i++) {
      for (const box of [a, b]) {
        const out = box.record(box.input(receipt(`D-${i}`)));
        codes.add((out as { invoice: { mccqt: string } }).invoice.mccqt);
      }
    }
    expect([...codes].sort()).toEqual([
      "M1-26-A1B2C-00000000001",
      "M1-26-A1B2C-00000000002",
      "M1-26-A1B2C-00000000003",
      "M1-26-A1B2C-50000000000",
      "M1-26-A1B2C-50000000001",
      "M1-26-A1B2C-50000000002",
    ]);
  });

  it("refuses a range that is empty or out of the 11 digits at config load", () => {
    expect(() => setup({ invoice: { mccqtRange: { start: 10, end: 9 } } })).toThrow(/invoice\.mccqtRange\.end/);
    expect(() => setup({ invoice: { mccqtRange: { start: 1, end: 100_000_000_000 } } })).toThrow(/mccqtRange/);
  });
});

describe("the write path: corrections", () => {
  const sale = (id: string): Record<string, unknown> =>
    receipt(id, {
      lines: [
        { code: "CF01", name: "Cà phê sữa đá", unit: "ly", quantity: "2", unitPrice: 27000, amount: 54000 },
        { code: "BIA01", name: "Bia lon", unit: "lon", quantity: "2", unitPrice: 22000, amount: 44000, group: "beer" },
      ],
      payments: [{ method: "card", amount: 98000 }],
      total: 98000,
    });
  const ref = { khmshdon: "1", khhdon: "C26MAB", shdon: "1" };

  it("issues a replacement invoice (TTHDLQuan, TCHDon 1) and leaves the original untouched", () => {
    const { db, record, input, xmlOf, clock } = setup();
    record(input(sale("S-1")));
    const original = xmlOf(1);
    clock.advance(3_600_000);
    const fixed = {
      ...sale("S-1-FIX"),
      kind: "replacement",
      replaces: { ...ref, note: "Thay thế do sai tên người mua" },
      buyer: { name: "CÔNG TY TNHH KHÁCH", taxCode: "0100000004" },
    };
    expect(record(input(fixed))).toMatchObject({ status: "ok", invoice: { shdon: 2 } });
    expect(xmlOf(1)).toBe(original);
    expect(xmlOf(2)).toContain(
      "<TTHDLQuan><TCHDon>1</TCHDon><LHDCLQuan>1</LHDCLQuan><KHMSHDCLQuan>1</KHMSHDCLQuan><KHHDCLQuan>C26MAB</KHHDCLQuan>" +
        "<SHDCLQuan>1</SHDCLQuan><NLHDCLQuan>2026-11-20</NLHDCLQuan><GChu>Thay thế do sai tên người mua</GChu></TTHDLQuan>",
    );
    expect(checkInvoice(xmlOf(2), "2.xml", identity.certPem).problem).toBeUndefined();
    // A second replacement of the same invoice is refused: the register must replace the newest one.
    const again = record(input({ ...fixed, receiptId: "S-1-FIX2" }));
    expect(again).toMatchObject({ status: "rejected", code: "ALREADY_REPLACED" });
    expect(db.prepare("SELECT count(*) AS n FROM invoices").get()).toEqual({ n: 2 });
  });

  it("turns a refund into a replacement holding what the customer kept", () => {
    const { record, input, xmlOf, db } = setup();
    record(input(sale("S-1")));
    const refund = {
      receiptId: "RF-1",
      issuedAt: "2026-11-20T10:05:00+07:00",
      kind: "refund",
      replaces: ref,
      lines: [{ code: "BIA01", name: "Bia lon", unit: "lon", quantity: "1", unitPrice: 22000, amount: 22000 }],
      total: 22000,
    };
    expect(record(input(refund))).toMatchObject({ status: "ok", invoice: { shdon: 2 } });
    const xml = xmlOf(2);
    expect(xml).toContain(
      "<SHDCLQuan>1</SHDCLQuan><NLHDCLQuan>2026-11-20</NLHDCLQuan><GChu>Thay thế do người mua trả lại hàng</GChu>",
    );
    expect(xml).toContain("<THHDVu>Bia lon</THHDVu><DVTinh>lon</DVTinh><SLuong>1</SLuong>");
    expect(xml).toContain("<TgTTTBSo>76000</TgTTTBSo>");
    expect(xml).toContain("<HTTToan>CK</HTTToan>");
    expect(checkInvoice(xml, "2.xml", identity.certPem).problem).toBeUndefined();
    // The stored receipt is the replacement content; the register's refund stays in the raw bytes.
    const row = db.prepare("SELECT receipt_json, raw FROM receipts WHERE receipt_id = 'RF-1'").get() as {
      receipt_json: string;
      raw: Buffer;
    };
    expect(JSON.parse(row.receipt_json)).toMatchObject({ kind: "replacement", total: 76000 });
    expect(JSON.parse(row.raw.toString("utf8"))).toMatchObject({ kind: "refund", total: 22000 });

    // A second refund of the same sale follows the chain: it replaces invoice 2, not 1.
    const second = {
      ...refund,
      receiptId: "RF-2",
      lines: [{ ...refund.lines[0], code: "CF01", name: "Cà phê sữa đá", unitPrice: 27000, amount: 27000 }],
      total: 27000,
    };
    expect(record(input(second))).toMatchObject({ status: "ok", invoice: { shdon: 3 } });
    expect(xmlOf(3)).toContain("<SHDCLQuan>2</SHDCLQuan>");
    expect(xmlOf(3)).toContain("<TgTTTBSo>49000</TgTTTBSo>");
  });

  it("turns a refund of everything into a zero-total replacement with a note line, or holds it when configured", () => {
    const everything = {
      receiptId: "RF-ALL",
      issuedAt: "2026-11-20T10:05:00+07:00",
      kind: "refund",
      replaces: ref,
      lines: [
        { code: "CF01", name: "Cà phê sữa đá", quantity: "2", unitPrice: 27000, amount: 54000 },
        { code: "BIA01", name: "Bia lon", quantity: "2", unitPrice: 22000, amount: 44000 },
      ],
      total: 98000,
    };
    const replaced = setup();
    replaced.record(replaced.input(sale("S-1")));
    expect(replaced.record(replaced.input(everything))).toMatchObject({ status: "ok", invoice: { shdon: 2 } });
    const xml = replaced.xmlOf(2);
    expect(xml).toContain(
      "<HHDVu><TChat>4</TChat><STT>1</STT><THHDVu>Người mua trả lại toàn bộ hàng hóa, dịch vụ của hóa đơn 1C26MAB số 1 ngày 20/11/2026</THHDVu></HHDVu>",
    );
    expect(xml).toContain(
      "<TToan><TgTCThue>0</TgTCThue><TgTThue>0</TgTThue><TgTTTBSo>0</TgTTTBSo><TgTTTBChu>Không đồng</TgTTTBChu></TToan>",
    );
    expect(checkInvoice(xml, "2.xml", identity.certPem).problem).toBeUndefined();

    const held = setup({ invoice: { fullRefund: "hold" } });
    held.record(held.input(sale("S-1")));
    expect(held.record(held.input(everything))).toMatchObject({ status: "rejected", code: "FULL_REFUND_HELD" });
    expect(held.quarantined()[0]?.detail).toMatch(/^Người mua trả lại toàn bộ hóa đơn 1C26MAB số 1/);
  });

  it.each([
    [
      "an item that was not sold",
      { lines: [{ name: "Trà đá", quantity: "1", unitPrice: 5000, amount: 5000 }], total: 5000 },
      "REFUND_LINE_UNMATCHED",
    ],
    [
      "more than was sold",
      { lines: [{ code: "BIA01", name: "Bia lon", quantity: "3", unitPrice: 22000, amount: 66000 }], total: 66000 },
      "REFUND_LINE_UNMATCHED",
    ],
    ["an invoice this box did not issue", { replaces: { ...ref, shdon: "77" } }, "REFUND_ORIGINAL_UNKNOWN"],
  ])("holds a refund of %s", (_, over, code) => {
    const { record, input } = setup();
    record(input(sale("S-1")));
    const refund = {
      receiptId: "RF-X",
      issuedAt: "2026-11-20T10:05:00+07:00",
      kind: "refund",
      replaces: ref,
      lines: [{ code: "BIA01", name: "Bia lon", quantity: "1", unitPrice: 22000, amount: 22000 }],
      total: 22000,
      ...over,
    };
    expect(record(input(refund))).toMatchObject({ status: "rejected", code });
  });

  it("holds a refund when the store lookup is not wired, and a replacement without the replaced date", () => {
    const { record, input } = setup({ corrections: false });
    record(input(sale("S-1")));
    const refund = { ...sale("RF-1"), kind: "refund", replaces: ref };
    expect(record(input(refund))).toMatchObject({ status: "rejected", code: "REFUND_NEEDS_STORE" });
    const replacement = { ...sale("RP-1"), kind: "replacement", replaces: ref };
    expect(record(input(replacement))).toMatchObject({ status: "rejected", code: "REPLACES_DATE_MISSING" });
  });
});
