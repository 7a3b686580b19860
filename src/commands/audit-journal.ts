/**
 * `hoadon audit journal` and `hoadon audit rederive`: the raw capture journal (issue 4 item 5). `journal` without
 * `--register` lists its streams; with it, writes that register's bytes as a capture file, which `hoadon decode
 * --driver ID FILE` reads again. `rederive` reads them again with a driver (a fixed one, or a corrected receipt
 * template) and compares with what the store holds. Read-only over the store.
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { journalCapture, journalStreams } from "../audit/journal.js";
import { type RederivedReceipt, rederive } from "../audit/rederive.js";
import { driverCatalogue } from "../catalogue.js";
import type { CommandContext } from "../cli.js";
import { loadConfig } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { vnDateTime } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import { formatDong } from "../shared/i18n.js";
import { outputError, withDb } from "./audit-ledger.js";
import { auditSpan } from "./audit-outages.js";
import { driverWith, optionsJson } from "./decode.js";

type Values = Record<string, string | boolean | undefined>;

export function auditJournalCommand(v: Values, ctx: CommandContext): number {
  const span = auditSpan(v);
  return withDb(v, (db) => {
    const streams = journalStreams(db);
    if (typeof v.register !== "string") {
      if (v.json) ctx.out(JSON.stringify(streams));
      else if (streams.length === 0) ctx.out("Nhật ký trống / the journal is empty");
      else
        for (const s of streams)
          ctx.out(
            `${s.registerId}\t${s.side === "device" ? "máy in / printer" : "máy tính tiền / register"}\t` +
              `${s.direction === "in" ? "→ hoadon" : "← hoadon"}\t${s.chunks} khúc / chunks\t${s.bytes} byte\t` +
              `${vnDateTime(s.firstAt)} – ${vnDateTime(s.lastAt)}` +
              (s.since === undefined ? "" : `\ttừ byte / from byte ${s.since} (journal.keepDays)`),
          );
      return 0;
    }
    const registerId = v.register;
    if (!streams.some((s) => s.registerId === registerId))
      throw new DaemonError(
        "USAGE",
        `nhật ký không có máy "${registerId}"; có / known: ${[...new Set(streams.map((s) => s.registerId))].join(", ") || "—"}`,
      );
    const pieces = journalCapture(db, { registerId, ...span });
    if (typeof v.out !== "string") {
      for (const piece of pieces) ctx.out(piece.endsWith("\n") ? piece.slice(0, -1) : piece);
      return 0;
    }
    const out = resolve(v.out);
    let bytes = 0;
    try {
      mkdirSync(dirname(out), { recursive: true });
      // "wx": never overwrite a file, not even one that appeared meanwhile.
      const fd = openSync(out, "wx");
      try {
        let buffer = "";
        const flush = (): void => {
          bytes += writeSync(fd, buffer);
          buffer = "";
        };
        for (const piece of pieces) {
          buffer += piece;
          if (buffer.length >= 1 << 16) flush();
        }
        flush();
      } finally {
        closeSync(fd);
      }
    } catch (cause) {
      throw outputError(out, cause);
    }
    ctx.out(`${out}: ${bytes} byte; đọc lại / read again: hoadon decode --driver <driver> ${out}`);
    return 0;
  });
}

/**
 * `hoadon audit rederive`: read a register's journal again with a driver — the register's driver and options from
 * `--config` (after a fix to its receipt template, say), or `--driver ID [--options JSON]` — and compare with the
 * store. Read-only.
 */
export function auditRederiveCommand(v: Values, ctx: CommandContext): number {
  const registerId = typeof v.register === "string" ? v.register : undefined;
  if (!registerId) throw new DaemonError("USAGE", "thiếu --register / --register is required");
  const span = auditSpan(v);
  let dbFile = typeof v.db === "string" ? v.db : undefined;
  let driverId = typeof v.driver === "string" ? v.driver : undefined;
  let options: unknown;
  if (typeof v.config === "string") {
    const { config, register } = registerIn(v.config, registerId);
    dbFile ??= config.store.path;
    driverId ??= register.driver;
    options = register.options;
  }
  if (!dbFile) throw new DaemonError("USAGE", "cần --db hoặc --config / --db or --config is required");
  if (!driverId) throw new DaemonError("USAGE", "cần --driver hoặc --config / --driver or --config is required");
  if (typeof v.options === "string") options = optionsJson(v.options);
  const { driver, options: parsed } = driverWith(driverId, options);
  return withDb({ db: dbFile }, (db) => {
    if (!journalStreams(db).some((s) => s.registerId === registerId))
      throw new DaemonError("USAGE", `nhật ký không có máy "${registerId}" / the journal has no such register`);
    const report = rederive(db, driver, parsed, { registerId, ...span });
    if (v.json) {
      ctx.out(JSON.stringify(report));
      return 0;
    }
    for (const r of report.receipts) ctx.out(rederivedLine(r));
    const c = report.counts;
    ctx.out(
      `${registerId} (${report.driver}): ${c.same} giống, ${c.differs} khác, ${c.new} mới, ${c.missing} không còn đọc ra / ` +
        `${c.same} same, ${c.differs} read differently, ${c.new} new, ${c.missing} no longer read`,
    );
    const held = Object.entries(report.problems);
    if (held.length > 0)
      ctx.out(
        `Driver này sẽ giữ lại để xem xét / this driver would hold for review: ${held.map(([k, n]) => `${k} ×${n}`).join(", ")}`,
      );
    return 0;
  });
}

/** A register of a config file, with the config (USAGE when the config has no such register). */
export function registerIn(
  file: string,
  registerId: string,
): { config: Config; register: Config["registers"][number] } {
  const config = loadConfig(file, driverCatalogue);
  const register = config.registers.find((r) => r.id === registerId);
  if (!register)
    throw new DaemonError(
      "USAGE",
      `${file} không có máy "${registerId}" / no such register; có / known: ${config.registers.map((r) => r.id).join(", ")}`,
    );
  return { config, register };
}

/** An amount for a report line; "?" when the receipt had none that could be read. */
export const money = (n: number | undefined): string => (n === undefined ? "?" : `${formatDong(n)} đ`);

function rederivedLine(r: RederivedReceipt): string {
  switch (r.status) {
    case "same":
      return `giống / same      ${r.receiptId}  ${money(r.total)}${r.mccqt ? `  ${r.mccqt}` : ""}`;
    case "differs":
      return `KHÁC / differs    ${r.receiptId}  ${money(r.storedTotal)} → ${money(r.total)}${r.mccqt ? `  ${r.mccqt}` : ""}  (${r.what})`;
    case "new":
      return (
        `MỚI / new         ${r.receiptId ?? "(không mã / no id)"}  ${money(r.total)}` +
        (r.valid ? "" : "  (không hợp lệ / invalid)") +
        (r.held.length > 0
          ? `  — đã bị giữ lại / was held: ${r.held.map((h) => `#${h.id} ${h.code}`).join(", ")}`
          : "  — chưa từng được lập hóa đơn / never invoiced")
      );
    case "missing":
      return `KHÔNG CÒN / gone  ${r.receiptId}  ${money(r.storedTotal)}${r.mccqt ? `  ${r.mccqt}` : ""}  (driver này không đọc ra / not read by this driver)`;
    default: {
      const never: never = r;
      throw new TypeError(`unknown status ${JSON.stringify(never)}`);
    }
  }
}
