/**
 * Issue 5, proof "crash" during FORWARDING (test/e2e/crash.test.ts kills mostly while sales arrive): a backlog is
 * queued while the authority is away, then the daemon is killed with SIGKILL again and again while it sends —
 * half of the kills at the worst moment, when the sandbox has taken a batch and its answer is still on the way.
 * After each restart the daemon looks the batch up instead of sending it blindly; in the end every acknowledged
 * receipt exists exactly once, every invoice is accepted exactly once by the sandbox, the numbering has no gap and
 * the chain verifies.
 */

import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Writable } from "node:stream";
import Database from "better-sqlite3";
import pino from "pino";
import { describe, expect, it, vi } from "vitest";
import { parse, stringify } from "yaml";
import { verifyStore } from "../../src/audit/verify-store.js";
import { seededRandom } from "../../src/sandbox/faults.js";
import { parseFaults } from "../../src/sandbox/index.js";
import { createTestIdentity } from "../../src/sign/index.js";
import { generateReceipts, startSimulatedRegister } from "../../src/simulator/index.js";
import { spawnHoadon } from "../support/cli.js";
import { startDemoSandbox, writeDemoConfig } from "../support/demo-config.js";
import { freePort } from "../support/net.js";
import { tempDir } from "../support/tmp.js";

describe("crash safety while forwarding", () => {
  it("SIGKILL mid-send, many rounds: each invoice accepted exactly once, no gap, chain intact", {
    timeout: 180_000,
  }, async () => {
    const dir = tempDir();
    const registerPort = await freePort();
    const sandboxPort = await freePort();
    const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
    const { file: config } = writeDemoConfig(dir, {
      identity,
      authorityUrl: `http://127.0.0.1:${sandboxPort}`,
      sandboxPassword: "pw",
      registers: [{ id: "quay-1", driver: "ndjson-v1", port: `tcp-listen://127.0.0.1:${registerPort}` }],
    });
    // Small batches, so the backlog is many sends and polls.
    const raw = parse(readFileSync(config, "utf8")) as { authority: Record<string, unknown> };
    raw.authority.batch = { maxInvoices: 8, maxBytes: 2_000_000 };
    raw.authority.retry = { minDelayMs: 100, maxDelayMs: 1000 };
    writeFileSync(config, stringify(raw));
    const dbFile = join(dir, "hoadon.sqlite");
    const accepted = (): number => {
      const db = new Database(dbFile, { readonly: true });
      try {
        return (db.prepare("SELECT count(*) AS n FROM deliveries WHERE state = 'accepted'").get() as { n: number }).n;
      } finally {
        db.close();
      }
    };

    // 1. The authority is away: 80 sales are acknowledged and queued.
    let daemon = spawnHoadon(["run", "--config", config]);
    const receipts = generateReceipts({ seed: 5, count: 80, startMs: Date.parse("2026-11-20T01:00:00Z") });
    const register = await startSimulatedRegister({ endpoint: "tcp", address: `tcp://127.0.0.1:${registerPort}` });
    const report = await register.send(receipts, { ackTimeoutMs: 2000, maxAttempts: 50 });
    await register.close();
    expect(report).toMatchObject({ acked: receipts.length, nak: 0, unacked: 0 });

    // 2. The sandbox comes up slow to answer and losing some answers; the daemon is killed while it sends.
    let onTaken: (() => void) | undefined;
    const events = new Writable({
      write(chunk: Buffer, _enc, done) {
        for (const line of chunk.toString("utf8").split("\n")) if (line.includes('"msg":"message taken"')) onTaken?.();
        done();
      },
    });
    const sandbox = await startDemoSandbox(identity, {
      port: sandboxPort,
      replyDelayMs: 30,
      faults: parseFaults("submit.latency=100ms..300ms,replies.latency=0ms..50ms,ghost=0.1,drop=0.1,seed=3"),
      log: pino({ level: "info" }, events),
    });
    const random = seededRandom(20261127);
    let kills = 0;
    let midSend = 0;
    try {
      for (let round = 0; round < 10 && accepted() < receipts.length; round++) {
        if (random() < 0.5) {
          // The worst moment: the sandbox has just taken a batch; its answer is still on the way.
          const taken = new Promise<boolean>((resolve) => {
            onTaken = () => resolve(true);
            setTimeout(() => resolve(false), 5000);
          });
          if (await taken) midSend++;
          onTaken = undefined;
        } else {
          await new Promise((r) => setTimeout(r, 100 + random() * 700));
        }
        daemon.kill("SIGKILL");
        await daemon.done;
        kills++;
        daemon = spawnHoadon(["run", "--config", config]);
      }
      await vi.waitFor(() => expect(accepted()).toBe(receipts.length), { timeout: 90_000, interval: 200 });
    } finally {
      daemon.kill("SIGTERM");
      await daemon.done;
      await sandbox.close();
    }
    expect(kills).toBeGreaterThanOrEqual(5);
    expect(midSend).toBeGreaterThanOrEqual(1);

    const db = new Database(dbFile, { readonly: true });
    try {
      const ids = (db.prepare("SELECT receipt_id FROM receipts").all() as { receipt_id: string }[]).map(
        (r) => r.receipt_id,
      );
      expect(ids.sort()).toEqual(receipts.map((r) => r.receiptId).sort());
      expect(verifyStore(db, { trustedCertPem: identity.certPem })).toMatchObject({
        ok: true,
        invoices: receipts.length,
        journal: { ok: true, receipts: receipts.length },
      });
      expect(db.prepare("SELECT state, count(*) AS n FROM deliveries GROUP BY state").all()).toEqual([
        { state: "accepted", n: receipts.length },
      ]);
      // Lost answers were looked up (lookup attempts exist) rather than blindly resent.
      expect(db.prepare("SELECT count(*) AS n FROM attempts WHERE kind = 'lookup'").get()).not.toEqual({ n: 0 });
    } finally {
      db.close();
    }
    const stats = sandbox.stats();
    expect(Object.keys(stats.acceptedByMccqt)).toHaveLength(receipts.length);
    expect(Object.values(stats.acceptedByMccqt).every((n) => n === 1)).toBe(true);
    expect(stats.duplicateInvoices).toBe(0);
  });
});
