/**
 * `hoadon audit outages --db FILE [--from DATE] [--to DATE] [--json]`: the outage evidence report (issue 5,
 * spec §7.4) over the store, read-only, and when hoadon was not reading the registers (src/audit/line-outages.ts).
 * Dates are `YYYY-MM-DD` (a Vietnam-local day: `--from` its start, `--to` its end) or an ISO 8601 time with its zone.
 */
import { type LineOutageReport, lineOutages } from "../audit/line-outages.js";
import type { CommandContext } from "../cli.js";
import { type Outage, type OutageReport, outageReport } from "../forward/outages.js";
import { VN_OFFSET_MS, vnDateTime } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import { openStoreReadOnly } from "../store/db.js";

/** Usage line for `hoadon audit outages`. */
export const AUDIT_OUTAGES_USAGE = "hoadon audit outages --db FILE [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]";

/** A Vietnam-local day as the audit commands take it. */
export const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/**
 * A `--from`/`--to` value as epoch ms: a Vietnam-local day (its first millisecond, or its last with `endOfDay`),
 * or an ISO 8601 time with a zone. Throws `USAGE` otherwise.
 */
export function parseAuditTime(text: string, name: string, endOfDay: boolean): number {
  if (DAY_RE.test(text)) {
    const start = Date.parse(`${text}T00:00:00Z`) - VN_OFFSET_MS;
    if (Number.isFinite(start) && new Date(start + VN_OFFSET_MS).toISOString().startsWith(text))
      return endOfDay ? start + 86_400_000 - 1 : start;
  } else if (/[zZ]|[+-]\d{2}:?\d{2}$/.test(text)) {
    const ms = Date.parse(text);
    if (Number.isFinite(ms)) return ms;
  }
  throw new DaemonError(
    "USAGE",
    `--${name} "${text}": cần YYYY-MM-DD hoặc thời điểm ISO 8601 có múi giờ / expected YYYY-MM-DD or an ISO time with zone`,
  );
}

function span(ms: number): string {
  if (ms < 59_500) return `${Math.round(ms / 1000)} giây / s`;
  const min = Math.round(ms / 60_000);
  if (min < 60) return `${min} phút / min`;
  const h = Math.floor(min / 60);
  return h < 48
    ? `${h} giờ ${min % 60} phút / ${h} h ${min % 60} min`
    : `${Math.floor(h / 24)} ngày ${h % 24} giờ / days`;
}

const SIDE: Readonly<Record<Outage["side"], string>> = {
  ours: "phía cửa hàng: mạng, DNS, TLS, kết nối / our side (network, DNS, TLS)",
  theirs: "phía T-VAN hoặc cơ quan thuế / the T-VAN's or the authority's side",
};

/** The report as text lines, Vietnamese first (times in Vietnam local time). */
export function formatOutageReport(r: OutageReport): string[] {
  const range =
    r.from === undefined && r.to === undefined
      ? "toàn bộ / all time"
      : `${r.from === undefined ? "…" : vnDateTime(r.from)} → ${r.to === undefined ? "…" : vnDateTime(r.to)}`;
  const lines = [`Sự cố gửi hóa đơn / delivery outages (${range}, giờ Việt Nam / Vietnam time)`];
  if (r.outages.length === 0) lines.push("Không có sự cố nào / no outages.");
  for (const o of r.outages) {
    lines.push("");
    const what =
      o.kind === "result"
        ? "không có kết quả của cơ quan thuế đúng hạn / no result from the authority in time"
        : "gọi T-VAN thất bại / calls failed";
    lines.push(`#${o.n} ${what} — ${SIDE[o.side]}`);
    lines.push(`   địa chỉ / endpoint: ${o.endpoint} (${o.paths.join(", ") || "?"})`);
    lines.push(
      `   từ / from ${vnDateTime(o.start)} đến / to ${o.end === undefined ? "nay (chưa khôi phục) / now (ongoing)" : `${vnDateTime(o.end)} (khôi phục / recovered)`}` +
        ` — ${span(o.durationMs)}`,
    );
    lines.push(
      `   lần thử / attempts: ${o.attempts} · mã / codes: ${o.codes.map((c) => `${c.code} ×${c.count}`).join(", ")}`,
    );
    for (const e of o.examples) lines.push(`   ví dụ / e.g.: ${e}`);
    const first = o.invoices[0];
    const last = o.invoices[o.invoices.length - 1];
    lines.push(
      `   hóa đơn bị ảnh hưởng / invoices affected: ${o.invoices.length}` +
        (first && last ? ` (${first.mccqt} … ${last.mccqt})` : "") +
        ` · trễ hạn / late: ${o.late}`,
    );
    for (const v of o.invoices.filter((x) => x.late).slice(0, 20))
      lines.push(
        `     trễ / late: ${v.mccqt} hạn / due ${vnDateTime(v.deadlineAt)}, ` +
          (v.sentAt === undefined ? "chưa gửi / not sent yet" : `gửi / sent ${vnDateTime(v.sentAt)}`),
      );
    if (o.late > 20) lines.push(`     … và ${o.late - 20} hóa đơn trễ khác / more (--json lists all)`);
  }
  if (r.resultsOverdue.length > 0) {
    lines.push("", "Lô quá hạn chờ kết quả (204) / batches whose result (204) was overdue:");
    for (const a of r.resultsOverdue)
      lines.push(
        `   lô / batch #${a.batchId} ${a.mtdiep} (${a.invoices} hóa đơn / invoices): T-VAN nhận / taken ` +
          `${vnDateTime(a.submittedAt)}, báo động / alarm ${vnDateTime(a.raisedAt)} (hạn chờ / deadline ` +
          `${span(a.deadlineMs)}), ` +
          (a.resultAt === undefined
            ? "vẫn chưa có kết quả, vẫn đang hỏi / still no result, still asking"
            : `có kết quả / result ${vnDateTime(a.resultAt)} (${a.state === "done" ? "xong / done" : "bị từ chối / failed"})`),
      );
  }
  return lines;
}

