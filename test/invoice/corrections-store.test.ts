/**
 * A Datecs storno and an ndjson void name the sale by the register's receipt id; resolveCorrection finds the invoice
 * made from that receipt in a real SQLite store (the lookups the write path wires in: `findInvoiceForReceipt`,
 * `findIssuedInvoice`) and makes the replacement holding what the customer kept (after a void: nothing).
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CMD, datecsIsl, hostFrame, nextSeq } from "../../drivers/datecs-isl/index.js";
import { ndjson } from "../../drivers/ndjson/index.js";
import { driverCatalogue } from "../../src/catalogue.js";
import { loadConfig } from "../../src/config/load.js";
import type { DecoderEvent } from "../../src/driver-api/index.js";
import { VOID_NOTE } from "../../src/invoice/corrections.js";
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

describe("an ndjson void against a real store", () => {
  const setup = (fullRefund: "replace" | "hold") => {
    const dir = tempDir();
    const config = loadConfig(writeDemoConfig(dir).file, driverCatalogue);
    const db = openStore(join(dir, "hoadon.sqlite"));
    const store = ingestStore(db);
    const clock = manualClock(Date.parse("2026-11-20T03:10:00Z"));
    const settings = recorderSettings(config);
    const record = createRecorder({
      store,
      signer: createSigner(loadPkcs12(identity.pfx, identity.password)),
      settings: { ...settings, corrections: { fullRefund } },
      clock,
      log: silentLogger,
      storePath: join(dir, "hoadon.sqlite"),
      findIssued: store.findIssuedInvoice,
    });
    const decoder = ndjson.createDecoder(ndjson.options.parse({}));
    /** One ndjson line through the decoder and, when it is a receipt, the write path. */
    const send = (msg: Record<string, unknown>) => {
      const events = decoder.push(new TextEncoder().encode(`${JSON.stringify(msg)}\n`), clock.now());
      const event = events.find((e) => e.type === "receipt");
      if (event?.type !== "receipt") throw new Error(`not a receipt: ${JSON.stringify(events)}`);
      return record({
        registerId: "quay-1",
        driverId: "ndjson-v1",
        raw: event.raw,
        receipt: event.receipt,
        receivedAt: clock.now(),
      });
    };
    const sale = {
      v: 1,
      type: "receipt",
      id: "QUAY1-20261120-00001",
      ts: "2026-11-20T10:02:15+07:00",
      items: [
        { name: "Cà phê sữa đá", unit: "ly", qty: 2, unitPrice: 29000, amount: 58000, vatRate: 8 },
        { name: "Bánh mì thịt", unit: "ổ", qty: 1, unitPrice: 25000, amount: 25000, vatRate: 8 },
      ],
      total: 83000,
    };
    const voided = (over: Record<string, unknown>) => ({
      v: 1,
      type: "void",
      id: "QUAY1-20261120-00002",
      ts: "2026-11-20T10:05:00+07:00",
      ref: sale.id,
      total: 83000,
      ...over,
    });
    return { db, store, send, sale, voided };
  };

  it("replaces the sale's invoice with a zero-total invoice that says the whole sale was voided", () => {
    const { db, store, send, sale, voided } = setup("replace");
    expect(send(sale)).toMatchObject({ status: "ok", invoice: { shdon: 1 } });
    // The wrong money is refused: the register voided another sale, or its total is wrong.
    expect(send(voided({ total: 80000 }))).toMatchObject({ status: "rejected", code: "REFUND_TOTAL_MISMATCH" });
    expect(send(voided({}))).toMatchObject({ status: "ok", invoice: { shdon: 2 } });
    const made = store.findIssuedInvoice({ khmshdon: "1", khhdon: "C26MAB", shdon: 2 });
    const receipt = Receipt.parse(JSON.parse(made?.receiptJson ?? "{}"));
    expect(receipt).toMatchObject({
      kind: "replacement",
      total: 0,
      replaces: { shdon: "1", date: "2026-11-20", note: VOID_NOTE },
    });
    expect(receipt.lines).toEqual([
      expect.objectContaining({ kind: "note", amount: 0, name: expect.stringContaining("trả lại toàn bộ") }),
    ]);
    expect(store.findIssuedInvoice({ khmshdon: "1", khhdon: "C26MAB", shdon: 1 })?.replacedBy).toMatchObject({
      shdon: 2,
    });
    db.close();
  });

  it("holds the void for review when the shop handles a refund of everything by hand", () => {
    const { db, send, sale, voided } = setup("hold");
    expect(send(sale)).toMatchObject({ status: "ok" });
    const held = send(voided({}));
    expect(held).toMatchObject({ status: "rejected" });
    expect(JSON.stringify(held)).toContain("FULL_REFUND_HELD");
    db.close();
  });

  it("refuses a void of a sale this register never sold", () => {
    const { db, send, voided } = setup("replace");
    const refused = send(voided({ ref: "QUAY1-20261120-00077" }));
    expect(refused).toMatchObject({ status: "rejected" });
    expect(JSON.stringify(refused)).toContain("REFUND_ORIGINAL_UNKNOWN");
    db.close();
  });
});
