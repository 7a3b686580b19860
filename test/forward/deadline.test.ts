import { describe, expect, it } from "vitest";
import { formatDeadline } from "../../src/forward/deadline.js";

const NOW = Date.UTC(2026, 10, 20, 15, 30, 0); // 22:30 in Vietnam
const MIDNIGHT = Date.UTC(2026, 10, 20, 17, 0, 0);

describe("formatDeadline", () => {
  it("shows overdue invoices, the count-down to the next deadline and late sends, Vietnamese first", () => {
    expect(
      formatDeadline({
        now: NOW,
        overdue: 3,
        dueWithinHour: 0,
        next: { invoiceId: 9, mccqt: "M1-26-A1B2C-00000000009", deadlineAt: MIDNIGHT, msLeft: MIDNIGHT - NOW },
        sentLate: 2,
      }),
    ).toEqual([
      "QUÁ HẠN GỬI / OVERDUE: 3 hóa đơn chưa gửi đã qua hạn trong ngày / unsent past their day",
      "Hạn gần nhất / next deadline: M1-26-A1B2C-00000000009 trước / by 2026-11-21T00:00:00, còn / in 1 h 30 min",
      "Đã gửi trễ hạn / sent late: 2 (xem / see hoadon audit outages)",
    ]);
  });

  it("says so when nothing waits", () => {
    expect(formatDeadline({ now: NOW, overdue: 0, dueWithinHour: 0, next: undefined, sentLate: 0 })).toEqual([
      "Không có hóa đơn nào chờ gửi / nothing waiting to be sent",
    ]);
  });

  it("warns about invoices due within the hour", () => {
    const lines = formatDeadline({
      now: MIDNIGHT - 20 * 60_000,
      overdue: 0,
      dueWithinHour: 4,
      next: { invoiceId: 1, mccqt: "M1-26-A1B2C-00000000001", deadlineAt: MIDNIGHT, msLeft: 20 * 60_000 },
      sentLate: 0,
    });
    expect(lines).toEqual([
      "Hạn gần nhất / next deadline: M1-26-A1B2C-00000000001 trước / by 2026-11-21T00:00:00, còn / in 0 h 20 min · 4 hóa đơn hết hạn trong 1 giờ / due within the hour",
    ]);
  });
});
