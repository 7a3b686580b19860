/**
 * A Datecs storno names the sale by the register's receipt id; resolveCorrection finds the invoice made from that
 * receipt in a real SQLite store (the lookups the write path wires in: `findInvoiceForReceipt`,
 * `findIssuedInvoice`) and makes the replacement holding what the customer kept.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CMD, datecsIsl, hostFrame, nextSeq } from "../../drivers/datecs-isl/index.js";
import { driverCatalogue } from "../../src/catalogue.js";
import { loadConfig } from "../../src/config/load.js";
import type { DecoderEvent } from "../../src/driver-api/index.js";
import { computeInvoice, resolveCorrection } from "../../src/invoice/index.js";
import { Receipt } from "../../src/receipt/model.js";
import { createRecorder } from "../../src/record.js";
import { manualClock } from "../../src/shared/clock.js";
import { silentLogger } from "../../src/shared/log.js";
import { createSigner, createTestIdentity, loadPkcs12 } from "../../src/sign/index.js";
import { openStore } from "../../src/store/db.js";
import { ingestStore } from "../../src/store/ingest.js";
import { recorderSettings } from "../../src/writer/core.js";
import { writeDemoConfig } from "../support/demo-config.js";
import { tempDir } from "../support/tmp.js";

const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });

describe("a Datecs storno against a real store", () => {
  it("refunds from the invoice made from the sale the storno names", () => {
    const dir = tempDir();
    const config = loadConfig(writeDemoConfig(dir).file, driverCatalogue);
    const db = openStore(join(dir, "hoadon.sqlite"));
    const store = ingestStore(db);
    const clock = manualClock(Date.parse("2026-11-20T03:10:00Z"));
    const record = createRecorder({
      store,
      signer: createSigner(loadPkcs12(identity.pfx, identity.password)),
      settings: recorderSettings(config),
      clock,
      log: silentLogger,
      storePath: join(dir, "hoadon.sqlite"),
      findIssued: store.findIssuedInvoice,
    });

    const decoder = datecsIsl.createDecoder(datecsIsl.options.parse({}));
    let seq = 0x20;
    const send = (cmd: number, text: string): DecoderEvent[] => {
      const events = decoder.push(hostFrame("old", seq, { cmd, data: new TextEncoder().encode(text), label: "" }), 0);
      seq = nextSeq("old", seq);
      return events;
    };
    const receiptOf = (events: DecoderEvent[]) => events.find((e) => e.type === "receipt");

    send(CMD.SET_TIME, "20-11-26 10:02:15");
    send(CMD.OPEN, "1,0000,1,QUAY1-20261120-00003");
    send(CMD.SALE, "Cà phê sữa đá\tC29000.00*2#ly");
    send(CMD.SALE, "Bia Tiger Crystal lon 330ml\tD21000.00*6#lon");
    send(CMD.PAYMENT, "\t");
    const sale = receiptOf(send(CMD.CLOSE, ""));
    if (sale?.type !== "receipt") throw new Error("no sale");
    const input = { registerId: "quay-1", driverId: "datecs-isl-v1", raw: sale.raw, receivedAt: clock.now() };
    expect(record({ ...input, receipt: sale.receipt })).toMatchObject({ status: "ok", invoice: { shdon: 1 } });

    send(CMD.STORNO_OLD, "1,0000,1,QUAY1-20261120-00020,R0000001,QUAY1-20261120-00003,201126100215,02000001");
    send(CMD.SALE, "Bia Tiger Crystal lon 330ml\tD21000.00*2#lon");
    send(CMD.PAYMENT, "\t");
    const storno = receiptOf(send(CMD.CLOSE, ""));
    if (storno?.type !== "receipt") throw new Error("no storno");
    const refund = Receipt.parse(storno.receipt);
    expect(refund).toMatchObject({ kind: "refund", replaces: { receiptId: "QUAY1-20261120-00003" }, total: 42000 });

    const byReceipt = (id: string) => store.findInvoiceForReceipt("quay-1", id);
    const made = resolveCorrection(refund, store.findIssuedInvoice, { fullRefund: "replace" }, byReceipt);
    if (!made.ok) throw new Error(JSON.stringify(made.problems));
    expect(made.receipt).toMatchObject({
      kind: "replacement",
      receiptId: "QUAY1-20261120-00020",
      replaces: { khmshdon: "1", khhdon: "C26MAB", shdon: "1", date: "2026-11-20" },
      total: 58000 + 84000,
    });
    expect(made.receipt.lines.map((l) => [l.name, l.quantity, l.amount])).toEqual([
      ["Cà phê sữa đá", "2", 58000],
      ["Bia Tiger Crystal lon 330ml", "4", 84000],
    ]);
    const computed = computeInvoice(made.receipt, { form: "1", defaultVatRate: "8%", toleranceDong: 0 });
    expect(computed.ok).toBe(true);
    // Another register's receipt with the same id is not this sale.
    const elsewhere = (id: string) => store.findInvoiceForReceipt("quay-2", id);
    const other = resolveCorrection(refund, store.findIssuedInvoice, { fullRefund: "replace" }, elsewhere);
    expect(other.ok || other.problems.map((p) => p.code)).toEqual(["REFUND_ORIGINAL_UNKNOWN"]);
    db.close();
  });
});
