/**
 * Issue 5, proof "disk full": the real daemon with its database on a small filesystem made by the test. When the disk
 * fills, the register gets a nak that says "retry" (STORE_FULL) and nothing is half-written; when space returns,
 * the daemon — never restarted — takes the resent receipts and invoices them, and they reach the sandbox.
 *
 * Needs root to mount a tmpfs; skipped with that reason otherwise.
 */
import { execFileSync } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { parse, stringify } from "yaml";
import { encodeReceipt, type NdjsonReply, parseReply } from "../../drivers/ndjson/encode.js";
import { verifyStore } from "../../src/audit/verify-store.js";
import type { ReceiptInput } from "../../src/receipt/model.js";
import { createTestIdentity } from "../../src/sign/index.js";
import { generateReceipts } from "../../src/simulator/index.js";
import { runHoadon, spawnHoadon } from "../support/cli.js";
import { startDemoSandbox, writeDemoConfig } from "../support/demo-config.js";
import { freePort } from "../support/net.js";

/**
 * Mounts a small tmpfs at `dir` (4 MB), or says why it cannot. 4 MB is what SQLite's own autocheckpoint would let
 * the WAL reach before checkpointing it; hoadon checkpoints in a worker and caps the WAL (`journal_size_limit`,
 * src/store/checkpoint.ts), so the WAL no longer fills a disk this small.
 */
function mountSmallFs(dir: string): string | undefined {
  if (process.getuid?.() !== 0) return "cần quyền root để gắn tmpfs / needs root to mount a tmpfs";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (e) {
    return `không gắn được tmpfs / cannot mount a tmpfs: ${(e as Error).message.split("\n")[0]}`;
  }
}

/** Fills the filesystem of `file` until it is full. */
function fill(file: string): void {
  const fd = openSync(file, "w");
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
  } finally {
    closeSync(fd);
  }
}

/** A raw ndjson-v1 link to the daemon: one receipt line out, one reply line back. */
async function link(port: number): Promise<{ send(r: ReceiptInput): Promise<NdjsonReply>; close(): void }> {
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => resolve(s));
    s.once("error", reject);
  });
  let buffered = Buffer.alloc(0);
  const waiting: ((r: NdjsonReply) => void)[] = [];
  socket.on("data", (d: Buffer) => {
    buffered = Buffer.concat([buffered, d]);
    for (let nl = buffered.indexOf(10); nl >= 0; nl = buffered.indexOf(10)) {
      const line = buffered.subarray(0, nl + 1);
      buffered = buffered.subarray(nl + 1);
      const reply = parseReply(line);
      if (reply) waiting.shift()?.(reply);
    }
  });
  return {
    send: (r) =>
      new Promise((resolve) => {
        waiting.push(resolve);
        socket.write(encodeReceipt(r));
      }),
    close: () => socket.destroy(),
  };
}

