import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { verifyStore } from "../src/audit/verify-store.js";
import { driverCatalogue } from "../src/catalogue.js";
import { loadConfig } from "../src/config/load.js";
import { recorderSettings } from "../src/main.js";
import { createRecorder, type RecordInput } from "../src/record.js";
import { manualClock } from "../src/shared/clock.js";
import { silentLogger } from "../src/shared/log.js";
import { createSigner, createTestIdentity, loadPkcs12, verifySignatures } from "../src/sign/index.js";
import { openStore } from "../src/store/db.js";
import { ingestStore } from "../src/store/ingest.js";
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

function setup() {
  const dir = tempDir();
  const config = loadConfig(writeDemoConfig(dir).file, driverCatalogue);
  const db = openStore(join(dir, "hoadon.sqlite"));
  const clock = manualClock(Date.parse("2026-11-20T02:41:10Z"));
  const record = createRecorder({
    store: ingestStore(db),
    signer: createSigner(loadPkcs12(identity.pfx, identity.password)),
    settings: recorderSettings(config),
    clock,
    log: silentLogger,
    storePath: join(dir, "hoadon.sqlite"),
  });
  const input = (r: unknown, registerId = "quay-1"): RecordInput => ({
    registerId,
    driverId: "ndjson-v1",
    receipt: r,
    raw: new TextEncoder().encode(JSON.stringify(r)),
    receivedAt: clock.now(),
  });
  return { db, record, input, clock };
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
    const xml = (row.signed_xml as Buffer).toString("utf8");
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
    expect(record(input(receipt("Y-1")))).toMatchObject({ invoice: { khhdon: "C26MAB", shdon: 1 } });
    clock.set(Date.parse("2026-12-31T17:00:00Z")); // 00:00 on 1 Jan 2027 in Vietnam
    expect(record(input(receipt("Y-2")))).toMatchObject({
      invoice: { khhdon: "C27MAB", shdon: 1, mccqt: "M1-27-A1B2C-00000000001" },
    });
    expect(verifyStore(db, { trustedCertPem: identity.certPem })).toEqual({ ok: true, invoices: 2 });
  });

  it("audit verification names a tampered invoice", () => {
    const { db, record, input } = setup();
    for (let i = 1; i <= 3; i++) record(input(receipt(`T-${i}`)));
    db.exec("DROP TRIGGER invoices_no_update");
    db.prepare(
      "UPDATE invoices SET signed_xml = CAST(replace(CAST(signed_xml AS TEXT), '98000', '9800') AS BLOB) WHERE id = 2",
    ).run();
    const check = verifyStore(db);
    expect(check.ok).toBe(false);
    expect(check.problem).toContain("#2");
  });
});
