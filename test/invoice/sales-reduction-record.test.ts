/**
 * The NQ 204/2025 sales-invoice reduction through the real write path: config file → `recorderSettings` →
 * `createRecorder` on a real SQLite store, with the clock crossing the end of the reduction (Vietnam local time).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse, stringify } from "yaml";
import { driverCatalogue } from "../../src/catalogue.js";
import { checkInvoice } from "../../src/commands/invoice.js";
import { loadConfig } from "../../src/config/load.js";
import { createRecorder, type RecordInput } from "../../src/record.js";
import { manualClock } from "../../src/shared/clock.js";
import { silentLogger } from "../../src/shared/log.js";
import { createSigner, createTestIdentity, loadPkcs12 } from "../../src/sign/index.js";
import { openStore } from "../../src/store/db.js";
import { ingestStore } from "../../src/store/ingest.js";
import { readSignedXml, type StoredSignedXml, signedXmlColumns } from "../../src/store/signed-xml.js";
import { recorderSettings } from "../../src/writer/core.js";
import { writeDemoConfig } from "../support/demo-config.js";
import { tempDir } from "../support/tmp.js";

const identity = createTestIdentity({ commonName: "Hộ thử", taxCode: "0100000001" });

/** A household eatery: sales invoices, food at 3%, groceries at 1%, beer excluded. */
const HOUSEHOLD = {
  form: "2",
  salesReduction: { ratio: "3%", ratioByGroup: { grocery: "1%" }, excludedGroups: ["beer"] },
};

const LINES = [
  { code: "PHO", name: "Phở bò tái", unit: "Bát", quantity: "2", unitPrice: 55000, amount: 110000, group: "food" },
  { code: "TRA", name: "Trà đá", unit: "Cốc", quantity: "2", unitPrice: 5000, amount: 10000, group: "food" },
  { code: "NM01", name: "Nước mắm", unit: "Chai", quantity: "1", unitPrice: 38250, amount: 38250, group: "grocery" },
  { code: "BIA", name: "Bia lon", unit: "Lon", quantity: "4", unitPrice: 15000, amount: 60000, group: "beer" },
  { kind: "discount", name: "Giảm giá khách quen", amount: 5000, group: "food" },
];

const sale = (id: string, issuedAt: string, total: number): Record<string, unknown> => ({
  receiptId: id,
  issuedAt,
  lines: LINES,
  payments: [{ method: "cash", amount: total }],
  total,
});

/** 2026-12-31 20:15:40 in Việt Nam. */
const LAST_DAY = Date.parse("2026-12-31T13:15:40Z");

function setup(invoice: Record<string, unknown>) {
  const dir = tempDir();
  const file = writeDemoConfig(dir).file;
  const raw = parse(readFileSync(file, "utf8")) as { invoice: Record<string, unknown> };
  Object.assign(raw.invoice, invoice);
  writeFileSync(file, stringify(raw));
  const config = loadConfig(file, driverCatalogue);
  const db = openStore(join(dir, "hoadon.sqlite"));
  const clock = manualClock(LAST_DAY);
  const store = ingestStore(db);
  const record = createRecorder({
    store,
    findIssued: store.findIssuedInvoice,
    signer: createSigner(loadPkcs12(identity.pfx, identity.password)),
    settings: recorderSettings(config),
    clock,
    log: silentLogger,
    storePath: join(dir, "hoadon.sqlite"),
  });
  const input = (r: unknown): RecordInput => ({
    registerId: "quay-1",
    driverId: "ndjson-v1",
    receipt: r,
    raw: new TextEncoder().encode(JSON.stringify(r)),
    receivedAt: clock.now(),
  });
  const xmlOf = (khhdon: string, shdon: number): string =>
    readSignedXml(
      db
        .prepare(`SELECT ${signedXmlColumns(db)} FROM invoices WHERE khhdon = ? AND shdon = ?`)
        .get(khhdon, shdon) as StoredSignedXml,
    ).toString("utf8");
  const quarantined = (): { code: string; detail: string }[] =>
    db.prepare("SELECT code, detail FROM quarantine ORDER BY id").all() as { code: string; detail: string }[];
  return { db, record, input, clock, xmlOf, quarantined };
}