const count = (db: Database.Database, table: string): number =>
  (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe("disk full", () => {
  it("naks with retry while the disk is full, writes nothing half, and recovers by itself when space returns", {
    timeout: 120_000,
  }, async (ctx) => {
    const dir = mkdtempSync(join(tmpdir(), "hoadon-diskfull-"));
    const fsDir = join(dir, "small");
    mkdirSync(fsDir);
    const why = mountSmallFs(fsDir);
    if (why) {
      rmSync(dir, { recursive: true, force: true });
      ctx.skip(why);
    }
    try {
      await diskFullStory(dir, fsDir);
    } finally {
      execFileSync("umount", [fsDir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function diskFullStory(dir: string, fsDir: string): Promise<void> {
  const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
  const sandbox = await startDemoSandbox(identity, { replyDelayMs: 20 });
  const port = await freePort();
  const { file: config } = writeDemoConfig(dir, {
    identity,
    authorityUrl: sandbox.url,
    sandboxPassword: "pw",
    registers: [{ id: "quay-1", driver: "ndjson-v1", port: `tcp-listen://127.0.0.1:${port}` }],
  });
  const dbFile = join(fsDir, "hoadon.sqlite");
  const raw = parse(readFileSync(config, "utf8")) as { store: { path: string } };
  raw.store.path = dbFile;
  writeFileSync(config, stringify(raw));
  const dbAccepted = (): number => {
    const db = new Database(dbFile, { readonly: true });
    try {
      return (db.prepare("SELECT count(*) AS n FROM deliveries WHERE state = 'accepted'").get() as { n: number }).n;
    } finally {
      db.close();
    }
  };

  let daemon = spawnHoadon(["run", "--config", config]);
  const receipts = generateReceipts({ seed: 11, count: 40, startMs: Date.parse("2026-11-20T02:00:00Z") });
  let register: Awaited<ReturnType<typeof link>> | undefined;
  try {
    register = await vi.waitFor(() => link(port), { timeout: 20_000, interval: 100 });
    // 1. Disk has room: four sales acknowledged and forwarded.
    for (const r of receipts.slice(0, 4)) expect(await register.send(r)).toMatchObject({ type: "ack", status: "ok" });
    await vi.waitFor(() => expect(dbAccepted()).toBe(4), { timeout: 20_000, interval: 100 });

    // 2. The disk fills up. A few sales may still fit in the room the WAL file already has (they are committed and
    // acknowledged: durable); once that is used, every sale is refused with "retry", and the daemon keeps running.
    const filler = join(fsDir, "filler");
    fill(filler);
    const refused: ReceiptInput[] = [];
    let next = 4;
    for (; next < 34 && refused.length < 4; next++) {
      const r = receipts[next] as ReceiptInput;
      const reply = await register.send(r);
      if (refused.length > 0 || reply.type === "nak")
        expect(reply).toMatchObject({ type: "nak", id: r.receiptId, code: "STORE_FULL", retry: true });
      else expect(reply).toMatchObject({ type: "ack", status: "ok" });
      if (reply.type === "nak") refused.push(r);
    }
    expect(refused).toHaveLength(4);
    expect(daemon.exitCode).toBeNull();
    // One daemon per store, full disk or not.
    const second = await runHoadon(["run", "--config", config]);
    expect(second.code, second.stderr).toBe(75);

    // 2b. hoadon restarted while the disk is still full: it starts (its lock file needs no new room) and answers
    // "retry" as before; it does not refuse to start.
    register.close();
    daemon.kill("SIGTERM");
    expect((await daemon.done).code).toBe(0);
    daemon = spawnHoadon(["run", "--config", config]);
    register = await vi.waitFor(() => link(port), { timeout: 20_000, interval: 100 });
    expect(await register.send(refused[0] as ReceiptInput)).toMatchObject({
      type: "nak",
      code: "STORE_FULL",
      retry: true,
    });
    expect(daemon.exitCode).toBeNull();

    // 3. Space returns: the register resends the same receipts (and new ones); no restart needed.
    rmSync(filler);
    for (const r of [...refused, ...receipts.slice(next)])
      expect(await register.send(r)).toMatchObject({ type: "ack", status: "ok" });
    // A receipt answered before is recognised, not invoiced again.
    expect(await register.send(refused[0] as ReceiptInput)).toMatchObject({ type: "ack", status: "dup" });
    await vi.waitFor(() => expect(dbAccepted()).toBe(receipts.length), { timeout: 30_000, interval: 100 });
    expect(daemon.exitCode).toBeNull();
  } finally {
    register?.close();
    daemon.kill("SIGTERM");
    await daemon.done;
    await sandbox.close();
  }

  // Nothing half-written: every receipt once, one invoice and one delivery each, chain and numbering intact.
  const db = new Database(dbFile, { readonly: true });
  try {
    expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
    const ids = (db.prepare("SELECT receipt_id FROM receipts ORDER BY id").all() as { receipt_id: string }[]).map(
      (r) => r.receipt_id,
    );
    expect(ids.sort()).toEqual(receipts.map((r) => r.receiptId).sort());
    expect([count(db, "invoices"), count(db, "deliveries"), count(db, "quarantine")]).toEqual([
      receipts.length,
      receipts.length,
      0,
    ]);
    expect(verifyStore(db, { trustedCertPem: identity.certPem })).toMatchObject({
      ok: true,
      invoices: receipts.length,
      journal: { ok: true, receipts: receipts.length },
    });
  } finally {
    db.close();
  }
  expect(Object.values(sandbox.stats().acceptedByMccqt).every((n) => n === 1)).toBe(true);
  expect(sandbox.stats().invoicesAccepted).toBe(receipts.length);
}
