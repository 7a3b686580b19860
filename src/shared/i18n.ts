/**
 * What shop staff and auditors read: Vietnamese first, English available (`--lang en` or `lang:` in config).
 * One table, so wording stays consistent across the CLI, the demo and the web page.
 */
export type Lang = "vi" | "en";

const MESSAGES = {
  "demo.start": {
    vi: "Chạy thử hoadon: máy tính tiền giả lập → hóa đơn có mã → cơ quan thuế giả lập",
    en: "hoadon demo: simulated register → coded invoice → simulated tax authority",
  },
  "demo.data": { vi: "Thư mục dữ liệu: {dir}", en: "Data folder: {dir}" },
  "demo.cert": {
    vi: "Chứng thư số THỬ NGHIỆM (không dùng thật): {path}",
    en: "TEST-ONLY certificate (never for real invoices): {path}",
  },
  "demo.register": { vi: "Máy tính tiền {id} nối qua {via}", en: "Register {id} connected over {via}" },
  "demo.sale": {
    vi: "{register} hóa đơn {receipt}: {total} đ → {mccqt} (số {shdon}, ký hiệu {khhdon})",
    en: "{register} receipt {receipt}: {total} VND → {mccqt} (no. {shdon}, symbol {khhdon})",
  },
  "demo.accepted": { vi: "  ✓ cơ quan thuế đã nhận {mccqt}", en: "  ✓ accepted by the tax authority: {mccqt}" },
  "demo.rejected": {
    vi: "  ✗ cơ quan thuế từ chối {mccqt}: {reason}",
    en: "  ✗ rejected by the tax authority: {mccqt}: {reason}",
  },
  "demo.summary": {
    vi: "Tổng kết: {sales} lần bán, {invoices} hóa đơn, {accepted} được chấp nhận, {rejected} bị từ chối, {pending} đang chờ",
    en: "Summary: {sales} sales, {invoices} invoices, {accepted} accepted, {rejected} rejected, {pending} pending",
  },
  "demo.timeout": {
    vi: "Hết thời gian chờ: chưa đủ {n} hóa đơn được chấp nhận",
    en: "Timed out before {n} invoices were accepted",
  },
  "demo.keep": { vi: "Giữ dữ liệu tại {dir}", en: "Data kept in {dir}" },
  "error.prefix": { vi: "Lỗi", en: "Error" },
  "verify.ok": { vi: "Hợp lệ: {file}", en: "Valid: {file}" },
  "verify.fail": { vi: "KHÔNG hợp lệ: {file}", en: "NOT valid: {file}" },
  "config.ok": { vi: "Cấu hình hợp lệ: {file}", en: "Config is valid: {file}" },
  "run.ready": {
    vi: "hoadon đang chạy: {registers} máy tính tiền, dữ liệu tại {db}",
    en: "hoadon running: {registers} register(s), data in {db}",
  },
} as const satisfies Record<string, Record<Lang, string>>;

export type MessageKey = keyof typeof MESSAGES;

/** The message in `lang`, with `{name}` placeholders filled in. */
export function msg(lang: Lang, key: MessageKey, params: Record<string, string | number> = {}): string {
  return MESSAGES[key][lang].replace(/\{(\w+)\}/g, (_, k: string) => String(params[k] ?? `{${k}}`));
}

/** 130400 → "130.400", the way Vietnamese receipts print amounts. */
export function formatDong(n: number): string {
  const sign = n < 0 ? "-" : "";
  return sign + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ".");
}
