/**
 * Design.md invariant 1, shown with a real process: a daemon killed with SIGKILL at random moments while a register
 * is sending, then started again, has lost no acknowledged receipt, invoiced none twice, and its numbering has no gap.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { verifyStore } from "../../src/audit/verify-store.js";
import { seededRandom } from "../../src/shared/random.js";
import { createTestIdentity } from "../../src/sign/index.js";
import { generateReceipts, startSimulatedRegister } from "../../src/simulator/index.js";
import { spawnHoadon } from "../support/cli.js";
import { startDemoSandbox, writeDemoConfig } from "../support/demo-config.js";
import { freePort } from "../support/net.js";
import { tempDir } from "../support/tmp.js";

// Both ways the store side can run: on the ports' thread, and in the writer thread (where an ack crosses threads).
describe.each(["inline", "thread"] as const)("crash safety (store.writer: %s)", (writer) => {
  it("SIGKILL during ingest and forwarding: no acknowledged receipt lost, none invoiced twice, no gap", {
    timeout: 180_000,
  }, async () => {
    const dir = tempDir();
    const port = await freePort();
    const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
    const sandbox = await startDemoSandbox(identity, { replyDelayMs: 50 });
    const { file: config } = writeDemoConfig(dir, {
      identity,
      authorityUrl: sandbox.url,
      sandboxPassword: "pw",
      registers: [{ id: "quay-1", driver: "ndjson-v1", port: `tcp-listen://127.0.0.1:${port}` }],
      writer,
    });

    const receipts = generateReceipts({ seed: 7, count: 120, startMs: Date.parse("2026-11-20T01:00:00Z") });
    const acked = new Set<string>();
    const register = await startSimulatedRegister({ endpoint: "tcp", address: `tcp://127.0.0.1:${port}` });
    const controller = new AbortController();
    const sending = register.send(receipts, {
      signal: controller.signal,
      ackTimeoutMs: 500,
      maxAttempts: 1000,
      onResult: (r) => {
        if (r.status === "ok" || r.status === "dup") acked.add(r.id);
      },
    });

    const random = seededRandom(20261127);
    let daemon = spawnHoadon(["run", "--config", config]);
    let kills = 0;
    try {
      // Kill at random moments while sales arrive, then keep killing while the backlog is being forwarded.
      for (let round = 0; round < 8; round++) {
        await new Promise((r) => setTimeout(r, 150 + random() * 900));
        daemon.kill("SIGKILL");
        await daemon.done;
        kills++;
        daemon = spawnHoadon(["run", "--config", config]);
      }
      const report = await sending;
      expect(report.unacked + report.nak).toBe(0);
      expect(acked.size).toBe(receipts.length);
      // Let the restarted daemon forward everything, then stop it cleanly.
      await vi.waitFor(
        () => {
          const db = new Database(join(dir, "hoadon.sqlite"), { readonly: true });
          const { n } = db.prepare("SELECT count(*) AS n FROM deliveries WHERE state = 'accepted'").get() as {
            n: number;
          };
          db.close();
          expect(n).toBe(receipts.length);
        },
        { timeout: 60_000, interval: 200 },
      );
    } finally {
      controller.abort();
      daemon.kill("SIGTERM");
      await daemon.done;
      await register.close();
      await sandbox.close();
    }
    expect(kills).toBe(8);

    const db = new Database(join(dir, "hoadon.sqlite"), { readonly: true });
    const ids = (db.prepare("SELECT receipt_id FROM receipts").all() as { receipt_id: string }[]).map(
      (r) => r.receipt_id,
    );
    expect(new Set(ids)).toEqual(acked); // every acknowledged receipt is there …
    expect(ids).toHaveLength(acked.size); // … exactly once
    expect(db.prepare("SELECT count(*) AS n FROM invoices").get()).toEqual({ n: receipts.length });
    // The chains, the numbering, every signature, and the raw journal: whole across eight kills, and every receipt
    // tied to the bytes it came from.
    expect(verifyStore(db, { trustedCertPem: identity.certPem })).toMatchObject({
      ok: true,
      invoices: receipts.length,
      journal: { ok: true, receipts: receipts.length },
    });
    expect(db.prepare("SELECT count(*) AS n FROM journal_sources WHERE kind = 'receipt'").get()).toEqual({
      n: receipts.length,
    });
    expect(db.prepare("SELECT state, count(*) AS n FROM deliveries GROUP BY state").all()).toEqual([
      { state: "accepted", n: receipts.length },
    ]);
    db.close();
    const perMccqt = Object.values(sandbox.stats().acceptedByMccqt);
    expect(perMccqt).toHaveLength(receipts.length);
    expect(perMccqt.every((n) => n === 1)).toBe(true);
  });
});
