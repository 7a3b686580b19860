/**
 * `hoadon audit list | show | export | report`: the auditor's ledger (design.md CLI contract). Read-only over the
 * store: the file is opened with `openStoreReadOnly`, nothing is written to it. `export` writes only into a new or
 * empty folder and never overwrites a file.
 */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import {
  type DayReport,
  DELIVERY_STATES,
  type DeliveryState,
  dailyReport,
  exportInvoices,
  findInvoice,
  invoiceDetail,
  type LedgerFilter,
  type LedgerRow,
  listInvoices,
  receiptRawOf,
} from "../audit/ledger.js";
import type { CommandContext } from "../cli.js";
import type { JournalRange } from "../ingest/journal-sink.js";
import { vnDateTime } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import { formatDong } from "../shared/i18n.js";
import { openStoreReadOnly } from "../store/db.js";
import { DAY_RE, parseAuditTime } from "./audit-outages.js";

type Values = Record<string, string | boolean | undefined>;

const STATE_TEXT: Readonly<Record<DeliveryState, string>> = {
  pending: "chờ gửi / pending",
  batched: "đang gửi / sent, awaiting result",
  accepted: "CQT đã nhận / accepted",
  rejected: "CQT từ chối / rejected",
};

/** `--from`, `--to` (issue days, YYYY-MM-DD), `--state`, `--register` as a filter. */
export function ledgerFilter(v: Values): LedgerFilter {
  const day = (name: "from" | "to"): string | undefined => {
    const value = v[name];
    if (value === undefined) return undefined;
    if (typeof value !== "string" || !DAY_RE.test(value))
      throw new DaemonError("USAGE", `--${name} "${String(value)}": cần ngày YYYY-MM-DD / expected a day YYYY-MM-DD`);
    parseAuditTime(value, name, false); // refuses a day that does not exist (2026-02-30)
    return value;
  };
  const state = v.state;
  if (state !== undefined && !DELIVERY_STATES.includes(state as DeliveryState))
    throw new DaemonError("USAGE", `--state "${String(state)}": một trong / one of ${DELIVERY_STATES.join(", ")}`);
  const fromDay = day("from");
  const toDay = day("to");
  return {
    ...(fromDay ? { fromDay } : {}),
    ...(toDay ? { toDay } : {}),
    ...(state ? { state: state as DeliveryState } : {}),
    ...(typeof v.register === "string" ? { registerId: v.register } : {}),
  };
}

export function withDb<T>(v: Values, fn: (db: ReturnType<typeof openStoreReadOnly>) => T): T {
  const file = v.db;
  if (typeof file !== "string" || file === "") throw new DaemonError("USAGE", "thiếu --db / --db is required");
  const db = openStoreReadOnly(file);
  try {
    return fn(db);
  } finally {
    db.close();
  }
}

const line = (r: LedgerRow): string =>
  [
    r.nlap,
    `${r.khmshdon}${r.khhdon}`,
    String(r.shdon).padStart(8, "0"),
    r.mccqt,
    formatDong(r.total).padStart(12),
    STATE_TEXT[r.state],
    `${r.registerId}/${r.receiptId}`,
  ].join("  ");

