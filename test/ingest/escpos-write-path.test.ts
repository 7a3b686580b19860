/**
 * ESC/POS bridge → the real write path, wired the way the lead is asked to wire it (journal flushed and the receipt
 * linked to its journal range inside the receipt's transaction): the printer gets the real MCCQT and the invoice's
 * own lookup QR before the cut; a raster-only print-out is quarantined with its bytes and renders as a PNG; every
 * receipt row's raw bytes are its journal range; the journal and the invoice chain verify.
 */
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { escposTap, renderPng } from "../../drivers/escpos-tap/index.js";
import { driverCatalogue } from "../../src/catalogue.js";
import { loadConfig } from "../../src/config/load.js";
import { toHex } from "../../src/driver-api/index.js";
import type { BridgeSession } from "../../src/ingest/bridge-session.js";
import { startSession } from "../../src/ingest/start-session.js";
import { createRecorder } from "../../src/record.js";
import { systemClock } from "../../src/shared/clock.js";
import { silentLogger } from "../../src/shared/log.js";
import { createSigner, createTestIdentity, loadPkcs12 } from "../../src/sign/index.js";
import { escposJobs, startPrinterEmulator } from "../../src/simulator/escpos.js";
import { generateReceipts } from "../../src/simulator/generate.js";
import { openStore } from "../../src/store/db.js";
import { ingestStore } from "../../src/store/ingest.js";
import {
  identityPins,
  journalRangeOf,
  journalWriter,
  linkJournal,
  readJournalRange,
  verifyJournal,
} from "../../src/store/journal.js";
import { recorderSettings } from "../../src/writer/core.js";
import { writeDemoConfig } from "../support/demo-config.js";
import { tempDir } from "../support/tmp.js";
import { memoryPortSource } from "./helpers.js";

let stops: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const s of stops.reverse()) await s();
  stops = [];
});

describe("ESC/POS bridge with the real write path", () => {
  it("prints the committed invoice's MCCQT and QR, quarantines a raster print-out, and ties every row to the journal", async () => {
    const dir = tempDir();
    const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
    const config = loadConfig(writeDemoConfig(dir, { identity }).file, driverCatalogue);
    const path = join(dir, "hoadon.sqlite");
    const db = openStore(path);
    stops.push(() => {
      db.close();
    });
    const store = ingestStore(db);
    const recorder = createRecorder({
      store,
      signer: createSigner(loadPkcs12(identity.pfx, identity.password)),
      settings: recorderSettings(config),
      clock: systemClock,
      log: silentLogger,
      storePath: path,
    });
    const journal = journalWriter(db);
    const _link = linkJournal(db);
    const _receiptRow = db.prepare<[string, string], { id: number }>(
      "SELECT id FROM receipts WHERE register_id = ? AND receipt_id = ?",
    );
    const quarantineRows: number[] = [];
    const pos = memoryPortSource("pos");
    const printer = memoryPortSource("printer");
    const abort = new AbortController();
    const session = startSession({
      register: { id: "quay1", port: "unused", devicePort: "unused" },
      driver: escposTap,
      options: escposTap.options.parse({}),
      // As main.ts wires it: the session flushes the journal (its own commit) before each record, and the write
      // path links the receipt to its journal range inside the receipt's transaction.
      record: recorder,
      quarantine: (q) => {
        quarantineRows.push(store.keepQuarantined(q));
      },
      journal,
      identity: identityPins(db),
      clock: systemClock,
      log: silentLogger,
      signal: abort.signal,
      sources: { register: pos, device: printer },
    }) as BridgeSession;
    stops.push(async () => {
      abort.abort();
      await session.stopped;
    });
    const posSide = await pos.nextPeer();
    const emulator = startPrinterEmulator(await printer.nextPeer());
    await vi.waitFor(() => expect(session.state().deviceConnected).toBe(true));

    const receipts = generateReceipts({ seed: 8, count: 3, registerId: "QUAY1", startMs: Date.now() - 60_000 });
    const jobs = escposJobs(receipts, { codePage: ["cp1258", "tcvn3", "raster"], logo: true });
    for (const job of jobs) await posSide.write(job.bytes);
    await emulator.waitForCuts(3);
    await posSide.write(Uint8Array.of(0x1d, 0x49, 67)); // the POS asks the printer's name
    await vi.waitFor(() => expect(db.prepare("SELECT count(*) AS n FROM register_identity").get()).toEqual({ n: 1 }));

    const invoices = db
      .prepare(
        "SELECT i.mccqt, i.qr, r.id AS receipt, r.raw FROM invoices i JOIN receipts r ON r.id = i.receipt_row ORDER BY i.id",
      )
      .all() as { mccqt: string; qr: string; receipt: number; raw: Buffer }[];
    expect(invoices).toHaveLength(2);
    const pages = emulator.pages();
    for (const [i, inv] of invoices.entries()) {
      expect(inv.mccqt).toMatch(/^M1-\d{2}-[A-Z0-9]{5}-\d{11}$/);
      expect(emulator.text(pages[i]!)).toContain(`Mã CQT: ${inv.mccqt}`);
      expect(pages[i]!.qr).toEqual([inv.qr]);
      const range = journalRangeOf(db, "receipt", inv.receipt)!;
      expect(toHex(readJournalRange(db, range)!)).toBe(toHex(inv.raw));
    }
    // The raster print-out: no invoice, its bytes in quarantine, its cut released at once, a PNG for the auditor.
    expect(pages[2]!.qr).toEqual([]);
    const q = db.prepare("SELECT id, code, raw FROM quarantine").all() as { id: number; code: string; raw: Buffer }[];
    expect(q.map((r) => r.code)).toEqual(["RASTER_ONLY"]);
    expect(toHex(readJournalRange(db, journalRangeOf(db, "quarantine", q[0]!.id)!)!)).toBe(toHex(q[0]!.raw));
    expect(toHex(renderPng(new Uint8Array(q[0]!.raw))!.subarray(1, 4))).toBe("504e47");
    journal.flush();
    expect(verifyJournal(db)).toMatchObject({ ok: true, streams: 4 });
    expect(db.prepare("SELECT kind FROM events WHERE kind LIKE 'register-identity%'").all()).toEqual([
      { kind: "register-identity-pinned" },
    ]);
  });
});
