/**
 * The auditor's web page in a real browser (Debian chromium driven by playwright-core): read-only, Vietnamese
 * first, the numbers match the database, an invoice opens with its lines and exact signed bytes.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { chromium } from "playwright-core";
import { describe, expect, it } from "vitest";
import { startAuditHttp } from "../../src/audit/http.js";
import { escposJobs } from "../../src/simulator/escpos.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { openStoreReadOnly } from "../../src/store/db.js";
import { identityPins } from "../../src/store/journal.js";
import { readSignedXml, type StoredSignedXml } from "../../src/store/signed-xml.js";
import { runHoadon } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";

const CHROMIUM = "/usr/bin/chromium";

describe.skipIf(!existsSync(CHROMIUM))("audit web page", () => {
  it("shows the summary, the invoice list and one invoice, and refuses writes", async () => {
    const dir = tempDir();
    const demo = await runHoadon(["demo", "--sales", "6", "--via", "tcp", "--data", dir]);
    expect(demo.code).toBe(0);
    // One receipt held back and one register's Z report, as a session would have kept them.
    const zReport = "Chốt ca/ngày 2026-11-20, 6 phiếu, doanh thu 412.000 đ / day close 2026-11-20, 6 receipts";
    const w = new Database(join(dir, "hoadon.sqlite"));
    const keep = w.prepare(
      "INSERT INTO quarantine (register_id, driver, received_at, code, detail, raw) VALUES ('quay-1', 'ndjson-v1', ?, ?, ?, x'7b7d')",
    );
    keep.run(Date.now(), "TOTAL_MISMATCH", "Tổng tiền không khớp");
    keep.run(Date.now(), "DAY_CLOSE", zReport);
    // A print-out held once and invoiced later by `hoadon release-held`: listed apart, not counted as held.
    const late = keep.run(Date.now(), "NO_TEMPLATE", "Không mẫu phiếu nào đọc được").lastInsertRowid;
    w.prepare("INSERT INTO events (at, kind, register_id, detail) VALUES (?, 'quarantine-released', 'quay-1', ?)").run(
      Date.now(),
      JSON.stringify({ quarantineId: Number(late), mccqt: "M1-26-A1B2C-00000000007" }),
    );
    // A receipt an ESC/POS register printed as an image: held RASTER_ONLY, its picture shown to the auditor.
    const [raster] = escposJobs(generateReceipts({ seed: 2, count: 1, startMs: Date.now() }), { codePage: ["raster"] });
    const rasterId = Number(
      w
        .prepare(
          "INSERT INTO quarantine (register_id, driver, received_at, code, detail, raw) VALUES ('quay-2', 'escpos-tap-v1', ?, 'RASTER_ONLY', 'in bằng hình / printed as an image', ?)",
        )
        .run(Date.now(), Buffer.from(raster!.bytes)).lastInsertRowid,
    );
    // The printer behind quay-2 as it reported itself, then swapped for another (as the daemon pins them).
    const pin = identityPins(w);
    const swappedAt = Date.now() - 3_600_000;
    pin("quay-2", { model: "TM-T82II", serial: "X5E0001", firmware: "1.05" }, swappedAt - 86_400_000);
    pin("quay-2", { model: "TM-T82II", serial: "X5E0777", firmware: "1.05" }, swappedAt);
    w.close();
    const db = openStoreReadOnly(join(dir, "hoadon.sqlite"));
    const web = await startAuditHttp({ db, port: 0 });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${web.url}/`);
      expect(await page.textContent("h1")).toBe("Tổng quan");
      expect(await page.textContent("#invoices")).toBe("6");
      expect(await page.textContent("#accepted")).toBe("6");
      expect(await page.textContent("#backlog")).toBe("0");
      // The Z report is the register's word, not a receipt held back: listed apart.
      expect(await page.textContent("#held")).toBe("2");
      await page.click('header a[href^="/quarantine"]');
      expect(await page.$$eval("#held tbody tr", (rows) => rows.map((r) => r.textContent))).toEqual([
        expect.stringContaining("RASTER_ONLY"),
        expect.stringContaining("TOTAL_MISMATCH"),
      ]);
      expect(await page.textContent("h2")).toMatch(/^Máy tính tiền tự báo/); // the first h2
      expect(await page.textContent("#reported tbody")).toContain(zReport);
      expect(await page.textContent("#released tbody")).toMatch(/NO_TEMPLATE.*→ M1-26-A1B2C-00000000007/);
      // The image receipt: its own page, the picture drawn from its bytes (allowed by the page's CSP, decoded by the
      // browser), the bytes themselves.
      await page.click(`#held a[href^="/quarantine/${rasterId}"]`);
      expect(await page.textContent("#reason")).toContain("RASTER_ONLY");
      await page.waitForSelector("#picture");
      const size = await page.$eval("#picture", (img) => [
        (img as unknown as { naturalWidth: number; naturalHeight: number }).naturalWidth,
        (img as unknown as { naturalWidth: number; naturalHeight: number }).naturalHeight,
      ]);
      expect(size[0]).toBeGreaterThan(100);
      expect(size[1]).toBeGreaterThan(100);
      expect(await page.textContent("#source")).toMatch(new RegExp(`^${raster!.bytes.length} byte · `));
      await page.screenshot({ path: join(dir, "held.png"), fullPage: true });

      await page.click('header a[href^="/invoices"]');
      await page.waitForSelector("tbody tr");
      const codes = await page.$$eval("tbody tr td:first-child a", (as) => as.map((a) => a.textContent));
      expect(codes).toHaveLength(6);
      expect(codes[0]).toBe("M1-26-A1B2C-00000000006");
      await page.click("text=M1-26-A1B2C-00000000003");
      expect(await page.textContent("#mccqt")).toBe("M1-26-A1B2C-00000000003");
      expect(await page.$$("table tbody tr")).not.toHaveLength(0);
      // The bytes the register sent for this sale, where they lie in the journal, and their download.
      const kept = (
        db.prepare("SELECT r.raw FROM invoices i JOIN receipts r ON r.id = i.receipt_row WHERE i.id = 3").get() as {
          raw: Buffer;
        }
      ).raw;
      expect(await page.textContent("#source")).toMatch(
        new RegExp(`^${kept.length} byte · trong nhật ký quay-\\d register/in, byte \\d+–\\d+ · Tải byte gốc$`),
      );
      expect(await page.textContent("#raw")).toBe(kept.toString("utf8")); // an ndjson line reads as text
      await page.screenshot({ path: join(dir, "invoice.png"), fullPage: true });

      await page.goto(`${web.url}/verify?lang=en`);
      expect(await page.textContent("#verdict")).toBe("Intact: 6");
      expect(await page.textContent("#journal")).toMatch(
        /^Raw journal: \d+ streams, .*chains whole; 6 receipts and held jobs/,
      );
      // The registers: the demo's run (stopped cleanly), each register's sales of the day, the gap since the stop.
      await page.goto(`${web.url}/`);
      await page.click('header a[href^="/registers"]');
      expect(await page.textContent("h1")).toBe("Máy tính tiền");
      expect(await page.textContent("#run")).toMatch(/^Lần chạy gần nhất của hoadon: từ .* · dừng lúc /);
      const cells = await page.$$eval("#registers tbody tr", (rows) =>
        rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent ?? "")),
      );
      expect(cells.reduce((sum, c) => sum + Number(c[2]), 0)).toBe(6);
      expect(cells.find((c) => c[0] === "quay-2")?.[4]).toBe("1"); // the image receipt held
      expect(await page.textContent("#gaps tbody")).toMatch(/chưa khôi phục.*hoadon đã dừng/);
      expect(cells.find((c) => c[0] === "quay-2")?.[5]).toBe("TM-T82II · S/N X5E0777 · firmware 1.05");
      expect(cells.find((c) => c[0] === "quay-1")?.[5]).toBe("—");
      const changes = await page.$$eval("#changes tbody tr", (rows) =>
        rows.map((r) => [...r.querySelectorAll("td")].map((td) => td.textContent ?? "")),
      );
      expect(changes.map((c) => c.slice(1))).toEqual([
        ["quay-2", "serial", "TM-T82II · S/N X5E0001 · firmware 1.05", "TM-T82II · S/N X5E0777 · firmware 1.05"],
      ]);
      await page.screenshot({ path: join(dir, "registers.png"), fullPage: true });

      const rawFile = await fetch(`${web.url}/invoices/3.raw`);
      expect(rawFile.headers.get("content-type")).toBe("application/octet-stream");
      expect(Buffer.from(await rawFile.arrayBuffer())).toEqual(kept);

      const xml = await fetch(`${web.url}/invoices/3.xml`);
      const row = db
        .prepare("SELECT signed_xml, signed_xml_size, sha256 FROM invoices WHERE id = 3")
        .get() as StoredSignedXml & { sha256: string };
      expect(Buffer.from(await xml.arrayBuffer()).equals(readSignedXml(row, row.sha256))).toBe(true);
      for (const method of ["POST", "PUT", "DELETE"]) {
        const res = await fetch(`${web.url}/invoices/3`, { method });
        expect(res.status, method).toBe(405);
      }
    } finally {
      await browser.close();
      await web.close();
      db.close();
    }
  });

  it("will not listen beyond this machine without a token, and checks the token when given", async () => {
    const dir = tempDir();
    expect((await runHoadon(["demo", "--sales", "1", "--via", "tcp", "--data", dir])).code).toBe(0);
    const db = openStoreReadOnly(join(dir, "hoadon.sqlite"));
    try {
      await expect(startAuditHttp({ db, host: "0.0.0.0", port: 0 })).rejects.toThrow(/token/);
      const web = await startAuditHttp({ db, port: 0, token: "s3cret-token" });
      expect((await fetch(`${web.url}/`)).status).toBe(401);
      expect((await fetch(`${web.url}/?token=s3cret-token`)).status).toBe(200);
      await web.close();
    } finally {
      db.close();
    }
  });
});