/** `hoadon audit list`: one line per invoice, oldest first. */
export function auditListCommand(v: Values, ctx: CommandContext): number {
  const limit = v.limit === undefined ? undefined : Number(v.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    throw new DaemonError("USAGE", "--limit: số nguyên dương / a positive integer");
  return withDb(v, (db) => {
    const rows = listInvoices(db, ledgerFilter(v), limit);
    if (v.json) {
      ctx.out(JSON.stringify(rows));
      return 0;
    }
    ctx.out("Ngày lập    Mẫu+ký hiệu  Số        Mã CQT                   Tổng tiền (đ)  Trạng thái  Máy/phiếu");
    for (const r of rows) ctx.out(line(r));
    ctx.out(`${rows.length} hóa đơn / invoices`);
    return 0;
  });
}

/** `hoadon audit show KEY`: one invoice, its receipt, its way to the authority; `--xml`/`--out` the signed file. */
export function auditShowCommand(key: string, v: Values, ctx: CommandContext): number {
  return withDb(v, (db) => {
    const row = findInvoice(db, key);
    if (!row)
      throw new DaemonError(
        "USAGE",
        `không có hóa đơn "${key}" (mã CQT M1-26-…, ký hiệu-số C26MAB-123, hoặc #id) / ` +
          `no such invoice (give its MCCQT, symbol-number like C26MAB-123, or #id)`,
      );
    const d = invoiceDetail(db, row);
    if (typeof v.raw === "string") {
      // The bytes the register sent for this sale, exactly as kept with the receipt (the print-out, the frames).
      const out = resolve(v.raw);
      const raw = receiptRawOf(db, row.id);
      writeOut(out, raw);
      ctx.out(`${out}: ${raw.length} byte gốc / raw bytes${d.source ? `, ${sourceText(d.source)}` : ""}`);
    } else if (typeof v.out === "string") {
      const out = resolve(v.out);
      writeOut(out, d.xml);
      ctx.out(`${out}: ${d.xml.length} byte, sha256 ${row.sha256}`);
    } else if (v.xml) ctx.out(d.xml.toString("utf8"));
    else if (v.json) ctx.out(JSON.stringify({ ...d, xml: undefined, xmlBytes: d.xml.length }));
    else {
      ctx.out(`Hóa đơn / invoice ${row.khmshdon}${row.khhdon} số ${row.shdon} — ${row.mccqt}`);
      ctx.out(`  Ngày lập / issued: ${row.nlap} (${vnDateTime(row.createdAt)})`);
      ctx.out(`  Tổng tiền thanh toán / total payable: ${formatDong(row.total)} đ`);
      ctx.out(`  Máy tính tiền / register: ${row.registerId}, phiếu / receipt ${row.receiptId}`);
      ctx.out(`  Nhận lúc / received: ${vnDateTime(d.receivedAt)}, ${d.rawBytes} byte gốc / raw bytes kept`);
      if (d.source) ctx.out(`  Nguồn / source: ${sourceText(d.source)} (hoadon audit journal, --raw FILE)`);
      ctx.out(`  Trạng thái / state: ${STATE_TEXT[row.state]}${row.error ? ` — ${row.error}` : ""}`);
      if (d.batch)
        ctx.out(`  Thông điệp / message: ${d.batch.mtdiep} (${d.batch.state}, ${d.batch.attempts} lần / attempts)`);
      for (const r of d.replies) ctx.out(`  Phản hồi / reply ${r.mltdiep} lúc / at ${vnDateTime(r.receivedAt)}`);
      ctx.out(
        d.intact
          ? `  Tệp ký số nguyên vẹn / signed file intact: ${d.xml.length} byte, sha256 ${row.sha256}`
          : `  TỆP KÝ SỐ ĐÃ BỊ THAY ĐỔI / SIGNED FILE ALTERED: sha256 không khớp / does not match ${row.sha256}`,
      );
    }
    return d.intact ? 0 : 65;
  });
}

/** Where a receipt's bytes lie in the journal, in words. */
export function sourceText(r: JournalRange): string {
  const stream = r.side === "device" ? "máy in / printer" : "máy tính tiền / register";
  return `nhật ký / journal ${r.registerId}, ${stream} ${r.direction === "in" ? "→ hoadon" : "← hoadon"}, byte ${r.start}–${r.end}`;
}

/** Write a new file (never over an existing one, not even one that appeared meanwhile: flag "wx"). */
export function writeOut(path: string, bytes: Uint8Array): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, bytes, { flag: "wx" });
  } catch (cause) {
    throw outputError(path, cause);
  }
}

/** What a failed write of `path` tells the user: it exists already (never overwritten), or it cannot be written. */
export function outputError(path: string, cause: unknown): DaemonError {
  return (cause as NodeJS.ErrnoException).code === "EEXIST"
    ? new DaemonError("USAGE", `${path} đã có, không ghi đè / already exists, not overwritten`, { cause })
    : new DaemonError(
        "OUTPUT_UNWRITABLE",
        `Không ghi được ${path}: ${(cause as Error).message}. Kiểm tra chỗ trống và quyền ghi / ` +
          `cannot write it: check free space and permissions`,
        { cause },
      );
}

