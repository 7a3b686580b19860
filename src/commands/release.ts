/**
 * `hoadon release-held --config FILE --register R [--from D] [--to D] [--yes]`: after the shop fixed what made
 * hoadon hold its print-outs (a receipt template, a code page, a driver), read that register's journal again with
 * the config as it is now and invoice each held print-out that now reads as a valid sale — through the same write
 * path as the daemon (numbering, signing, one transaction, the journal tie to the held bytes), dated today, sent by
 * the running daemon's forwarder on its next round. Without `--yes` it only says what it would do.
 *
 * Each release is an event (`quarantine-released`, with the held row, the new receipt and its MCCQT) written in the
 * invoice's transaction; the held row stays (append-only) and no longer counts as held. A sale the write path
 * refuses is not written at all (the refusal is printed), so running this twice never adds rows.
 */
import { journalStreams } from "../audit/journal.js";
import { RELEASED_SQL } from "../audit/ledger.js";
import { type RederivedReceipt, rederive } from "../audit/rederive.js";
import type { CommandContext } from "../cli.js";
import { createRecorder } from "../record.js";
import { systemClock, vnDateTime } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import { silentLogger } from "../shared/log.js";
import { createSigner, loadSigningIdentity } from "../sign/index.js";
import { openStore } from "../store/db.js";
import { ingestStore } from "../store/ingest.js";
import { journalRangeOf } from "../store/journal.js";
import { writerConfig } from "../writer/config.js";
import { recorderSettings } from "../writer/core.js";
import { money, registerIn } from "./audit-journal.js";
import { auditSpan } from "./audit-outages.js";
import { driverWith } from "./decode.js";

type Values = Record<string, string | boolean | undefined>;

/** Thrown inside the transaction to undo a refused release (the write path's own quarantine row included). */
class Refused extends Error {}

export function releaseHeldCommand(v: Values, ctx: CommandContext): number {
  if (typeof v.config !== "string") throw new DaemonError("USAGE", "thiếu --config / --config is required");
  const registerId = typeof v.register === "string" ? v.register : undefined;
  if (!registerId) throw new DaemonError("USAGE", "thiếu --register / --register is required");
  const span = auditSpan(v);
  const { config, register } = registerIn(v.config, registerId);
  const { driver } = driverWith(register.driver, register.options);
  const db = openStore(config.store.path);
  try {
    // Held print-outs are read again from the journal: without it there is nothing to read.
    if (!journalStreams(db).some((s) => s.registerId === registerId))
      throw new DaemonError(
        "USAGE",
        `nhật ký byte gốc không có máy "${registerId}" (journal.enabled?) nên không đọc lại được / ` +
          "the raw journal has no bytes of this register (journal.enabled?): nothing to read again",
      );
    const report = rederive(db, driver, register.options, { registerId, ...span });
    const released = new Set(db.prepare(RELEASED_SQL).pluck().all() as number[]);
    const due = report.receipts.filter(
      (r): r is Extract<RederivedReceipt, { status: "new" }> =>
        r.status === "new" && r.valid && r.held.some((h) => !released.has(h.id)),
    );
    if (due.length === 0) {
      ctx.out(
        `Không có phiếu bị giữ lại nào nay đọc được thành phiếu bán hợp lệ / no held print-out now reads as a valid sale ` +
          `(${registerId}: ${report.counts.new} mới / new, ${Object.entries(report.problems)
            .map(([k, n]) => `${k} ×${n}`)
            .join(", ")})`,
      );
      return 0;
    }
    if (v.yes !== true) {
      for (const r of due)
        ctx.out(`sẽ lập / would invoice  ${r.receiptId}  ${money(r.total)}  (#${r.held.map((h) => h.id).join(", #")})`);
      ctx.out(`Chạy lại với --yes để lập ${due.length} hóa đơn / run again with --yes to issue ${due.length} invoices`);
      return 0;
    }

    const { identity } = loadSigningIdentity(config.signing);
    const wc = writerConfig(config);
    const store = ingestStore(db);
    const record = createRecorder({
      store,
      findIssued: store.findIssuedInvoice,
      signer: createSigner(identity),
      settings: recorderSettings(wc),
      clock: systemClock,
      log: silentLogger,
      storePath: config.store.path,
    });
    const heldRow = db.prepare<[number], { received_at: number; raw: Buffer }>(
      "SELECT received_at, raw FROM quarantine WHERE id = ?",
    );
    const receiptRowOf = db
      .prepare<[string, string], number>("SELECT id FROM receipts WHERE register_id = ? AND receipt_id = ?")
      .pluck();
    let issued = 0;
    let refused = 0;
    for (const r of due) {
      const held = r.held.find((h) => !released.has(h.id))!;
      const row = heldRow.get(held.id)!;
      const raw = Buffer.from(r.raw, "hex");
      const range = journalRangeOf(db, "quarantine", held.id);
      try {
        const mccqt = store.transaction(() => {
          const outcome = record({
            registerId,
            driverId: register.driver,
            receipt: r.receipt,
            raw,
            receivedAt: row.received_at,
            ...(range && Buffer.compare(row.raw, raw) === 0 ? { journal: range } : {}),
          });
          if (outcome.status !== "ok")
            throw new Refused(`${outcome.status}: ${"message" in outcome ? outcome.message : ""}`);
          const receiptRow = receiptRowOf.get(registerId, r.receiptId!)!;
          store.event(systemClock.now(), "quarantine-released", registerId, {
            quarantineId: held.id,
            code: held.code,
            receiptRow,
            mccqt: outcome.invoice.mccqt,
            by: "release-held",
          });
          return outcome.invoice.mccqt;
        });
        issued++;
        ctx.out(
          `đã lập / issued  ${r.receiptId}  ${money(r.total)}  ${mccqt}  (#${held.id} ${held.code}, nhận / received ${vnDateTime(row.received_at)})`,
        );
      } catch (e) {
        if (!(e instanceof Refused)) throw e;
        refused++;
        ctx.err(`KHÔNG lập / refused  ${r.receiptId}: ${e.message}`);
      }
    }
    ctx.out(
      `${issued} hóa đơn đã lập, ${refused} bị từ chối; daemon sẽ gửi ở vòng tới / ` +
        `${issued} invoices issued, ${refused} refused; the running daemon sends them on its next round`,
    );
    return refused === 0 ? 0 : 65;
  } finally {
    db.close();
  }
}
