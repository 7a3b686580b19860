/**
 * A POS driving a Datecs fiscal printer, where the printer is hoadon (device role), through the real daemon and
 * `hoadon simulate register --protocol datecs`: every receipt the POS closed is invoiced once and accepted.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { createTestIdentity } from "../../src/sign/index.js";
import { runHoadon, spawnHoadon } from "../support/cli.js";
import { startDemoSandbox, writeDemoConfig } from "../support/demo-config.js";
import { freePort } from "../support/net.js";
import { tempDir } from "../support/tmp.js";

/** The sandbox and `hoadon run` with one datecs-isl register (device role) listening on a free TCP port. */
async function startDatecsDaemon() {
  const dir = tempDir();
  const port = await freePort();
  const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
  const sandbox = await startDemoSandbox(identity, { replyDelayMs: 50 });
  const { file } = writeDemoConfig(dir, {
    identity,
    authorityUrl: sandbox.url,
    registers: [{ id: "quay-1", driver: "datecs-isl-v1", port: `tcp-listen://127.0.0.1:${port}` }],
  });
  return { dir, port, sandbox, daemon: spawnHoadon(["run", "--config", file]) };
}

/** Wait until `n` invoices are accepted by the sandbox. */
async function waitAccepted(dir: string, n: number): Promise<void> {
  await vi.waitFor(
    () => {
      const db = new Database(join(dir, "hoadon.sqlite"), { readonly: true });
      const row = db.prepare("SELECT count(*) AS n FROM deliveries WHERE state = 'accepted'").get() as { n: number };
      db.close();
      expect(row.n).toBe(n);
    },
    { timeout: 30_000, interval: 200 },
  );
}

describe("datecs-isl device role in the daemon", () => {
  it("invoices what the simulated POS sold, once each", { timeout: 120_000 }, async () => {
    const { dir, port, sandbox, daemon } = await startDatecsDaemon();
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
      await waitAccepted(dir, 12);
      const db = new Database(join(dir, "hoadon.sqlite"), { readonly: true });
      expect(db.prepare("SELECT count(*) AS n FROM receipts WHERE driver = 'datecs-isl-v1'").get()).toEqual({ n: 12 });
      db.close();
    } finally {
      daemon.kill("SIGTERM");
      await daemon.done;
      await sandbox.close();
    }
  });
  it("turns the POS's stornos into replacement invoices of the sales they name", { timeout: 120_000 }, async () => {
    const { dir, port, sandbox, daemon } = await startDatecsDaemon();
    try {
      const truthFile = join(dir, "truth.jsonl");
      const sim = await vi.waitFor(
        async () => {
          const run = await runHoadon([
            ...["simulate", "register", "--protocol", "datecs", "--port", `tcp://127.0.0.1:${port}`],
            ...["--count", "16", "--seed", "11", "--storno-rate", "0.5", "--truth", truthFile],
          ]);
          if (run.stderr.includes("PORT_UNAVAILABLE")) throw new Error("daemon not listening yet");
          return run;
        },
        { timeout: 20_000, interval: 200 },
      );
      expect(sim.code, sim.stderr).toBe(0);
      const truth = readFileSync(truthFile, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { kind?: string; receiptId: string; replaces?: { receiptId?: string } });
      const refunds = truth.filter((r) => r.kind === "refund");
      // Seed 11 at rate 0.5 makes some stornos; without them this test proves nothing.
      expect(refunds.length).toBeGreaterThan(0);
      await waitAccepted(dir, truth.length);
      const db = new Database(join(dir, "hoadon.sqlite"), { readonly: true });
      try {
        expect(db.prepare("SELECT count(*) AS n FROM quarantine").get()).toEqual({ n: 0 });
        // Each storno became a replacement invoice naming the invoice of the sale it reversed.
        const replaced = db
          .prepare(
            `SELECT json_extract(r.receipt_json, '$.replaces.shdon') AS shdon, json_extract(r.receipt_json, '$.kind') AS kind
               FROM receipts r WHERE json_extract(r.receipt_json, '$.replaces') IS NOT NULL`,
          )
          .all() as { shdon: string; kind: string }[];
        expect(replaced).toHaveLength(refunds.length);
        for (const refund of refunds) {
          const original = db
            .prepare(
              `SELECT i.shdon FROM receipts r JOIN invoices i ON i.receipt_row = r.id
                WHERE r.register_id = 'quay-1' AND r.receipt_id = ?`,
            )
            .get(refund.replaces?.receiptId) as { shdon: number } | undefined;
          expect(original, `sale ${refund.replaces?.receiptId}`).toBeDefined();
        }
        expect(replaced.every((r) => r.kind === "replacement")).toBe(true);
      } finally {
        db.close();
      }
    } finally {
      daemon.kill("SIGTERM");
      await daemon.done;
      await sandbox.close();
    }
  });
});