describe("the write path: sales invoices under NQ 204/2025", () => {
  it("reduces the total until 23:59:59 on 31 Dec 2026 and not from 00:00 on 1 Jan 2027 (Vietnam time)", () => {
    const { db, record, input, clock, xmlOf, quarantined } = setup(HOUSEHOLD);
    expect(record(input(sale("S-1", "2026-12-31T20:15:40+07:00", 212_483)))).toMatchObject({
      status: "ok",
      invoice: { khmshdon: "2", khhdon: "C26MAB", shdon: 1 },
    });
    const xml = xmlOf("C26MAB", 1);
    expect(xml).toContain("<THDon>Hóa đơn bán hàng</THDon>");
    expect(xml).toContain("<ThTien>110000</ThTien>");
    expect(xml).toContain("<TgTTTBSo>212483</TgTTTBSo>");
    expect(xml).toContain("<DLieu>Đã giảm 767 đồng tương ứng 20% mức tỷ lệ % để tính thuế giá trị gia tăng");
    expect(xml).toContain("<TTruong>NQ204_SoTienGiam</TTruong><KDLieu>numeric</KDLieu><DLieu>767</DLieu>");
    expect(checkInvoice(xml, "1.xml", identity.certPem).problems).toEqual([]);
    expect(db.prepare("SELECT total FROM invoices").get()).toEqual({ total: 212_483 });

    clock.set(Date.parse("2026-12-31T16:59:59Z")); // 23:59:59 local
    expect(record(input(sale("S-2", "2026-12-31T23:59:59+07:00", 212_483)))).toMatchObject({ status: "ok" });
    clock.set(Date.parse("2026-12-31T17:00:00Z")); // 00:00 on 1 Jan 2027 local
    expect(record(input(sale("S-3", "2027-01-01T00:00:00+07:00", 213_250)))).toMatchObject({
      status: "ok",
      invoice: { khhdon: "C27MAB", shdon: 1 },
    });
    const after = xmlOf("C27MAB", 1);
    expect(after).toContain("<TgTTTBSo>213250</TgTTTBSo>");
    expect(after).not.toContain("NQ204");
    expect(checkInvoice(after, "2.xml", identity.certPem).problems).toEqual([]);

    // A register still printing the reduced total in 2027 is held, with the reason.
    expect(record(input(sale("S-4", "2027-01-01T00:01:00+07:00", 212_483)))).toMatchObject({
      status: "rejected",
      code: "TOTAL_MISMATCH",
    });
    expect(quarantined()[0]?.detail).toContain("máy in 212.483 đ, các dòng cộng lại 213.250 đ");
  });

  it("holds a register that prints the total before the reduction, unless the config says it does [U]", () => {
    const strict = setup(HOUSEHOLD);
    expect(strict.record(strict.input(sale("S-1", "2026-12-31T20:15:40+07:00", 213_250)))).toMatchObject({
      status: "rejected",
      code: "TOTAL_MISMATCH",
    });
    expect(strict.quarantined()[0]?.detail).toContain("registerTotal: beforeReduction");
    expect(strict.db.prepare("SELECT count(*) AS n FROM invoices").get()).toEqual({ n: 0 });

    const before = setup({
      ...HOUSEHOLD,
      salesReduction: { ...HOUSEHOLD.salesReduction, registerTotal: "beforeReduction" },
    });
    expect(before.record(before.input(sale("S-1", "2026-12-31T20:15:40+07:00", 213_250)))).toMatchObject({
      status: "ok",
    });
    expect(before.xmlOf("C26MAB", 1)).toContain("<TgTTTBSo>212483</TgTTTBSo>");
  });

  it("extends the reduction when the config says so, with the placement and fields it names", () => {
    const { record, input, clock, xmlOf } = setup({
      ...HOUSEHOLD,
      salesReduction: {
        ...HOUSEHOLD.salesReduction,
        rules: [{ percent: 20, from: "2027-01-01", until: "2027-06-30" }],
        placement: "TGTKhac",
        noteField: "GhiChuGiamThue",
      },
    });
    clock.set(Date.parse("2027-03-01T03:00:00Z"));
    expect(record(input(sale("S-1", "2027-03-01T10:00:00+07:00", 212_483)))).toMatchObject({ status: "ok" });
    const xml = xmlOf("C27MAB", 1);
    expect(xml).toContain("<TTCKTMai>5000</TTCKTMai><TGTKhac>767</TGTKhac><TgTTTBSo>212483</TgTTTBSo>");
    expect(xml).toContain("<TTruong>GhiChuGiamThue</TTruong>");
  });

  it("a refund on 2 Jan 2027 of a 31 Dec 2026 sale keeps the reduction of the sale's day", () => {
    const { record, input, clock, xmlOf } = setup(HOUSEHOLD);
    record(input(sale("S-1", "2026-12-31T20:15:40+07:00", 212_483)));
    clock.set(Date.parse("2027-01-02T02:00:00Z"));
    const refund = {
      receiptId: "RF-1",
      issuedAt: "2027-01-02T09:00:00+07:00",
      kind: "refund",
      replaces: { khmshdon: "2", khhdon: "C26MAB", shdon: "1" },
      lines: [{ code: "BIA", name: "Bia lon", unit: "Lon", quantity: "4", unitPrice: 15000, amount: 60000 }],
      total: 60000,
    };
    expect(record(input(refund))).toMatchObject({ status: "ok", invoice: { khhdon: "C27MAB", shdon: 1 } });
    const xml = xmlOf("C27MAB", 1);
    expect(xml).toContain("<NLap>2027-01-02</NLap>");
    expect(xml).toContain("<NLHDCLQuan>2026-12-31</NLHDCLQuan>");
    // Beer was excluded, so the reduction stays 767: 153 250 − 767.
    expect(xml).toContain("<TgTTTBSo>152483</TgTTTBSo>");
    expect(xml).toContain("Đã giảm 767 đồng");
    expect(checkInvoice(xml, "r.xml", identity.certPem).problems).toEqual([]);
  });

  it("a VAT shop's refund on 2 Jan 2027 of a 31 Dec 2026 sale keeps 8%", () => {
    const { record, input, clock, xmlOf } = setup({ form: "1" });
    const coffeeAndBeer = {
      receiptId: "V-1",
      issuedAt: "2026-12-31T20:15:40+07:00",
      lines: [
        { code: "CF01", name: "Cà phê sữa đá", unit: "ly", quantity: "2", unitPrice: 27000, amount: 54000 },
        { code: "BIA01", name: "Bia lon", unit: "lon", quantity: "2", unitPrice: 22000, amount: 44000, group: "beer" },
      ],
      payments: [{ method: "cash", amount: 98000 }],
      total: 98000,
    };
    expect(record(input(coffeeAndBeer))).toMatchObject({ status: "ok" });
    clock.set(Date.parse("2027-01-02T02:00:00Z"));
    const refund = {
      receiptId: "RF-V",
      issuedAt: "2027-01-02T09:00:00+07:00",
      kind: "refund",
      replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "1" },
      lines: [{ code: "BIA01", name: "Bia lon", unit: "lon", quantity: "1", unitPrice: 22000, amount: 22000 }],
      total: 22000,
    };
    expect(record(input(refund))).toMatchObject({ status: "ok", invoice: { khhdon: "C27MAB" } });
    const xml = xmlOf("C27MAB", 1);
    expect(xml).toContain("<THHDVu>Cà phê sữa đá</THHDVu>");
    expect(xml).toMatch(/<THHDVu>Cà phê sữa đá<\/THHDVu>.*?<TSuat>8%<\/TSuat>/);
    expect(xml).toContain("<LTSuat><TSuat>8%</TSuat>");
    expect(checkInvoice(xml, "v.xml", identity.certPem).problems).toEqual([]);
  });

  it("refuses a sales-invoice config without the activity ratio at load", () => {
    expect(() => setup({ form: "2" })).toThrow(/salesReduction/);
    expect(() => setup({ ...HOUSEHOLD, salesReduction: { ratio: "4%" } })).toThrow(/salesReduction\.ratio/);
    expect(() => setup({ ...HOUSEHOLD, salesReduction: { ratio: "3%", note: "Đã giảm theo NQ 204" } })).toThrow(
      /\{amount\}/,
    );
  });
});
