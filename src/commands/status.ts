/** `hoadon status`: backlog, oldest unsent invoice and its deadline, last accepted — read-only. */
import { HELD_SQL } from "../audit/ledger.js";
import { driverCatalogue } from "../catalogue.js";
import type { CommandContext } from "../cli.js";
import { loadConfig } from "../config/load.js";
import { formatDeadline, formatResultsOverdue } from "../forward/deadline.js";
import { systemClock, vnDateTime } from "../shared/clock.js";
import { openStoreReadOnly } from "../store/db.js";
import { outboxStatus } from "../store/outbox.js";

export async function statusCommand(
  file: string,
  v: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): Promise<number> {
  const config = loadConfig(file, driverCatalogue);
  const db = openStoreReadOnly(config.store.path);
  try {
    const s = outboxStatus(db, systemClock.now());
    // A register's own reports (day close, a cancelled receipt) are kept there too but are not held receipts.
    const quarantined = (db.prepare(`SELECT count(*) AS n FROM quarantine WHERE ${HELD_SQL}`).get() as { n: number }).n;
    const invoices = (db.prepare("SELECT count(*) AS n FROM invoices").get() as { n: number }).n;
    if (v.json) {
      ctx.out(JSON.stringify({ invoices, quarantined, ...s }, null, 2));
      return 0;
    }
    const now = systemClock.now();
    ctx.out(
      `Hóa đơn / invoices: ${invoices}  ·  đã nhận / accepted: ${s.accepted}  ·  bị từ chối / rejected: ${s.rejected}`,
    );
    ctx.out(`Chờ gửi / backlog: ${s.backlog}  ·  cần xem lại / quarantined receipts: ${quarantined}`);
    if (s.oldestUnsent) {
      const leftMin = Math.round((s.oldestUnsent.deadlineAt - now) / 60_000);
      ctx.out(
        `Cũ nhất chưa gửi / oldest unsent: ${s.oldestUnsent.mccqt} (${vnDateTime(s.oldestUnsent.createdAt)}), ` +
          (leftMin >= 0
            ? `còn / due in ${Math.floor(leftMin / 60)} h ${leftMin % 60} min`
            : `QUÁ HẠN / OVERDUE ${Math.floor(-leftMin / 60)} h ${-leftMin % 60} min`),
      );
    }
    for (const line of formatDeadline(s.deadline)) ctx.out(line);
    for (const line of formatResultsOverdue(s.resultsOverdue, now)) ctx.out(line);
    if (s.lastAccepted)
      ctx.out(`Gần nhất được nhận / last accepted: ${s.lastAccepted.mccqt} (${vnDateTime(s.lastAccepted.at)})`);
    return 0;
  } finally {
    db.close();
  }
}
