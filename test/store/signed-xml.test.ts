/**
 * Migration 005: invoices keep their signed XML zlib-compressed, old rows stay readable, the exact bytes come back
 * (sha256, hash chain, signatures), the columns are append-only, and an auditor's sqlite3 shell gets the same bytes.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { verifyStore } from "../../src/audit/verify-store.js";
import { openStore, openStoreReadOnly } from "../../src/store/db.js";
import { GENESIS_CHAIN, ingestStore } from "../../src/store/ingest.js";
import { MIGRATIONS } from "../../src/store/migrations/index.js";
import { createBatches, outboxStatus } from "../../src/store/outbox.js";
import {
  packSignedXml,
  readSignedXml,
  SignedXmlUnreadableError,
  type StoredSignedXml,
  signedXmlColumns,
} from "../../src/store/signed-xml.js";
import { makeInvoice, makeInvoices, makeTestSigner } from "../forward/support/invoices.js";
import { deliveryStates, openTestDb, seedInvoices } from "../forward/support/store.js";
import { tempDir } from "../support/tmp.js";

const { identity, signer } = makeTestSigner();
const sha = (b: Buffer): string => createHash("sha256").update(b).digest("hex");

/** A really signed invoice, as the write path would store it. */
function signedInvoice(shdon: number): Buffer {
  return Buffer.from(makeInvoice({ shdon, signer, now: Date.parse("2026-11-20T02:00:00Z") }).xml, "utf8");
}

/** The sqlite3 shell with its archive functions (built with zlib), if this box has one. */
const sqlite3 = (() => {
  const r = spawnSync("sqlite3", [":memory:", "SELECT hex(sqlar_uncompress(sqlar_compress(x'6161616161616161'), 8))"], {
    encoding: "utf8",
  });
  return r.status === 0 && r.stdout.trim() === "6161616161616161";
})();