const LINE_KIND = {
  "hoadon-stopped": "hoadon đã dừng / hoadon was stopped",
  "hoadon-not-closed": "hoadon dừng đột ngột (mất điện, lỗi?) / hoadon stopped without closing (power cut, crash?)",
} as const;

/** When hoadon was not reading the registers, as text lines (Vietnamese first, Vietnam local time). */
export function formatLineOutages(r: LineOutageReport): string[] {
  const lines = ["Khi hoadon không đọc được máy tính tiền / when hoadon was not reading the registers"];
  if (r.outages.length === 0) lines.push("Không có / none.");
  for (const o of r.outages) {
    const who =
      o.kind === "port"
        ? `${o.registerId}${o.side === "device" ? " — thiết bị / device" : ""}: mất đường truyền / line down`
        : LINE_KIND[o.kind];
    const end = o.end === undefined ? "nay / now (chưa khôi phục / ongoing)" : vnDateTime(o.end);
    lines.push(`   ${who}: ${vnDateTime(o.start)} → ${end} — ${span(o.durationMs)}`);
    if (o.errors.length > 0) lines.push(`      lỗi / errors: ${o.errors.join(" · ")}`);
  }
  if (r.short > 0)
    lines.push(
      `   (${r.short} lần mất đường truyền ngắn hơn ${r.minMs / 1000} s không liệt kê / shorter line drops not listed)`,
    );
  return lines;
}

/** `--from` / `--to` as epoch ms (only those given), refused when --from is after --to. */
export function auditSpan(values: Record<string, string | boolean | undefined>): { from?: number; to?: number } {
  const from = typeof values.from === "string" ? parseAuditTime(values.from, "from", false) : undefined;
  const to = typeof values.to === "string" ? parseAuditTime(values.to, "to", true) : undefined;
  if (from !== undefined && to !== undefined && from > to)
    throw new DaemonError("USAGE", "--from phải trước --to / --from must not be after --to");
  return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }) };
}

/** The command: `(values, positionals, ctx) → exit status`. */
export async function auditOutagesCommand(
  values: Record<string, string | boolean | undefined>,
  _positionals: readonly string[],
  ctx: CommandContext,
  now: () => number = Date.now,
): Promise<number> {
  const db = typeof values.db === "string" && values.db !== "" ? values.db : undefined;
  if (!db) throw new DaemonError("USAGE", "thiếu --db / --db is required");
  const { from, to } = auditSpan(values);
  const store = openStoreReadOnly(db);
  try {
    const at = now();
    const report = outageReport(store, { from, to, now: at });
    const lines = lineOutages(store, { from, to, now: at });
    if (values.json) ctx.out(JSON.stringify({ ...report, lines }, null, 2));
    else for (const line of [...formatOutageReport(report), "", ...formatLineOutages(lines)]) ctx.out(line);
    return 0;
  } finally {
    store.close();
  }
}
