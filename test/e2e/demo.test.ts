import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { verifyStore } from "../../src/audit/verify-store.js";
import { readSignedXml, type StoredSignedXml } from "../../src/store/signed-xml.js";
import { runHoadon } from "../support/cli.js";
import { tempDir } from "../support/tmp.js";

const hasXmlsec = spawnSync("xmlsec1", ["--version"]).status === 0;
const hasSocat = spawnSync("socat", ["-V"]).status === 0;

describe("hoadon demo (the README's first command)", () => {
  for (const [via, available] of [
    ["tcp", true],
    ["pty", hasSocat],
  ] as const)
    it.skipIf(!available)(
      `--sales 20 --via ${via}: exits 0 with 20 accepted invoices that xmlsec1 verifies`,
      async () => {
        const dir = tempDir();
        const run = await runHoadon(["demo", "--sales", "20", "--via", via, "--data", dir]);
        expect(run.stderr).toBe("");
        expect(run.code).toBe(0);
        expect(run.stdout).toMatch(/Tổng kết: 20 lần bán, 20 hóa đơn, 20 được chấp nhận, 0 bị từ chối, 0 đang chờ/);
        expect(run.stdout.match(/✓ cơ quan thuế đã nhận M1-\d\d-A1B2C-\d{11}/g)).toHaveLength(20);

        const db = new Database(join(dir, "hoadon.sqlite"), { readonly: true });
        expect(db.prepare("SELECT state, count(*) AS n FROM deliveries GROUP BY state").all()).toEqual([
          { state: "accepted", n: 20 },
        ]);
        const cert = join(dir, "test-only-seller.cert.pem");
        expect(verifyStore(db, { trustedCertPem: execFileSync("cat", [cert], { encoding: "utf8" }) })).toMatchObject({
          ok: true,
          invoices: 20,
          journal: { ok: true, tied: 20, receipts: 20 }, // every sale tied to the bytes it came from
        });
        const row = db
          .prepare("SELECT signed_xml, signed_xml_size, sha256 FROM invoices WHERE shdon = 7")
          .get() as StoredSignedXml & { sha256: string };
        db.close();
        const file = join(dir, "invoice-7.xml");
        writeFileSync(file, readSignedXml(row, row.sha256));
        if (hasXmlsec) {
          const x = spawnSync("xmlsec1", ["--verify", "--trusted-pem", cert, "--id-attr:Id", "DLHDon", file], {
            encoding: "utf8",
          });
          expect(x.stderr).toContain("OK");
          expect(x.status).toBe(0);
        }
        const verify = await runHoadon(["invoice", "verify", file, "--trusted-cert", cert]);
        expect(verify.code).toBe(0);
      },
    );

  it("speaks English with --lang en, and exits non-zero on a bad option", async () => {
    const bad = await runHoadon(["demo", "--sales", "zero", "--lang", "en"]);
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain("--sales must be an integer");
    const dir = tempDir();
    const run = await runHoadon(["demo", "--sales", "2", "--via", "tcp", "--data", dir, "--lang", "en"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("Summary: 2 sales, 2 invoices, 2 accepted");
  });
});