describe("signed XML storage (migration 005)", () => {
  it("gives back the exact bytes, compressed to about half, and stores what does not shrink as it is", () => {
    const exact = signedInvoice(1);
    const packed = packSignedXml(exact);
    expect(packed.signedXmlSize).toBe(exact.length);
    expect(packed.signedXml.length).toBeLessThan(exact.length * 0.6);
    expect(readSignedXml({ signed_xml: packed.signedXml, signed_xml_size: packed.signedXmlSize }, sha(exact))).toEqual(
      exact,
    );
    const tiny = Buffer.from("<a/>");
    const kept = packSignedXml(tiny);
    expect(kept.signedXml).toEqual(tiny);
    expect(readSignedXml({ signed_xml: kept.signedXml, signed_xml_size: kept.signedXmlSize })).toEqual(tiny);
    // A row from before migration 005: no size, the column is the bytes.
    expect(readSignedXml({ signed_xml: exact, signed_xml_size: null }, sha(exact))).toEqual(exact);
  });

  it("refuses bytes that do not come back whole", () => {
    const exact = signedInvoice(2);
    const packed = packSignedXml(exact);
    const flipped = Buffer.from(packed.signedXml);
    flipped[flipped.length - 10] = (flipped[flipped.length - 10] as number) ^ 0x01;
    expect(() => readSignedXml({ signed_xml: flipped, signed_xml_size: packed.signedXmlSize })).toThrow(
      SignedXmlUnreadableError,
    );
    const row: StoredSignedXml = { signed_xml: packed.signedXml, signed_xml_size: packed.signedXmlSize };
    expect(() => readSignedXml({ ...row, signed_xml_size: exact.length + 1 })).toThrow(/inflates to/);
    expect(() => readSignedXml(row, "0".repeat(64))).toThrow(/sha256/);
  });

  it("migrates a version-4 file: old rows readable, new rows compressed, one chain, columns append-only", () => {
    const dir = tempDir();
    const file = join(dir, "hoadon.sqlite");
    // A store as hoadon with four migrations left it, with one invoice in it.
    const old = openTestDb(file, 4);
    const first = signedInvoice(1);
    old
      .prepare(
        `INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json)
         VALUES ('quay-1', 'A-1', 'ndjson-v1', 1, '2026-11-20T09:00:00+07:00', x'7b7d', '{}')`,
      )
      .run();
    const firstChain = createHash("sha256").update(GENESIS_CHAIN).update(first).digest("hex");
    old
      .prepare(
        `INSERT INTO invoices (receipt_row, khmshdon, khhdon, shdon, mccqt, nlap, total, qr, signed_xml, sha256, chain,
                               created_at, deadline_at)
         VALUES (1, '1', 'C26MAB', 1, 'M1-26-A1B2C-00000000001', '2026-11-20', 0, '', ?, ?, ?, 1, 2)`,
      )
      .run(first, sha(first), firstChain);
    old.close();

    const db = openStore(file);
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    expect(existsSync(`${file}.before-v5`)).toBe(true);
    const store = ingestStore(db);
    const second = signedInvoice(2);
    store.transaction(() => {
      const receiptRow = store.insertReceipt({
        registerId: "quay-1",
        receiptId: "A-2",
        driver: "ndjson-v1",
        receivedAt: 3,
        issuedAt: "2026-11-20T09:01:00+07:00",
        raw: new Uint8Array([0x7b, 0x7d]),
        receiptJson: "{}",
      });
      store.insertInvoice({
        receiptRow,
        khmshdon: "1",
        khhdon: "C26MAB",
        shdon: 2,
        mccqt: "M1-26-A1B2C-00000000002",
        nlap: "2026-11-20",
        total: 0,
        qr: "",
        signedXml: second,
        sha256: sha(second),
        chain: createHash("sha256").update(store.chainHead()).update(second).digest("hex"),
        createdAt: 3,
        deadlineAt: 4,
      });
    });
    const rows = db
      .prepare("SELECT signed_xml, signed_xml_size, sha256, length(signed_xml) AS len FROM invoices ORDER BY id")
      .all() as (StoredSignedXml & { sha256: string; len: number })[];
    expect(rows[0]?.signed_xml_size).toBeNull();
    expect(rows[0]?.len).toBe(first.length);
    expect(rows[1]?.signed_xml_size).toBe(second.length);
    expect(rows[1]?.len).toBeLessThan(second.length * 0.6);
    expect(rows.map((r) => readSignedXml(r, r.sha256))).toEqual([first, second]);
    expect(verifyStore(db, { trustedCertPem: identity.certPem })).toMatchObject({ ok: true, invoices: 2 });

    expect(() => db.prepare("UPDATE invoices SET signed_xml_size = signed_xml_size + 1 WHERE id = 2").run()).toThrow(
      /append-only/,
    );
    expect(() => db.prepare("UPDATE invoices SET signed_xml = x'00' WHERE id = 2").run()).toThrow(/append-only/);
    db.close();
  });

  it("an audit opens a version-4 file read-only and reads it without migrating it", () => {
    const dir = tempDir();
    const file = join(dir, "hoadon.sqlite");
    const old = openTestDb(file, 4);
    const first = signedInvoice(1);
    old.exec(
      `INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json)
       VALUES ('quay-1', 'A-1', 'ndjson-v1', 1, 'x', x'7b7d', '{}')`,
    );
    old
      .prepare(
        `INSERT INTO invoices (receipt_row, khmshdon, khhdon, shdon, mccqt, nlap, total, qr, signed_xml, sha256, chain,
                               created_at, deadline_at)
         VALUES (1, '1', 'C26MAB', 1, 'M1-26-A1B2C-00000000001', '2026-11-20', 0, '', ?, ?, ?, 1, 2)`,
      )
      .run(first, sha(first), createHash("sha256").update(GENESIS_CHAIN).update(first).digest("hex"));
    old.close();
    const ro = openStoreReadOnly(file);
    expect(ro.pragma("user_version", { simple: true })).toBe(4);
    expect(verifyStore(ro, { trustedCertPem: identity.certPem })).toMatchObject({ ok: true, invoices: 1 });
    const row = ro.prepare(`SELECT ${signedXmlColumns(ro)}, sha256 FROM invoices`).get() as StoredSignedXml & {
      sha256: string;
    };
    expect(readSignedXml(row, row.sha256)).toEqual(first);
    expect(outboxStatus(ro, 10).resultsOverdue).toEqual({ batches: 0, invoices: 0, oldest: undefined });
    ro.close();
  });

  it("audit verify names an invoice whose compressed bytes were damaged", () => {
    const dir = tempDir();
    const db = openStore(join(dir, "hoadon.sqlite"));
    const store = ingestStore(db);
    store.transaction(() => {
      for (const shdon of [1, 2]) {
        const xml = signedInvoice(shdon);
        const receiptRow = store.insertReceipt({
          registerId: "quay-1",
          receiptId: `A-${shdon}`,
          driver: "ndjson-v1",
          receivedAt: shdon,
          issuedAt: "2026-11-20T09:00:00+07:00",
          raw: new Uint8Array([0x7b, 0x7d]),
          receiptJson: "{}",
        });
        store.insertInvoice({
          receiptRow,
          khmshdon: "1",
          khhdon: "C26MAB",
          shdon,
          mccqt: `M1-26-A1B2C-${String(shdon).padStart(11, "0")}`,
          nlap: "2026-11-20",
          total: 0,
          qr: "",
          signedXml: xml,
          sha256: sha(xml),
          chain: createHash("sha256").update(store.chainHead()).update(xml).digest("hex"),
          createdAt: shdon,
          deadlineAt: 10,
        });
      }
    });
    expect(verifyStore(db, { trustedCertPem: identity.certPem })).toMatchObject({ ok: true, invoices: 2 });
    db.exec("DROP TRIGGER invoices_no_update");
    db.prepare("UPDATE invoices SET signed_xml = substr(signed_xml, 1, 100) WHERE id = 2").run();
    const check = verifyStore(db);
    expect(check.ok).toBe(false);
    expect(check.problem).toMatch(/#2.*unreadable/);
    db.close();
  });

  it("a damaged invoice is never sent: it stays pending and the rest of the queue is batched without it", () => {
    const db = openTestDb(join(tempDir(), "hoadon.sqlite"));
    seedInvoices(db, makeInvoices(4, 1));
    db.exec("DROP TRIGGER invoices_no_update");
    // Invoice 2: its compressed bytes cut short; invoice 3: bytes that inflate but are not what was signed.
    db.prepare("UPDATE invoices SET signed_xml = substr(signed_xml, 1, 200) WHERE id = 2").run();
    const other = packSignedXml(Buffer.from(makeInvoice({ shdon: 99 }).xml));
    db.prepare("UPDATE invoices SET signed_xml = ?, signed_xml_size = ? WHERE id = 3").run(
      other.signedXml,
      other.signedXmlSize,
    );
    let n = 0;
    const built: number[][] = [];
    const result = createBatches(db, {
      now: Date.now() + 1000,
      maxInvoices: 10,
      maxBytes: 2_000_000,
      build: (group) => {
        built.push(group.invoices.map((i) => i.invoiceId));
        n += 1;
        const mtdiep = `0100000099${String(n).padStart(32, "0")}`;
        return { mtdiep, xml: Buffer.concat(group.invoices.map((i) => i.signedXml)) };
      },
    });
    expect(built.at(-1)).toEqual([1, 4]);
    expect(result.batches.map((b) => b.invoiceIds)).toEqual([[1, 4]]);
    expect(result.unreadable.map((u) => u.invoiceId)).toEqual([2, 3]);
    expect(result.unreadable[1]?.problem).toMatch(/sha256/);
    expect([...deliveryStates(db).values()].map((d) => d.state)).toEqual(["batched", "pending", "pending", "batched"]);
    db.close();
  });

  it.skipIf(!sqlite3)("the sqlite3 shell gets the exact bytes back as the README says", () => {
    const dir = tempDir();
    const file = join(dir, "hoadon.sqlite");
    const old = openTestDb(file, 4);
    const first = signedInvoice(1);
    old.exec(
      `INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json)
       VALUES ('quay-1', 'A-1', 'ndjson-v1', 1, 'x', x'7b7d', '{}')`,
    );
    old
      .prepare(
        `INSERT INTO invoices (receipt_row, khmshdon, khhdon, shdon, mccqt, nlap, total, qr, signed_xml, sha256, chain,
                               created_at, deadline_at)
         VALUES (1, '1', 'C26MAB', 1, 'M1-26-A1B2C-00000000001', '2026-11-20', 0, '', ?, ?, ?, 1, 2)`,
      )
      .run(first, sha(first), "c");
    old.close();
    const db = openStore(file);
    const second = signedInvoice(2);
    const packed = packSignedXml(second);
    db.exec(
      `INSERT INTO receipts (register_id, receipt_id, driver, received_at, issued_at, raw, receipt_json)
       VALUES ('quay-1', 'A-2', 'ndjson-v1', 1, 'x', x'7b7d', '{}')`,
    );
    db.prepare(
      `INSERT INTO invoices (receipt_row, khmshdon, khhdon, shdon, mccqt, nlap, total, qr, signed_xml, signed_xml_size,
                             sha256, chain, created_at, deadline_at)
       VALUES (2, '1', 'C26MAB', 2, 'M1-26-A1B2C-00000000002', '2026-11-20', 0, '', ?, ?, ?, 'c', 1, 2)`,
    ).run(packed.signedXml, packed.signedXmlSize, sha(second));
    db.close();
    // README, "Reading the store": one file per invoice, named by its MCCQT.
    const r = spawnSync(
      "sqlite3",
      [
        "-readonly",
        file,
        "SELECT writefile(mccqt || '.xml', sqlar_uncompress(signed_xml, signed_xml_size)) FROM invoices;",
      ],
      { cwd: dir, encoding: "utf8" },
    );
    expect(r.stderr).toBe("");
    expect(readFileSync(join(dir, "M1-26-A1B2C-00000000001.xml"))).toEqual(first);
    expect(readFileSync(join(dir, "M1-26-A1B2C-00000000002.xml"))).toEqual(second);
  });
});
