/**
 * Bad input reaches the real daemon over TCP: each bad line gets a nak with the reason, its bytes are kept in
 * quarantine, and the register (and the daemon) keep going. A broken config is refused before any port opens.
 */
import { rmSync, writeFileSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { crc32Hex } from "../../src/driver-api/index.js";
import { runHoadon, spawnHoadon } from "../support/cli.js";
import { writeDemoConfig } from "../support/demo-config.js";
import { freePort } from "../support/net.js";
import { tempDir } from "../support/tmp.js";

const good = (id: string, over: Record<string, unknown> = {}): string =>
  JSON.stringify({
    v: 1,
    type: "receipt",
    id,
    ts: "2026-11-20T09:41:07+07:00",
    items: [{ name: "Cà phê sữa đá", unit: "ly", qty: 2, unitPrice: 27000, amount: 54000, vatRate: 8 }],
    payments: [{ method: "cash", amount: 54000 }],
    total: 54000,
    ...over,
  });

describe("bad input at the daemon", () => {
  it("naks each bad line with its reason, quarantines the bytes, and keeps serving", async () => {
    const dir = tempDir();
    const port = await freePort();
    const { file } = writeDemoConfig(dir, {
      registers: [{ id: "quay-1", driver: "ndjson-v1", port: `tcp-listen://127.0.0.1:${port}` }],
    });
    const daemon = spawnHoadon(["run", "--config", file]);
    try {
      const socket = await vi.waitFor(
        () =>
          new Promise<ReturnType<typeof createConnection>>((resolve, reject) => {
            const s = createConnection({ host: "127.0.0.1", port }, () => resolve(s));
            s.once("error", reject);
          }),
        { timeout: 15_000, interval: 100 },
      );
      let answers = "";
      socket.on("data", (d: Buffer) => {
        answers += d.toString("utf8");
      });
      const json = good("G-1");
      const lines = [
        "{not json",
        `${json}*00000000`, // CRC mismatch
        good("B-RATE", { items: [{ name: "X", qty: 1, unitPrice: 1000, amount: 1000, vatRate: 7 }], total: 1000 }),
        good("B-NEG", { items: [{ name: "X", qty: 1, unitPrice: 1000, amount: -1000, vatRate: 8 }], total: -1000 }),
        good("B-TOTAL", { total: 55000 }),
        `${json}*${crc32Hex(new TextEncoder().encode(json))}`,
      ];
      socket.write(`${lines.join("\n")}\n`);
      await vi.waitFor(() => expect(answers.trim().split("\n")).toHaveLength(6), { timeout: 15_000 });
      const replies = answers
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l.replace(/\*[0-9a-f]{8}$/, "")));
      expect(replies.slice(0, 5).map((r) => r.status)).toEqual(["error", "error", "error", "error", "error"]);
      expect(replies.slice(0, 5).map((r) => [r.code, r.retry])).toEqual([
        ["BAD_JSON", true],
        ["BAD_CHECKSUM", true],
        ["RECEIPT_INVALID", false],
        ["RECEIPT_INVALID", false],
        ["TOTAL_MISMATCH", false],
      ]);
      expect(replies[2].error).toContain("lines.0.vatRate: thuế suất không hợp lệ / unknown VAT rate");
      expect(replies[3].error).toContain("lines.0.amount: không được âm / must not be negative");
      expect(replies[4].error).toContain("Tổng tiền không khớp: máy in 55.000 đ, các dòng cộng lại 54.000 đ");
      expect(replies[5]).toMatchObject({ ack: "G-1", status: "ok", mccqt: "M1-26-A1B2C-00000000001" });
      socket.end();

      const db = new Database(join(dir, "hoadon.sqlite"), { readonly: true });
      const q = db.prepare("SELECT code, raw FROM quarantine ORDER BY id").all() as { code: string; raw: Buffer }[];
      db.close();
      expect(q).toHaveLength(5);
      expect(q[0]?.raw.toString("utf8")).toContain("{not json");
      expect(q[4]?.raw.toString("utf8")).toContain("B-TOTAL");
    } finally {
      daemon.kill("SIGTERM");
      const run = await daemon.done;
      expect(run.code).toBe(0);
    }
  });

  it("a damaged daemon lock file: says which file to delete, exit 74; without it hoadon starts", async () => {
    const dir = tempDir();
    const port = await freePort();
    const { file } = writeDemoConfig(dir, {
      registers: [{ id: "quay-1", driver: "ndjson-v1", port: `tcp-listen://127.0.0.1:${port}` }],
    });
    const lock = join(dir, "hoadon.sqlite-daemon.lock");
    writeFileSync(lock, "garbage, not SQLite");
    const run = await runHoadon(["run", "--config", file]);
    expect(run.code, run.stderr).toBe(74);
    expect(run.stderr).toContain(`${lock} bị hỏng`);
    expect(run.stderr).toContain("delete it and start again");
    rmSync(lock);
    const daemon = spawnHoadon(["run", "--config", file]);
    try {
      await vi.waitFor(
        async () => expect((await runHoadon(["status", "--config", file, "--json"])).stdout).toContain('"running"'),
        {
          timeout: 20_000,
          interval: 200,
        },
      );
    } finally {
      daemon.kill("SIGTERM");
      expect((await daemon.done).code).toBe(0);
    }
  });

  it("a broken config: every problem listed with its path, exit 78, no port opened", async () => {
    const dir = tempDir();
    const port = await freePort();
    const { file } = writeDemoConfig(dir, {
      registers: [
        { id: "quay-1", driver: "nope-v1", port: `tcp-listen://127.0.0.1:${port}` },
        { id: "quay-1", driver: "ndjson-v1", port: "/dev/ttyS9" },
      ],
    });
    const run = await runHoadon(["run", "--config", file]);
    expect(run.code).toBe(78);
    expect(run.stderr).toContain("registers[0].driver");
    expect(run.stderr).toContain("registers[1].id");
    // Nothing listens on the register port.
    await expect(
      new Promise((resolve, reject) => {
        const s = createConnection({ host: "127.0.0.1", port }, () => resolve(s));
        s.once("error", reject);
      }),
    ).rejects.toThrow(/ECONNREFUSED/);
    const json = await runHoadon(["check-config", file, "--json"]);
    expect(json.code).toBe(78);
    expect(JSON.parse(json.stdout).issues).toHaveLength(2);
  });
});