/** `hoadon audit export --out DIR`: the signed files byte for byte, a manifest and SHA256SUMS. */
export function auditExportCommand(v: Values, ctx: CommandContext): number {
  const target = v.out;
  if (typeof target !== "string" || target === "") throw new DaemonError("USAGE", "thiếu --out / --out is required");
  const dir = resolve(target);
  if (existsSync(dir) && readdirSync(dir).length > 0)
    throw new DaemonError(
      "USAGE",
      `${dir} không trống; chọn thư mục mới để không ghi đè / is not empty: choose a new folder (nothing is overwritten)`,
    );
  return withDb(v, (db) => {
    const r = exportInvoices(db, ledgerFilter(v), (rel, bytes) => writeOut(join(dir, rel), bytes));
    if (v.json) ctx.out(JSON.stringify({ dir, ...r }));
    else {
      ctx.out(
        `Đã xuất ${r.files} hóa đơn (${r.bytes} byte) vào ${dir}; kiểm tra: cd ${dir} && sha256sum -c SHA256SUMS / ` +
          `exported ${r.files} invoices; check with sha256sum -c SHA256SUMS`,
      );
      for (const a of r.altered) ctx.err(`ĐÃ BỊ THAY ĐỔI / ALTERED: ${a}`);
    }
    return r.altered.length === 0 ? 0 : 65;
  });
}

function reportLines(days: readonly DayReport[]): string[] {
  const out = ["Báo cáo theo ngày lập (giờ Việt Nam) / report per issue day (Vietnam time)"];
  if (days.length === 0) out.push("Không có hóa đơn / no invoices.");
  for (const d of days) {
    const forms = Object.entries(d.byForm)
      .map(([f, n]) => `mẫu ${f}: ${n}`)
      .join(", ");
    out.push(
      `${d.day}: ${d.invoices} hóa đơn / invoices${forms ? ` (${forms})` : ""}, ` +
        `trong đó thay thế / of which replacements: ${d.replacements}`,
      `  Tổng thanh toán / total payable: ${formatDong(d.totalPayable)} đ` +
        (d.totalVat || d.totalBeforeVat
          ? `; chưa thuế / before VAT ${formatDong(d.totalBeforeVat)} đ; thuế GTGT / VAT ${formatDong(d.totalVat)} đ`
          : ""),
    );
    for (const r of d.byRate)
      out.push(`    ${r.TSuat.padEnd(8)} ${formatDong(r.ThTien).padStart(14)} đ  thuế / VAT ${formatDong(r.TThue)} đ`);
    out.push(
      `  CQT đã nhận / accepted ${d.byState.accepted}, từ chối / rejected ${d.byState.rejected}, ` +
        `đang gửi / in flight ${d.byState.batched}, chờ gửi / pending ${d.byState.pending}; ` +
        `phiếu bị giữ lại (chưa lập hóa đơn) / receipts held, not invoiced: ${d.quarantined}` +
        (d.releasedLater > 0 ? `; giữ lại rồi lập hóa đơn sau / held, invoiced later: ${d.releasedLater}` : ""),
    );
    if (d.unreadable > 0)
      out.push(`  KHÔNG ĐỌC ĐƯỢC (đã bị thay đổi) / UNREADABLE (altered): ${d.unreadable} hóa đơn / invoices`);
    if (d.registerNotices.length > 0) out.push("  Máy tính tiền tự báo / the registers reported:");
    for (const n of d.registerNotices)
      out.push(`    ${n.registerId} ${vnDateTime(n.receivedAt).slice(11, 16)}: ${n.detail}`);
  }
  return out;
}

/** `hoadon audit report`: per issue day, counts and totals read from the signed invoices. */
export function auditReportCommand(v: Values, ctx: CommandContext): number {
  return withDb(v, (db) => {
    const days = dailyReport(db, ledgerFilter(v));
    if (v.json) ctx.out(JSON.stringify(days));
    else for (const l of reportLines(days)) ctx.out(l);
    return 0;
  });
}
