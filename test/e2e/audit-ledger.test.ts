/**
 * The auditor's ledger commands (`hoadon audit list | show | export | report`) on a database the demo filled: the
 * exported files are the signed bytes (checked by `sha256sum -c`, outside hoadon), an altered invoice is named,
 * nothing is overwritten, and the report's figures come from the signed invoices.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it } from "vitest";
import type { DayReport, LedgerRow } from "../../src/audit/ledger.js";
import { openStoreReadOnly } from "../../src/store/db.js";
import { readSignedXml, type StoredSignedXml, signedXmlColumns } from "../../src/store/signed-xml.js";
import { runHoadon } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";

const SALES = 5;

describe("hoadon audit list / show / export / report", () => {
  let dir: string;
  let db: string;

  beforeAll(async () => {
    dir = tempDir();
    const demo = await runHoadon(["demo", "--sales", String(SALES), "--via", "tcp", "--data", dir]);
    expect(demo.code, demo.stderr).toBe(0);
    db = join(dir, "hoadon.sqlite");
  }, 120_000);

  const exactXml = (file: string, id: number): Buffer => {
    const store = openStoreReadOnly(file);
    try {
      const row = store
        .prepare(`SELECT ${signedXmlColumns()}, sha256 FROM invoices WHERE id = ?`)
        .get(id) as StoredSignedXml & { sha256: string };
      return readSignedXml(row, row.sha256);
    } finally {
      store.close();
    }
  };

  it("lists every invoice, finds one by MCCQT, by symbol-number and by id, and writes its exact bytes", async () => {
    const list = await runHoadon(["audit", "list", "--db", db, "--json"]);
    expect(list.code, list.stderr).toBe(0);
    const rows = JSON.parse(list.stdout) as LedgerRow[];
    expect(rows).toHaveLength(SALES);
    expect(rows.every((r) => r.state === "accepted")).toBe(true);
    expect(rows.map((r) => r.shdon)).toEqual([1, 2, 3, 4, 5]);

    const second = rows[1]!;
    for (const key of [
      second.mccqt,
      `${second.khhdon}-${second.shdon}`,
      `${second.khmshdon}${second.khhdon}-2`,
      "#2",
    ]) {
      const show = await runHoadon(["audit", "show", "--db", db, key, "--json"]);
      expect(show.code, `${key}: ${show.stderr}`).toBe(0);
      expect(JSON.parse(show.stdout)).toMatchObject({ invoice: { mccqt: second.mccqt }, intact: true });
    }
    const text = await runHoadon(["audit", "show", "--db", db, second.mccqt]);
    expect(text.stdout).toContain(second.mccqt);
    expect(text.stdout).toMatch(/CQT đã nhận \/ accepted/);
    expect(text.stdout).toMatch(/Phản hồi \/ reply 204/);

    const out = join(tempDir(), "second.xml");
    expect((await runHoadon(["audit", "show", "--db", db, "#2", "--out", out])).code).toBe(0);
    expect(readFileSync(out).equals(exactXml(db, 2))).toBe(true);
    // Never overwritten.
    const again = await runHoadon(["audit", "show", "--db", db, "#2", "--out", out]);
    expect(again.code).toBe(64);
    expect(again.stderr).toMatch(/không ghi đè/);

    const missing = await runHoadon(["audit", "show", "--db", db, "M1-26-A1B2C-99999999999"]);
    expect(missing.code).toBe(64);
    expect(missing.stderr).toMatch(/không có hóa đơn/);

    const filtered = await runHoadon(["audit", "list", "--db", db, "--state", "rejected", "--json"]);
    expect(JSON.parse(filtered.stdout)).toEqual([]);
    const bad = await runHoadon(["audit", "list", "--db", db, "--from", "27/11/2026"]);
    expect(bad.code).toBe(64);
    const noSuchDay = await runHoadon(["audit", "list", "--db", db, "--to", "2026-02-30"]);
    expect(noSuchDay.code).toBe(64);
  });

  it("exports the signed files byte for byte with a manifest and SHA256SUMS that sha256sum checks", async () => {
    const out = join(tempDir(), "export");
    const run = await runHoadon(["audit", "export", "--db", db, "--out", out, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ files: SALES, altered: [] });
    const days = readdirSync(out).filter((f) => /^\d{4}-\d{2}-\d{2}$/.test(f));
    const files = days.flatMap((d) => readdirSync(join(out, d)).map((f) => join(d, f)));
    expect(files).toHaveLength(SALES);
    expect(files.every((f) => /\/1C\d{2}[A-Z0-9]{3}-\d{8}\.xml$/.test(f))).toBe(true);
    expect(readFileSync(join(out, files[0]!)).equals(exactXml(db, 1))).toBe(true);
    const manifest = readFileSync(join(out, "manifest.csv"), "utf8").trim().split("\n");
    expect(manifest).toHaveLength(SALES + 1);
    expect(manifest[0]).toBe("file,khmshdon,khhdon,shdon,mccqt,nlap,total,state,register,receipt,sha256");
    // An independent check: coreutils, not hoadon.
    expect(execFileSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: out, encoding: "utf8" })).toMatch(/: OK/);

    // A folder with something in it is refused, and what is there stays as it was.
    const refused = await runHoadon(["audit", "export", "--db", db, "--out", out]);
    expect(refused.code).toBe(64);
    expect(readFileSync(join(out, "manifest.csv"), "utf8").trim().split("\n")).toHaveLength(SALES + 1);
  });

  it("names an invoice whose stored bytes were altered behind hoadon's back", async () => {
    const copy = join(tempDir(), "tampered.sqlite");
    copyFileSync(db, copy);
    const w = new Database(copy);
    const row = w.prepare(`SELECT ${signedXmlColumns()} FROM invoices WHERE id = 3`).get() as StoredSignedXml;
    const exact = readSignedXml(row);
    const forged = Buffer.from(exact.toString("utf8").replace(/<TgTTTBSo>(\d+)</, "<TgTTTBSo>1<"), "utf8");
    // Somebody with the file and a SQLite shell: drop the append-only trigger, rewrite the row as plain bytes.
    w.exec("DROP TRIGGER invoices_no_update");
    w.prepare("UPDATE invoices SET signed_xml = ?, signed_xml_size = NULL WHERE id = 3").run(forged);
    w.prepare(
      "INSERT INTO quarantine (register_id, driver, received_at, code, detail, raw) VALUES ('quay-x', 'ndjson-v1', ?, 'TOTAL_MISMATCH', 'test', x'7b7d')",
    ).run(Date.now());
    // A register's Z report is kept in the same table, but it is the register's word, not a receipt held back.
    const zReport = "Chốt ca/ngày 2026-11-20, 42 phiếu, doanh thu 3.150.000 đ / day close 2026-11-20, 42 receipts";
    w.prepare(
      "INSERT INTO quarantine (register_id, driver, received_at, code, detail, raw) VALUES ('quay-x', 'ndjson-v1', ?, 'DAY_CLOSE', ?, x'7b7d')",
    ).run(Date.now(), zReport);
    w.close();

    const out = join(tempDir(), "export");
    const run = await runHoadon(["audit", "export", "--db", copy, "--out", out]);
    expect(run.code).toBe(65);
    expect(run.stderr).toMatch(/ALTERED: .*-00000003\.xml/);
    const check = spawnSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: out, encoding: "utf8" });
    expect(check.status).not.toBe(0);
    expect(check.stdout).toMatch(/-00000003\.xml: FAILED/);
    const show = await runHoadon(["audit", "show", "--db", copy, "#3"]);
    expect(show.code).toBe(65);
    expect(show.stdout).toMatch(/ĐÃ BỊ THAY ĐỔI/);

    const report = await runHoadon(["audit", "report", "--db", copy, "--json"]);
    const days = JSON.parse(report.stdout) as DayReport[];
    expect(days.reduce((n, d) => n + d.quarantined, 0)).toBe(1);
    expect(days.flatMap((d) => d.registerNotices)).toEqual([
      { registerId: "quay-x", code: "DAY_CLOSE", receivedAt: expect.any(Number), detail: zReport },
    ]);
    const text = await runHoadon(["audit", "report", "--db", copy]);
    expect(text.stdout).toContain(`the registers reported:\n    quay-x `);
    expect(text.stdout).toContain(zReport);
    expect(text.stdout).toMatch(/receipts held, not invoiced: 1\b/);
  });

  it("reports per issue day, with figures that come from the signed invoices", async () => {
    const run = await runHoadon(["audit", "report", "--db", db, "--json"]);
    expect(run.code, run.stderr).toBe(0);
    const days = JSON.parse(run.stdout) as DayReport[];
    const rows = JSON.parse((await runHoadon(["audit", "list", "--db", db, "--json"])).stdout) as LedgerRow[];
    expect(days.reduce((n, d) => n + d.invoices, 0)).toBe(SALES);
    expect(days.reduce((n, d) => n + d.byState.accepted, 0)).toBe(SALES);
    expect(days.reduce((n, d) => n + d.totalPayable, 0)).toBe(rows.reduce((n, r) => n + r.total, 0));
    for (const d of days) {
      expect(d.byRate.length).toBeGreaterThan(0);
      expect(d.byRate.reduce((n, r) => n + r.ThTien, 0)).toBe(d.totalBeforeVat);
      expect(d.byRate.reduce((n, r) => n + r.TThue, 0)).toBe(d.totalVat);
      expect(d.totalVat).toBeGreaterThan(0);
    }
    const text = await runHoadon(["audit", "report", "--db", db, "--lang", "en"]);
    expect(text.stdout).toMatch(/total payable/);
    const none = await runHoadon(["audit", "report", "--db", db, "--from", "2001-01-01", "--to", "2001-01-02"]);
    expect(none.stdout).toMatch(/Không có hóa đơn/);
  });
});
