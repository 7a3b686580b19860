/**
 * A POS driving a Datecs fiscal printer, where the printer is hoadon (device role), through the real daemon and
 * `hoadon simulate register --protocol datecs`: every receipt the POS closed is invoiced once and accepted.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { startSandbox } from "../../src/sandbox/index.js";
import { createTestIdentity } from "../../src/sign/index.js";
import { runHoadon, spawnHoadon } from "../support/cli.js";
import { writeDemoConfig } from "../support/demo-config.js";
import { freePort } from "../support/net.js";
import { tempDir } from "../support/tmp.js";

describe("datecs-isl device role in the daemon", () => {
  it("invoices what the simulated POS sold, once each", { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const port = await freePort();
    const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
    const sandbox = await startSandbox({
      port: 0,
      replyDelayMs: 50,
      trustedCertPem: identity.certPem,
      credentials: { username: "demo", password: "pw" },
    });
    const { file } = writeDemoConfig(dir, {
      identity,
      authorityUrl: sandbox.url,
      registers: [{ id: "quay-1", driver: "datecs-isl-v1", port: `tcp-listen://127.0.0.1:${port}` }],
    });
    const daemon = spawnHoadon(["run", "--config", file]);
    try {
      const truth = join(dir, "truth.jsonl");
      const sim = await vi.waitFor(
        async () => {
          const run = await runHoadon([
            "simulate",
            "register",
            "--protocol",
            "datecs",
            "--port",
            `tcp://127.0.0.1:${port}`,
            "--count",
            "12",
            "--seed",
            "5",
            "--truth",
            truth,
          ]);
          if (run.stderr.includes("PORT_UNAVAILABLE")) throw new Error("daemon not listening yet");
          return run;
        },
        { timeout: 20_000, interval: 200 },
      );
      expect(sim.code).toBe(0);
      await vi.waitFor(
        () => {
          const db = new Database(join(dir, "hoadon.sqlite"), { readonly: true });
          const { n } = db.prepare("SELECT count(*) AS n FROM deliveries WHERE state = 'accepted'").get() as {
            n: number;
          };
          db.close();
          expect(n).toBe(12);
        },
        { timeout: 30_000, interval: 200 },
      );
      const db = new Database(join(dir, "hoadon.sqlite"), { readonly: true });
      expect(db.prepare("SELECT count(*) AS n FROM receipts WHERE driver = 'datecs-isl-v1'").get()).toEqual({ n: 12 });
      db.close();
    } finally {
      daemon.kill("SIGTERM");
      await daemon.done;
      await sandbox.close();
    }
  });
});
