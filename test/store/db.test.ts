import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { openStore, openStoreReadOnly } from "../../src/store/db.js";
import { ingestStore } from "../../src/store/ingest.js";
import { MIGRATIONS } from "../../src/store/migrations/index.js";
import { tempDir } from "../support/tmp.js";

describe("store/db", () => {
  it("creates a new store with durable pragmas and the current schema", () => {
    const dir = tempDir();
    const db = openStore(join(dir, "sub", "hoadon.sqlite"));
    expect(db.pragma("journal_mode", { simple: true })).toBe("wal");
    expect(db.pragma("synchronous", { simple: true })).toBe(2); // FULL
    expect(db.pragma("user_version", { simple: true })).toBe(MIGRATIONS.length);
    db.close();
  });

  it("refuses a file that is not a database and leaves it untouched", () => {
    const dir = tempDir();
    const path = join(dir, "hoadon.sqlite");
    writeFileSync(path, "this is not sqlite ".repeat(100));
    expect(() => openStore(path)).toThrowError(expect.objectContaining({ code: "STORE_CORRUPT" }));
    expect(() => openStoreReadOnly(path)).toThrowError(expect.objectContaining({ code: "STORE_CORRUPT" }));
  });

  it("refuses a database written by a newer hoadon", () => {
    const dir = tempDir();
    const path = join(dir, "hoadon.sqlite");
    const raw = new Database(path);
    raw.pragma(`user_version = ${MIGRATIONS.length + 5}`);
    raw.close();
    expect(() => openStore(path)).toThrowError(expect.objectContaining({ code: "STORE_CORRUPT" }));
  });

  it("refuses somebody else's database instead of adding tables to it", () => {
    const dir = tempDir();
    const path = join(dir, "other.sqlite");
    const raw = new Database(path);
    raw.exec("CREATE TABLE customers (id INTEGER)");
    raw.close();
    expect(() => openStore(path)).toThrowError(expect.objectContaining({ code: "STORE_CORRUPT" }));
  });

  it("reports a missing file to read-only openers without creating it", () => {
    const dir = tempDir();
    expect(() => openStoreReadOnly(join(dir, "nope.sqlite"))).toThrowError(
      expect.objectContaining({ code: "STORE_UNAVAILABLE" }),
    );
  });

  it("enforces append-only rows and forward-only counters with triggers", () => {
    const dir = tempDir();
    const db = openStore(join(dir, "hoadon.sqlite"));
    const store = ingestStore(db);
    const id = store.transaction(() => {
      const receiptRow = store.insertReceipt({
        registerId: "r1",
        receiptId: "1",
        driver: "ndjson-v1",
        receivedAt: 1,
        issuedAt: "2026-11-20T09:00:00+07:00",
        raw: new Uint8Array([1, 2, 3]),
        receiptJson: "{}",
      });
      expect(store.nextCounter("c")).toBe(1);
      expect(store.nextCounter("c")).toBe(2);
      return store.insertInvoice({
        receiptRow,
        khmshdon: "1",
        khhdon: "C26MAB",
        shdon: 1,
        mccqt: "M1-26-A1B2C-00000000001",
        nlap: "2026-11-20",
        total: 1,
        qr: "",
        signedXml: Buffer.from("<HDon></HDon>"),
        sha256: "x",
        chain: "y",
        createdAt: 1,
        deadlineAt: 2,
      });
    });
    expect(() => db.prepare("UPDATE invoices SET total = 2 WHERE id = ?").run(id)).toThrow(/append-only/);
    expect(() => db.prepare("DELETE FROM invoices").run()).toThrow(/append-only/);
    expect(() => db.prepare("UPDATE receipts SET raw = x'00'").run()).toThrow(/append-only/);
    expect(() => db.prepare("UPDATE counters SET value = 1 WHERE name = 'c'").run()).toThrow(/forward/);
    expect(() => db.prepare("DELETE FROM counters").run()).toThrow(/never deleted/);
    db.close();
  });

  it("rolls back the whole transaction when one statement fails", () => {
    const dir = tempDir();
    const db = openStore(join(dir, "hoadon.sqlite"));
    const store = ingestStore(db);
    const row = {
      registerId: "r1",
      receiptId: "1",
      driver: "ndjson-v1",
      receivedAt: 1,
      issuedAt: "x",
      raw: new Uint8Array([1]),
      receiptJson: "{}",
    };
    store.transaction(() => store.insertReceipt(row));
    expect(() =>
      store.transaction(() => {
        store.nextCounter("shdon");
        store.insertReceipt(row); // UNIQUE (register_id, receipt_id)
      }),
    ).toThrow(/UNIQUE/);
    expect(db.prepare("SELECT count(*) AS n FROM counters").get()).toEqual({ n: 0 });
    db.close();
  });
});
