/**
 * The deadline clock as text for `hoadon status` (issue 5, spec §7.4): invoices must reach the authority on their
 * own Vietnam-local day. The figures come from `outboxStatus(db, now).deadline` (store/outbox.ts).
 */
import { vnDateTime } from "../shared/clock.js";
import type { DeadlineStatus, ResultsOverdue } from "../store/outbox.js";

function hm(ms: number): string {
  const min = Math.floor(Math.abs(ms) / 60_000);
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** Lines for `hoadon status`, Vietnamese first: overdue count, the next deadline with its count-down, late ones. */
export function formatDeadline(d: DeadlineStatus): string[] {
  const lines: string[] = [];
  if (d.overdue > 0)
    lines.push(`QUÁ HẠN GỬI / OVERDUE: ${d.overdue} hóa đơn chưa gửi đã qua hạn trong ngày / unsent past their day`);
  if (d.next)
    lines.push(
      `Hạn gần nhất / next deadline: ${d.next.mccqt} trước / by ${vnDateTime(d.next.deadlineAt)}, ` +
        `còn / in ${hm(d.next.msLeft)}` +
        (d.dueWithinHour > 0 ? ` · ${d.dueWithinHour} hóa đơn hết hạn trong 1 giờ / due within the hour` : ""),
    );
  if (d.sentLate > 0) lines.push(`Đã gửi trễ hạn / sent late: ${d.sentLate} (xem / see hoadon audit outages)`);
  if (lines.length === 0) lines.push("Không có hóa đơn nào chờ gửi / nothing waiting to be sent");
  return lines;
}

/**
 * The give-up alarm for `hoadon status`: batches the T-VAN took whose result (204) is past the reply deadline and
 * still missing, and the oldest of them. Nothing when there are none.
 */
export function formatResultsOverdue(r: ResultsOverdue, now: number): string[] {
  if (r.batches === 0 || !r.oldest) return [];
  const o = r.oldest;
  return [
    `CHƯA CÓ KẾT QUẢ / RESULT OVERDUE: ${r.batches} lô (${r.invoices} hóa đơn) T-VAN đã nhận nhưng cơ quan thuế chưa trả ` +
      `kết quả quá hạn chờ; vẫn đang hỏi / batches taken by the T-VAN with no result past the reply deadline; still asking`,
    `   cũ nhất / oldest: lô / batch #${o.batchId} ${o.mtdiep}, T-VAN nhận / taken ${vnDateTime(o.submittedAt)}, ` +
      `đã chờ / waiting ${hm(now - o.submittedAt)} (xem / see hoadon audit outages)`,
  ];
}
