/**
 * The raw capture journal in the auditor's hands, on a database the demo filled: `audit verify` checks every
 * stream's chain and every receipt's bytes against it, `audit journal` writes a register's bytes as a capture file
 * that replays (through the driver named in it) into the same receipts, `audit show --raw` gives one sale's bytes.
 * Tampering is named: a changed chunk by its chain, and a rewritten stream whose chain was recomputed by the receipt
 * whose bytes no longer match.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { beforeAll, describe, expect, it, vi } from "vitest";
import type { JournalStreamSummary } from "../../src/audit/journal.js";
import type { RederiveReport } from "../../src/audit/rederive.js";
import { driverCatalogue } from "../../src/catalogue.js";
import { toHex, utf8 } from "../../src/driver-api/index.js";
import { parseCapture, replayCapture } from "../../src/ingest/capture.js";
import { openStore } from "../../src/store/db.js";
import { JOURNAL_GENESIS, journalWriter, nextChain, startsOf } from "../../src/store/journal.js";
import { runHoadon, spawnHoadon } from "../support/cli.js";
import { startDaemon } from "../support/daemon.js";
import { writeDemoConfig } from "../support/demo-config.js";
import { tempDir } from "../support/tmp.js";

const SALES = 4;

describe("hoadon audit verify / journal / show --raw over the raw capture journal", () => {
  let dir: string;
  let db: string;
  let stored: { id: number; register_id: string; receipt_id: string; raw: Buffer }[];

  beforeAll(async () => {
    dir = tempDir();
    const demo = await runHoadon(["demo", "--sales", String(SALES), "--via", "tcp", "--data", dir]);
    expect(demo.code, demo.stderr).toBe(0);
    db = join(dir, "hoadon.sqlite");
    const store = new Database(db, { readonly: true });
    stored = store.prepare("SELECT id, register_id, receipt_id, raw FROM receipts ORDER BY id").all() as typeof stored;
    store.close();
    expect(stored.length).toBe(SALES);
  }, 120_000);

  /** A copy of the demo's database, with its triggers dropped so a test can do what an intruder with sqlite3 could. */
  const tamperedCopy = async (name: string, sql: (db: Database.Database) => void): Promise<string> => {
    const file = join(dir, `${name}.sqlite`);
    const src = new Database(db, { readonly: true });
    await src.backup(file);
    src.close();
    const t = new Database(file);
    t.exec("DROP TRIGGER journal_no_update; DROP TRIGGER journal_no_delete;");
    sql(t);
    t.close();
    return file;
  };

  it("verifies the journal with the invoices and ties every receipt to its bytes", async () => {
    const human = await runHoadon(["audit", "verify", "--db", db]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/raw journal: \d+ streams, \d+ chunks, \d+ bytes, chains whole; 4 receipts/);
    const json = await runHoadon(["audit", "verify", "--db", db, "--json"]);
    const check = JSON.parse(json.stdout) as { ok: boolean; journal: { ok: boolean; tied: number; receipts: number } };
    expect(check).toMatchObject({ ok: true, invoices: SALES, journal: { ok: true, tied: SALES, receipts: SALES } });
  });

  it("writes a register's journal as a capture that replays into the same receipts", async () => {
    const list = await runHoadon(["audit", "journal", "--db", db, "--json"]);
    expect(list.code, list.stderr).toBe(0);
    const streams = JSON.parse(list.stdout) as JournalStreamSummary[];
    const registers = [...new Set(streams.map((s) => s.registerId))];
    expect(registers.sort()).toEqual([...new Set(stored.map((r) => r.register_id))].sort());
    expect(streams.find((s) => s.direction === "in")!.bytes).toBeGreaterThan(0);

    for (const registerId of registers) {
      const file = join(dir, `${registerId}.cap`);
      const run = await runHoadon(["audit", "journal", "--db", db, "--register", registerId, "--out", file]);
      expect(run.code, run.stderr).toBe(0);
      const capture = parseCapture(readFileSync(file, "utf8"));
      expect(capture.headers["register"]).toBe(registerId);
      const driver = driverCatalogue.get(capture.headers["driver"]!) as Parameters<typeof replayCapture>[0];
      expect(driver, capture.headers["driver"]).toBeDefined();
      const receipts = replayCapture(driver, driver.options.parse({}), capture).filter((e) => e.type === "receipt");
      const mine = stored.filter((r) => r.register_id === registerId);
      expect(receipts.map((e) => toHex(e.raw))).toEqual(mine.map((r) => toHex(r.raw)));
      expect(receipts.map((e) => (e.receipt as { receiptId: string }).receiptId)).toEqual(
        mine.map((r) => r.receipt_id),
      );
      // Each receipt is named after the chunk that completes it, with the invoice it became.
      expect(readFileSync(file, "utf8").match(/^# ↑ #\d+ phiếu \/ receipt .+ → M1-26-/gm)).toHaveLength(mine.length);
      // Never overwritten.
      const again = await runHoadon(["audit", "journal", "--db", db, "--register", registerId, "--out", file]);
      expect(again.code).toBe(64);
    }
    const unknown = await runHoadon(["audit", "journal", "--db", db, "--register", "no-such-till"]);
    expect(unknown.code).toBe(64);
    expect(unknown.stderr).toContain("no-such-till");
  });

  it("gives one sale's raw bytes and where they lie in the journal", async () => {
    const out = join(dir, "sale-2.bin");
    const raw = await runHoadon(["audit", "show", "--db", db, "#2", "--raw", out]);
    expect(raw.code, raw.stderr).toBe(0);
    expect(toHex(readFileSync(out))).toBe(toHex(stored[1]!.raw));
    const show = await runHoadon(["audit", "show", "--db", db, "#2"]);
    expect(show.stdout).toMatch(/Nguồn \/ source: nhật ký \/ journal .+, byte \d+–\d+/);
    const json = JSON.parse((await runHoadon(["audit", "show", "--db", db, "#2", "--json"])).stdout) as {
      source: { start: number; end: number };
    };
    expect(json.source.end - json.source.start).toBe(stored[1]!.raw.length);
  });

  it("names a chunk changed after the fact by its chain", async () => {
    const file = await tamperedCopy("chunk", (t) => {
      const row = t
        .prepare("SELECT id, bytes FROM journal WHERE direction = 'in' ORDER BY id LIMIT 1 OFFSET 1")
        .get() as {
        id: number;
        bytes: Buffer;
      };
      const bytes = Buffer.from(row.bytes);
      bytes[0] = bytes[0]! ^ 0x01;
      t.prepare("UPDATE journal SET bytes = ? WHERE id = ?").run(bytes, row.id);
    });
    const run = await runHoadon(["audit", "verify", "--db", file]);
    expect(run.code).toBe(65);
    expect(run.stderr).toMatch(/journal chunk #\d+: .*hash chain does not match/);
  });

  it("names the receipt whose bytes a rewritten stream (chain recomputed) no longer holds", async () => {
    const file = await tamperedCopy("rewritten", (t) => {
      // Rewrite one byte of the first receipt's stream and recompute that stream's whole chain, as someone who knows
      // the formula could: the chains are whole again, but the receipt's kept bytes are not what the journal says.
      const s = t
        .prepare(
          "SELECT register_id, side, direction, start_offset FROM journal_sources WHERE kind = 'receipt' ORDER BY row_id LIMIT 1",
        )
        .get() as {
        register_id: string;
        side: string;
        direction: string;
        start_offset: number;
      };
      const rows = t
        .prepare(
          "SELECT id, stream_offset, bytes, starts FROM journal WHERE register_id = ? AND side = ? AND direction = ? ORDER BY stream_offset",
        )
        .all(s.register_id, s.side, s.direction) as {
        id: number;
        stream_offset: number;
        bytes: Buffer;
        starts: number;
      }[];
      let chain = JOURNAL_GENESIS;
      for (const r of rows) {
        const bytes = Buffer.from(r.bytes);
        const at = s.start_offset - r.stream_offset;
        if (at >= 0 && at < bytes.length) bytes[at] = bytes[at]! ^ 0x20;
        chain = nextChain(chain, bytes, startsOf(r.starts));
        t.prepare("UPDATE journal SET bytes = ?, chain = ? WHERE id = ?").run(bytes, chain, r.id);
      }
    });
    const run = await runHoadon(["audit", "verify", "--db", file]);
    expect(run.code).toBe(65);
    expect(run.stderr).toMatch(/receipt #1: .*kept bytes differ from the journal/);
  });
});

describe("hoadon audit rederive: a corrected receipt template reads the held print-outs again", () => {
  it("reads every print-out the old template held as a sale, and release-held invoices them while the daemon runs", {
    timeout: 120_000,
  }, async () => {
    // The shop first set up only the one-line layout, which the simulator's print-outs do not follow.
    const { dir, port, file, stop } = await startDaemon("escpos-tap-v1", {
      role: "sink",
      templates: ["vn-basic"],
    });
    const db = join(dir, "hoadon.sqlite");
    const count = (sql: string): number => {
      const store = new Database(db, { readonly: true });
      try {
        return (store.prepare(sql).get() as { n: number }).n;
      } finally {
        store.close();
      }
    };
    try {
      await vi.waitFor(
        async () => {
          const sim = await runHoadon([
            ...["simulate", "register", "--protocol", "escpos", "--port", `tcp://127.0.0.1:${port}`],
            ...["--count", "4", "--seed", "9"],
          ]);
          if (sim.stderr.includes("PORT_UNAVAILABLE")) throw new Error("daemon not listening yet");
          expect(sim.code, sim.stderr).toBe(0);
        },
        { timeout: 20_000, interval: 200 },
      );
      await vi.waitFor(() => expect(count("SELECT count(*) AS n FROM quarantine WHERE code = 'NO_TEMPLATE'")).toBe(4), {
        timeout: 20_000,
        interval: 200,
      });

      // The same store, the same bytes: the old template still holds every print-out …
      const before = await runHoadon(["audit", "rederive", "--config", file, "--register", "quay-1", "--json"]);
      expect(before.code, before.stderr).toBe(0);
      expect(JSON.parse(before.stdout)).toMatchObject({ counts: { same: 0, new: 0 }, problems: { NO_TEMPLATE: 4 } });
      const none = await runHoadon(["release-held", "--config", file, "--register", "quay-1", "--yes"]);
      expect(none.stdout).toMatch(/no held print-out now reads as a valid sale/);

      // … the corrected one reads all four as sales, each tied to the print-out that was held.
      const fixed = join(dir, "fixed.yaml");
      writeFileSync(
        fixed,
        readFileSync(file, "utf8").replace(
          /templates:\n\s+- vn-basic/,
          "templates:\n          - hoadon-sim\n          - vn-basic",
        ),
      );
      const after = await runHoadon(["audit", "rederive", "--config", fixed, "--register", "quay-1", "--json"]);
      expect(after.code, after.stderr).toBe(0);
      const report = JSON.parse(after.stdout) as RederiveReport;
      expect(report.counts).toEqual({ same: 0, differs: 0, new: 4, missing: 0 });
      expect(report.problems).toEqual({});
      for (const r of report.receipts) {
        expect(r).toMatchObject({ status: "new", valid: true, held: [{ code: "NO_TEMPLATE" }] });
      }
      const human = await runHoadon(["audit", "rederive", "--config", fixed, "--register", "quay-1"]);
      expect(human.stdout).toMatch(/^MỚI \/ new .+ đã bị giữ lại \/ was held: #\d+ NO_TEMPLATE$/m);
      expect(human.stdout).toContain("0 same, 0 read differently, 4 new, 0 no longer read");

      // Without --yes, only what it would do; with it, four invoices through the write path, beside the running
      // daemon, which sends them.
      const dry = await runHoadon(["release-held", "--config", fixed, "--register", "quay-1"]);
      expect(dry.stdout.match(/^sẽ lập \/ would invoice /gm)).toHaveLength(4);
      expect(count("SELECT count(*) AS n FROM invoices")).toBe(0);
      const release = await runHoadon(["release-held", "--config", fixed, "--register", "quay-1", "--yes"]);
      expect(release.code, release.stderr).toBe(0);
      expect(release.stdout.match(/^đã lập \/ issued .+ M1-26-\w{5}-\d{11} {2}\(#\d+ NO_TEMPLATE/gm)).toHaveLength(4);
      await vi.waitFor(() => expect(count("SELECT count(*) AS n FROM deliveries WHERE state = 'accepted'")).toBe(4), {
        timeout: 30_000,
        interval: 200,
      });
      // Nothing is held any more; the held rows stay, each with the invoice it became; a second run adds nothing.
      const status = JSON.parse((await runHoadon(["status", "--config", fixed, "--json"])).stdout) as {
        quarantined: number;
      };
      expect(status.quarantined).toBe(0);
      expect(count("SELECT count(*) AS n FROM quarantine")).toBe(4);
      expect(count("SELECT count(*) AS n FROM events WHERE kind = 'quarantine-released'")).toBe(4);
      // The auditor's view of those rows: each invoiced later, its print-out readable as printed.
      const held = JSON.parse((await runHoadon(["audit", "held", "--db", db, "--json"])).stdout) as { state: string }[];
      expect(held.map((h) => h.state)).toEqual(Array(4).fill(expect.stringMatching(/^đã lập hóa đơn .+ M1-26-/)));
      const days = JSON.parse((await runHoadon(["audit", "report", "--db", db, "--json"])).stdout) as {
        quarantined: number;
        releasedLater: number;
      }[];
      expect(days.reduce((n, d) => n + d.quarantined, 0)).toBe(0);
      expect(days.reduce((n, d) => n + d.releasedLater, 0)).toBe(4);
      const one = await runHoadon(["audit", "held", "--db", db, "#1"]);
      expect(one.code, one.stderr).toBe(0);
      expect(one.stdout).toMatch(/Nội dung in ra \/ as printed:\n {4}\S/);
      expect(one.stdout).toContain("NO_TEMPLATE");
      expect(one.stdout).toMatch(/invoiced later as M1-26-/);
      const png = await runHoadon(["audit", "held", "--db", db, "#1", "--png", join(dir, "1.png")]);
      expect(png.code).toBe(64); // a text print-out has no picture
      const again = await runHoadon(["release-held", "--config", fixed, "--register", "quay-1", "--yes"]);
      expect(again.stdout).toMatch(/no held print-out now reads as a valid sale/);
      expect(count("SELECT count(*) AS n FROM invoices")).toBe(4);
      // Each invoice is tied to the bytes that were held, and the whole store verifies.
      const verify = JSON.parse((await runHoadon(["audit", "verify", "--db", db, "--json"])).stdout) as {
        ok: boolean;
        journal: { tied: number };
      };
      expect(verify).toMatchObject({ ok: true, journal: { tied: 8 } });
      const reread = JSON.parse(
        (await runHoadon(["audit", "rederive", "--config", fixed, "--register", "quay-1", "--json"])).stdout,
      ) as RederiveReport;
      expect(reread.counts).toEqual({ same: 4, differs: 0, new: 0, missing: 0 });
    } finally {
      await stop();
    }
  });

  it("says so when the journal has no bytes of the register", async () => {
    const dir = tempDir();
    const { file } = writeDemoConfig(dir, {});
    const run = await runHoadon(["release-held", "--config", file, "--register", "quay-1"]);
    expect(run.code).toBe(64);
    expect(run.stderr).toContain("the raw journal has no bytes of this register");
  });

  it("reads a store's invoiced sales the same with the driver they were read with", async () => {
    const dir = tempDir();
    const demo = await runHoadon(["demo", "--sales", "3", "--via", "tcp", "--data", dir]);
    expect(demo.code, demo.stderr).toBe(0);
    const db = join(dir, "hoadon.sqlite");
    const streams = JSON.parse((await runHoadon(["audit", "journal", "--db", db, "--json"])).stdout) as {
      registerId: string;
    }[];
    let same = 0;
    for (const registerId of new Set(streams.map((s) => s.registerId))) {
      const run = await runHoadon([
        "audit",
        "rederive",
        "--db",
        db,
        "--driver",
        "ndjson-v1",
        "--register",
        registerId,
        "--json",
      ]);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout) as RederiveReport;
      expect(report.counts.differs + report.counts.new + report.counts.missing).toBe(0);
      same += report.counts.same;
    }
    expect(same).toBe(3);
  });
});

describe("journal.keepDays in the daemon", () => {
  it("sheds chunks older than the setting soon after the start, behind a mark the audit shows", {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    const db = join(dir, "hoadon.sqlite");
    // A store whose register wrote 3 chunks 10 days ago and 1 today.
    const store = openStore(db);
    const journal = journalWriter(store);
    const stream = { registerId: "quay-1", side: "register", direction: "in" } as const;
    for (const days of [10, 10, 10, 0])
      journal.append(stream, utf8(`{"old":${days}}\n`), Date.now() - days * 86_400_000);
    journal.flush();
    store.close();
    const { file } = writeDemoConfig(dir, { journal: { enabled: true, keepDays: 2 } });
    const daemon = spawnHoadon(["run", "--config", file]);
    try {
      await vi.waitFor(
        () => {
          const ro = new Database(db, { readonly: true });
          try {
            expect(ro.prepare("SELECT up_to, keep_days, chunks FROM journal_pruned").all()).toEqual([
              { up_to: 33, keep_days: 2, chunks: 3 },
            ]);
          } finally {
            ro.close();
          }
        },
        { timeout: 20_000, interval: 250 },
      );
    } finally {
      daemon.kill("SIGTERM");
      await daemon.done;
    }
    const list = JSON.parse(
      (await runHoadon(["audit", "journal", "--db", db, "--json"])).stdout,
    ) as JournalStreamSummary[];
    expect(list).toEqual([expect.objectContaining({ registerId: "quay-1", direction: "in", chunks: 1, since: 33 })]);
    const verify = await runHoadon(["audit", "verify", "--db", db, "--json"]);
    expect(verify.code, verify.stdout).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, journal: { ok: true, chunks: 1 } });
  });
});
