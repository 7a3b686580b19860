/**
 * The auditor's read-only web page (design.md "audit"). It opens the store read-only, has no route that changes
 * anything (every method but GET/HEAD is 405), binds 127.0.0.1 by default and asks for a token when bound elsewhere.
 * Plain server-rendered HTML: nothing to build, nothing loaded from outside, works in any browser on the box.
 */
import { timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { utf8Text } from "../driver-api/index.js";
import type { JournalRange } from "../ingest/journal-sink.js";
import { readInvoiceFacts } from "../invoice/index.js";
import { vnDateTime } from "../shared/clock.js";
import type { Lang } from "../shared/i18n.js";
import { formatDong } from "../shared/i18n.js";
import type { Db } from "../store/db.js";
import { outboxStatus } from "../store/outbox.js";
import { daemonState, identityChanges, lastDaemonRun } from "../store/register-status.js";
import { readSignedXml, type StoredSignedXml } from "../store/signed-xml.js";
import { heldDetail, previewOf } from "./held.js";
import { journalSourceOf, journalSummary } from "./journal.js";
import { HELD_SQL, NOTICE_SQL, RELEASED_SQL, receiptRawOf, releasedAsSql } from "./ledger.js";
import { lineOutages } from "./line-outages.js";
import { describeIdentity, type RegisterState, registerStates } from "./registers.js";
import { verifyStore } from "./verify-store.js";

export interface AuditHttpOptions {
  readonly db: Db;
  readonly host?: string;
  readonly port?: number;
  /** Required when `host` is not a loopback address: `?token=` or `Authorization: Bearer`. */
  readonly token?: string;
  readonly trustedCertPem?: string;
  readonly now?: () => number;
}

const PAGE_SIZE = 50;

const esc = (s: unknown): string =>
  String(s ?? "").replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c] as string,
  );

const T = {
  title: { vi: "Kiểm tra hóa đơn máy tính tiền", en: "Cash-register invoice audit" },
  summary: { vi: "Tổng quan", en: "Summary" },
  invoices: { vi: "Hóa đơn", en: "Invoices" },
  quarantine: { vi: "Cần xem lại", en: "Held for review" },
  reported: {
    vi: "Máy tính tiền tự báo (chốt ngày, phiếu hủy trước khi thanh toán)",
    en: "Reported by the registers (day closes, receipts cancelled before payment)",
  },
  verify: { vi: "Kiểm tra toàn vẹn", en: "Integrity check" },
  accepted: { vi: "Đã được chấp nhận", en: "Accepted" },
  rejected: { vi: "Bị từ chối", en: "Rejected" },
  backlog: { vi: "Chờ gửi", en: "Waiting to be sent" },
  oldest: { vi: "Cũ nhất chưa gửi", en: "Oldest unsent" },
  overdue: { vi: "QUÁ HẠN", en: "OVERDUE" },
  dueIn: { vi: "còn", en: "due in" },
  state: { vi: "Trạng thái", en: "State" },
  date: { vi: "Ngày lập", en: "Issued" },
  total: { vi: "Tổng tiền", en: "Total" },
  symbol: { vi: "Ký hiệu", en: "Symbol" },
  number: { vi: "Số", en: "No." },
  register: { vi: "Máy", en: "Register" },
  reason: { vi: "Lý do", en: "Reason" },
  received: { vi: "Nhận lúc", en: "Received" },
  download: { vi: "Tải XML đã ký (nguyên bản)", en: "Download the signed XML (exact bytes)" },
  intact: { vi: "Toàn vẹn", en: "Intact" },
  broken: { vi: "KHÔNG toàn vẹn", en: "NOT intact" },
  journal: { vi: "Nhật ký byte gốc", en: "Raw journal" },
  printed: { vi: "Nội dung in ra", en: "As printed" },
  picture: { vi: "Hình in ra", en: "Printed picture" },
  releasedAs: { vi: "Đã lập hóa đơn sau", en: "Invoiced later as" },
  released: {
    vi: "Đã lập hóa đơn sau khi đọc lại (hoadon release-held)",
    en: "Invoiced after being read again (hoadon release-held)",
  },
  raw: { vi: "Byte gốc từ máy tính tiền", en: "Raw bytes from the register" },
  rawDownload: { vi: "Tải byte gốc", en: "Download the raw bytes" },
  journalAt: { vi: "trong nhật ký", en: "in the journal" },
  more: { vi: "… còn nữa: tải về để xem hết", en: "… more: download them to see all" },
  readOnly: { vi: "Chỉ đọc — trang này không thay đổi dữ liệu.", en: "Read-only — this page changes nothing." },
  next: { vi: "Trang sau", en: "Next page" },
  prev: { vi: "Trang trước", en: "Previous page" },
  notFound: { vi: "Không tìm thấy", en: "Not found" },
  registers: { vi: "Máy tính tiền", en: "Registers" },
  lastRun: { vi: "Lần chạy gần nhất của hoadon", en: "hoadon's latest run" },
  since: { vi: "từ", en: "since" },
  stoppedAt: { vi: "dừng lúc", en: "stopped at" },
  running: { vi: "đang chạy", en: "running" },
  unclean: {
    vi: "chưa ghi lần dừng: đã dừng đột ngột (mất điện, lỗi?), hoặc đây là bản sao chép lúc hoadon đang chạy",
    en: "no stop recorded: stopped without closing (power cut, crash?), or this is a copy taken while hoadon ran",
  },
  noRun: { vi: "chưa ghi lần chạy nào", en: "no run recorded" },
  today: { vi: "Hôm nay", en: "Today" },
  lastReceipt: { vi: "Phiếu gần nhất", en: "Latest receipt" },
  deviceId: { vi: "Máy (tự báo)", en: "Device (as it reports itself)" },
  changes: { vi: "Đổi máy, đổi firmware", en: "Device and firmware changes" },
  before: { vi: "Trước", en: "Before" },
  after: { vi: "Sau", en: "After" },
  changedFields: { vi: "Thay đổi", en: "Changed" },
  when: { vi: "Lúc", en: "When" },
  port: { vi: "Cổng (lần chạy gần nhất)", en: "Port (latest run)" },
  up: { vi: "đã kết nối", en: "connected" },
  down: { vi: "MẤT KẾT NỐI", en: "DISCONNECTED" },
  failing: { vi: "KHÔNG MỞ ĐƯỢC", en: "CANNOT OPEN" },
  listening: { vi: "đang chờ máy kết nối", en: "waiting for it to connect" },
  device: { vi: "thiết bị", en: "device" },
  gaps: { vi: "Khi hoadon không đọc được máy tính tiền", en: "When hoadon was not reading the registers" },
  from: { vi: "Từ", en: "From" },
  to: { vi: "Đến", en: "To" },
  what: { vi: "Điều gì", en: "What" },
  errors: { vi: "Lỗi", en: "Errors" },
  ongoing: { vi: "chưa khôi phục", en: "ongoing" },
  stoppedGap: { vi: "hoadon đã dừng", en: "hoadon was stopped" },
  uncleanGap: { vi: "hoadon dừng đột ngột (mất điện, lỗi?)", en: "hoadon stopped without closing (power cut, crash?)" },
  lineDown: { vi: "mất đường truyền", en: "line down" },
  shortOnes: { vi: "lần mất đường truyền dưới 1 phút không liệt kê", en: "line drops under a minute not listed" },
  none: { vi: "Không có", en: "None" },
} as const satisfies Record<string, Record<Lang, string>>;

const STATE_WORDS: Record<string, Record<Lang, string>> = {
  pending: { vi: "chờ gửi", en: "pending" },
  batched: { vi: "đã gửi, chờ trả lời", en: "sent, awaiting reply" },
  accepted: { vi: "đã chấp nhận", en: "accepted" },
  rejected: { vi: "bị từ chối", en: "rejected" },
};

function layout(lang: Lang, title: string, body: string): string {
  const t = (k: keyof typeof T): string => T[k][lang];
  const q = lang === "en" ? "?lang=en" : "";
  return `<!doctype html><html lang="${lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>${esc(title)} · hoadon</title><style>
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#0b5394;color:#fff;padding:.6rem 1rem}header a{color:#fff;margin-right:1rem;text-decoration:none}
main{padding:1rem;max-width:70rem}table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #ddd;padding:.35rem .5rem;text-align:left;vertical-align:top}td.n{text-align:right}
.ok{color:#0a6b2b;font-weight:600}.bad{color:#b00020;font-weight:600}.muted{color:#666;font-size:.9em}
pre{white-space:pre-wrap;word-break:break-all;background:#fff;border:1px solid #ddd;padding:.5rem;font-size:12px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem}dt{color:#555}
</style></head><body><header><strong>${esc(t("title"))}</strong> &nbsp;
<a href="/${q}">${esc(t("summary"))}</a><a href="/invoices${q}">${esc(t("invoices"))}</a>
<a href="/quarantine${q}">${esc(t("quarantine"))}</a><a href="/registers${q}">${esc(t("registers"))}</a>
<a href="/verify${q}">${esc(t("verify"))}</a>
<a href="?lang=${lang === "en" ? "vi" : "en"}">${lang === "en" ? "Tiếng Việt" : "English"}</a></header>
<main><h1>${esc(title)}</h1>${body}<p class="muted">${esc(t("readOnly"))}</p></main></body></html>`;
}

interface InvoiceRow {
  id: number;
  khmshdon: string;
  khhdon: string;
  shdon: number;
  mccqt: string;
  nlap: string;
  total: number;
  state: string | null;
  error: string | null;
  register_id: string;
  created_at: number;
}

/** How many raw bytes the invoice page shows (all of them are in the download). */
const RAW_SHOWN = 4096;

/**
 * Raw bytes for reading: as text when they are printable UTF-8 (an ndjson line), else a hex dump with the printable
 * ASCII beside it (frames, ESC/POS), 16 bytes a line.
 */
function rawView(bytes: Uint8Array): { text: string; hex: boolean } {
  const shown = bytes.subarray(0, RAW_SHOWN);
  const text = utf8Text(shown);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what make bytes unreadable as text
  if (text !== undefined && !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text)) return { text, hex: false };
  let out = "";
  for (let i = 0; i < shown.length; i += 16) {
    const row = shown.subarray(i, i + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const ascii = [...row].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : ".")).join("");
    out += `${i.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  |${ascii}|\n`;
  }
  return { text: out, hex: true };
}

/** The request handler, separate from listening so tests can drive it directly. */
export function auditHandler(opts: AuditHttpOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const { db } = opts;
  const now = opts.now ?? Date.now;
  const listInvoices = db.prepare<[number, number], InvoiceRow>(
    `SELECT i.id, i.khmshdon, i.khhdon, i.shdon, i.mccqt, i.nlap, i.total, d.state, d.error, r.register_id, i.created_at
       FROM invoices i JOIN receipts r ON r.id = i.receipt_row LEFT JOIN deliveries d ON d.invoice_id = i.id
      ORDER BY i.id DESC LIMIT ? OFFSET ?`,
  );
  const oneInvoice = db.prepare<
    [number],
    InvoiceRow &
      StoredSignedXml & { qr: string; sha256: string; receipt_json: string; receipt_row: number; driver: string }
  >(
    `SELECT i.*, d.state, d.error, r.register_id, r.receipt_json, r.driver FROM invoices i JOIN receipts r ON r.id = i.receipt_row
       LEFT JOIN deliveries d ON d.invoice_id = i.id WHERE i.id = ?`,
  );
  /** Raw bytes as kept: their size, where they lie in the journal, a download, and a readable view. */
  const rawSection = (lang: Lang, href: string, raw: Uint8Array, source: JournalRange | undefined): string => {
    const t = (k: keyof typeof T): string => T[k][lang];
    return `<h2>${t("raw")}</h2><p id="source">${raw.length} byte${
      source
        ? ` · ${t("journalAt")} ${esc(source.registerId)} ${source.side}/${source.direction}, byte ${source.start}–${source.end}`
        : ""
    } · <a href="${href}">${t("rawDownload")}</a></p>${collapsed(rawView(raw), raw.length > RAW_SHOWN ? `\n${t("more")}` : "")}`;
  };
  /** Readable text stays open; a hex dump (frames, ESC/POS) folds away under its first line. */
  const collapsed = (view: { text: string; hex: boolean }, more: string): string => {
    const pre = `<pre id="raw">${esc(view.text)}${more}</pre>`;
    return view.hex ? `<details><summary>hex</summary>${pre}</details>` : pre;
  };
  type QuarantineRow = { id: number; register_id: string; received_at: number; code: string; detail: string };
  // A register's own reports (day close, a receipt it cancelled) are kept in quarantine too, but hold nothing back.
  const listQuarantine = db.prepare<[], QuarantineRow>(
    `SELECT id, register_id, received_at, code, detail FROM quarantine WHERE ${HELD_SQL}
      ORDER BY id DESC LIMIT 200`,
  );
  // Print-outs held once and invoiced later (`hoadon release-held`): the reason, then the invoice they became.
  const listReleased = db.prepare<[], QuarantineRow>(
    `SELECT q.id, q.register_id, q.received_at, q.code, '→ ' || ${releasedAsSql("q")} AS detail
       FROM quarantine q WHERE q.id IN (${RELEASED_SQL}) ORDER BY q.id DESC LIMIT 200`,
  );
  const listNotices = db.prepare<[], QuarantineRow>(
    `SELECT id, register_id, received_at, code, detail FROM quarantine WHERE code IN (${NOTICE_SQL})
      ORDER BY id DESC LIMIT 200`,
  );
  const count = (sql: string): number => (db.prepare(sql).get() as { n: number }).n;

  const authorised = (req: IncomingMessage, url: URL): boolean => {
    if (!opts.token) return true;
    const given = url.searchParams.get("token") ?? req.headers.authorization?.replace(/^Bearer /, "") ?? "";
    const a = Buffer.from(given);
    const b = Buffer.from(opts.token);
    return a.length === b.length && timingSafeEqual(a, b);
  };

  return (req, res) => {
    const url = new URL(req.url ?? "/", "http://audit.local");
    const lang: Lang = url.searchParams.get("lang") === "en" ? "en" : "vi";
    const t = (k: keyof typeof T): string => T[k][lang];
    const send = (status: number, body: string | Buffer, type = "text/html; charset=utf-8"): void => {
      res.writeHead(status, {
        "content-type": type,
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'",
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
      });
      res.end(req.method === "HEAD" ? undefined : body);
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return send(405, layout(lang, "405", "<p>Chỉ đọc / read-only</p>"));
    }
    if (!authorised(req, url)) return send(401, layout(lang, "401", "<p>Cần mã truy cập / token required</p>"));
    const q = lang === "en" ? "?lang=en" : "";
    const path = url.pathname;
    try {
      if (path === "/") {
        const s = outboxStatus(db);
        const invoices = count("SELECT count(*) AS n FROM invoices");
        const held = count(`SELECT count(*) AS n FROM quarantine WHERE ${HELD_SQL}`);
        let oldest = "—";
        if (s.oldestUnsent) {
          const left = Math.round((s.oldestUnsent.deadlineAt - now()) / 60_000);
          oldest = `${esc(s.oldestUnsent.mccqt)} · ${
            left >= 0
              ? `${t("dueIn")} ${Math.floor(left / 60)} h ${left % 60} min`
              : `<span class="bad">${t("overdue")} ${Math.floor(-left / 60)} h ${-left % 60} min</span>`
          }`;
        }
        return send(
          200,
          layout(
            lang,
            t("summary"),
            `<dl><dt>${t("invoices")}</dt><dd id="invoices">${invoices}</dd>
<dt>${t("accepted")}</dt><dd id="accepted">${s.accepted}</dd><dt>${t("rejected")}</dt><dd id="rejected">${s.rejected}</dd>
<dt>${t("backlog")}</dt><dd id="backlog">${s.backlog}</dd><dt>${t("oldest")}</dt><dd>${oldest}</dd>
<dt>${t("quarantine")}</dt><dd id="held">${held}</dd></dl>`,
          ),
        );
      }
      if (path === "/invoices") {
        const page = Math.max(0, Number(url.searchParams.get("page") ?? 0) | 0);
        const rows = listInvoices.all(PAGE_SIZE, page * PAGE_SIZE);
        const body = `<table><thead><tr><th>MCCQT</th><th>${t("symbol")}</th><th>${t("number")}</th><th>${t("date")}</th>
<th>${t("register")}</th><th>${t("total")}</th><th>${t("state")}</th></tr></thead><tbody>${rows
          .map(
            (
              r,
            ) => `<tr><td><a href="/invoices/${r.id}${q}">${esc(r.mccqt)}</a></td><td>${esc(r.khmshdon + r.khhdon)}</td>
<td class="n">${r.shdon}</td><td>${esc(r.nlap)}</td><td>${esc(r.register_id)}</td><td class="n">${formatDong(r.total)} đ</td>
<td>${esc(STATE_WORDS[r.state ?? ""]?.[lang] ?? r.state)}${r.error ? `<br><span class="muted">${esc(r.error)}</span>` : ""}</td></tr>`,
          )
          .join(
            "",
          )}</tbody></table><p>${page > 0 ? `<a href="/invoices?page=${page - 1}${lang === "en" ? "&lang=en" : ""}">${t("prev")}</a> ` : ""}${
          rows.length === PAGE_SIZE
            ? `<a href="/invoices?page=${page + 1}${lang === "en" ? "&lang=en" : ""}">${t("next")}</a>`
            : ""
        }</p>`;
        return send(200, layout(lang, t("invoices"), body));
      }
      const xmlMatch = /^\/invoices\/(\d+)\.xml$/.exec(path);
      if (xmlMatch) {
        const row = oneInvoice.get(Number(xmlMatch[1]));
        if (!row) return send(404, layout(lang, t("notFound"), ""));
        // What is stored, unchecked: `hoadon audit verify` is where a changed invoice is named.
        return send(200, readSignedXml(row), "application/xml");
      }
      const rawMatch = /^\/invoices\/(\d+)\.raw$/.exec(path);
      if (rawMatch) {
        const row = oneInvoice.get(Number(rawMatch[1]));
        if (!row) return send(404, layout(lang, t("notFound"), ""));
        res.setHeader("content-disposition", `attachment; filename="${row.mccqt}.bin"`);
        return send(200, receiptRawOf(db, row.id), "application/octet-stream");
      }
      const detail = /^\/invoices\/(\d+)$/.exec(path);
      if (detail) {
        const row = oneInvoice.get(Number(detail[1]));
        if (!row) return send(404, layout(lang, t("notFound"), ""));
        const xml = readSignedXml(row).toString("utf8");
        const facts = readInvoiceFacts(xml);
        const raw = receiptRawOf(db, row.id);
        const source = journalSourceOf(db, "receipt", row.receipt_row);
        const printed = previewOf(row.driver, raw);
        const lines = facts.ok
          ? `<table><thead><tr><th>#</th><th>Tên / name</th><th>SL / qty</th><th>Đơn giá / price</th><th>Thành tiền / amount</th><th>Thuế suất / VAT</th></tr></thead><tbody>${facts.facts.lines
              .map(
                (l, i) =>
                  `<tr><td>${i + 1}</td><td>${esc(l.THHDVu)}</td><td class="n">${esc(l.SLuong)}</td><td class="n">${esc(l.DGia)}</td><td class="n">${esc(l.ThTien)}</td><td>${esc(l.TSuat)}</td></tr>`,
              )
              .join("")}</tbody></table>`
          : "";
        const body = `<dl><dt>MCCQT</dt><dd id="mccqt">${esc(row.mccqt)}</dd><dt>${t("symbol")}</dt><dd>${esc(row.khmshdon + row.khhdon)} · ${t("number")} ${row.shdon}</dd>
<dt>${t("date")}</dt><dd>${esc(row.nlap)} (${esc(vnDateTime(row.created_at))})</dd><dt>${t("register")}</dt><dd>${esc(row.register_id)}</dd>
<dt>${t("total")}</dt><dd>${formatDong(row.total)} đ</dd><dt>${t("state")}</dt><dd>${esc(STATE_WORDS[row.state ?? ""]?.[lang] ?? row.state)}</dd>
<dt>DLQRCode</dt><dd><code>${esc(row.qr)}</code></dd><dt>sha256</dt><dd><code>${esc(row.sha256)}</code></dd></dl>
${lines}<p><a href="/invoices/${row.id}.xml">${t("download")}</a></p><pre>${esc(xml)}</pre>
${printed?.text ? `<h2>${t("printed")}</h2><pre id="printed">${esc(printed.text)}</pre>` : ""}${rawSection(lang, `/invoices/${row.id}.raw${q}`, raw, source)}`;
        return send(200, layout(lang, `${t("invoices")} ${row.mccqt}`, body));
      }
      const heldMatch = /^\/quarantine\/(\d+)(\.raw|\.png)?$/.exec(path);
      if (heldMatch) {
        const h = heldDetail(db, Number(heldMatch[1]));
        if (!h) return send(404, layout(lang, t("notFound"), ""));
        if (heldMatch[2] === ".raw") {
          res.setHeader("content-disposition", `attachment; filename="held-${h.id}.bin"`);
          return send(200, h.raw, "application/octet-stream");
        }
        const preview = previewOf(h.driver, h.raw);
        if (heldMatch[2] === ".png") {
          if (!preview?.png) return send(404, layout(lang, t("notFound"), ""));
          return send(200, Buffer.from(preview.png), "image/png");
        }
        const body = `<dl><dt>#</dt><dd>${h.id}</dd><dt>${t("received")}</dt><dd>${esc(vnDateTime(h.receivedAt))}</dd>
<dt>${t("register")}</dt><dd>${esc(h.registerId)} (${esc(h.driver)})</dd>
<dt>${t("reason")}</dt><dd id="reason"><strong>${esc(h.code)}</strong> ${esc(h.detail)}</dd>${
          h.releasedAs ? `<dt>${t("releasedAs")}</dt><dd id="released-as">${esc(h.releasedAs)}</dd>` : ""
        }</dl>${preview?.png ? `<h2>${t("picture")}</h2><p><img id="picture" alt="${esc(t("picture"))}" src="/quarantine/${h.id}.png"></p>` : ""}${
          preview?.text ? `<h2>${t("printed")}</h2><pre id="printed">${esc(preview.text)}</pre>` : ""
        }${rawSection(lang, `/quarantine/${h.id}.raw${q}`, h.raw, h.source)}`;
        return send(200, layout(lang, `${t("quarantine")} #${h.id}`, body));
      }
      if (path === "/quarantine") {
        const table = (id: string, rows: QuarantineRow[]): string =>
          `<table id="${id}"><thead><tr><th>#</th><th>${t("received")}</th><th>${t("register")}</th><th>${t("reason")}</th></tr></thead><tbody>${rows
            .map(
              (r) =>
                `<tr><td><a href="/quarantine/${r.id}${q}">${r.id}</a></td><td>${esc(vnDateTime(r.received_at))}</td><td>${esc(r.register_id)}</td><td><strong>${esc(r.code)}</strong> ${esc(r.detail)}</td></tr>`,
            )
            .join("")}</tbody></table>`;
        const reported = listNotices.all();
        const released = listReleased.all();
        const body =
          table("held", listQuarantine.all()) +
          (reported.length > 0 ? `<h2>${t("reported")}</h2>${table("reported", reported)}` : "") +
          (released.length > 0 ? `<h2>${t("released")}</h2>${table("released", released)}` : "");
        return send(200, layout(lang, t("quarantine"), body));
      }
      if (path === "/registers") return send(200, layout(lang, t("registers"), registersBody(db, lang, now())));
      if (path === "/verify") {
        const check = verifyStore(db, opts.trustedCertPem ? { trustedCertPem: opts.trustedCertPem } : {});
        const body = check.ok
          ? `<p class="ok" id="verdict">${t("intact")}: ${check.invoices}</p>` +
            (check.journal
              ? `<p class="ok" id="journal">${t("journal")}: ${esc(journalSummary(check.journal)[lang])}</p>`
              : "")
          : `<p class="bad" id="verdict">${t("broken")}: ${esc(check.problem)}</p>`;
        return send(200, layout(lang, t("verify"), body));
      }
      return send(404, layout(lang, t("notFound"), ""));
    } catch (e) {
      return send(500, layout(lang, "500", `<pre>${esc(e instanceof Error ? e.message : e)}</pre>`));
    }
  };
}

/**
 * The registers page: hoadon's latest run, per register its port as that run last saw it, its receipts today and
 * held ones; then when hoadon was not reading the registers (src/audit/line-outages.ts).
 */
function registersBody(db: Db, lang: Lang, now: number): string {
  const t = (k: keyof typeof T): string => T[k][lang];
  const when = (ms: number): string => esc(vnDateTime(ms).replace("T", " "));
  const run = lastDaemonRun(db);
  const ids = new Set<string>(run?.registers ?? []);
  for (const r of db
    .prepare<[], { id: string }>(
      `SELECT DISTINCT register_id AS id FROM quarantine
        UNION SELECT DISTINCT register_id FROM events WHERE register_id IS NOT NULL AND kind LIKE 'port-%'`,
    )
    .all())
    ids.add(r.id);
  if (!run)
    for (const r of db.prepare<[], { id: string }>("SELECT DISTINCT register_id AS id FROM receipts").all())
      ids.add(r.id);
  // The page may read a copy of the store: no pid is asked, and a run with no stop is said with that doubt.
  const daemon = daemonState(db, run, { askPid: false });
  // A stopped run's ports all went down as it stopped: that says nothing about the lines.
  const latest = daemon.state === "running" || daemon.state === "stopped-unclean" ? daemon.run : undefined;
  const registers = registerStates(db, [...ids].sort(), now, latest?.eventId);
  const portCell = (r: RegisterState): string => {
    if (daemon.state === "stopped") return `<span class="muted">${t("stoppedGap")}</span>`;
    if (r.ports.length === 0) return "—";
    return r.ports
      .map((p) => {
        const side = p.side === "device" ? `${t("device")}: ` : "";
        const cls = p.state === "up" ? "ok" : p.state === "listening" ? "muted" : "bad";
        return `${side}<span class="${cls}">${t(p.state)}</span> ${t("since")} ${when(p.since)}${p.error ? ` <span class="muted">${esc(p.error)}</span>` : ""}`;
      })
      .join("<br>");
  };
  const started = run ? `${t("since")} ${when(run.startedAt)} · ` : "";
  const runLine =
    daemon.state === "never"
      ? t("noRun")
      : daemon.state === "running"
        ? `${started}<span class="ok">${t("running")}</span>`
        : daemon.state === "stopped"
          ? `${started}${t("stoppedAt")} ${when(daemon.run.stoppedAt!)}`
          : `${started}<span class="bad">${t("unclean")}</span>`;
  const rows = registers
    .map(
      (r) =>
        `<tr><td>${esc(r.id)}</td><td>${portCell(r)}</td><td class="n">${r.today}</td><td>${
          r.last ? `${when(r.last.at)} · ${esc(r.last.receiptId)}` : "—"
        }</td><td class="n">${r.held}</td><td>${r.identity ? esc(describeIdentity(r.identity)) : "—"}</td></tr>`,
    )
    .join("");
  const changes = identityChanges(db).reverse();
  const changeRows = changes
    .map(
      (c) =>
        `<tr><td>${when(c.at)}</td><td>${esc(c.registerId)}</td><td>${esc(c.fields.join(", "))}</td><td>${esc(describeIdentity(c.previous))}</td><td>${esc(describeIdentity(c.current))}</td></tr>`,
    )
    .join("");
  const gaps = lineOutages(db, { now });
  const gapRows = gaps.outages
    .map((o) => {
      const what =
        o.kind === "port"
          ? `${esc(o.registerId)}${o.side === "device" ? ` (${t("device")})` : ""}: ${t("lineDown")}`
          : o.kind === "hoadon-stopped"
            ? t("stoppedGap")
            : t("uncleanGap");
      return `<tr><td>${when(o.start)}</td><td>${o.end === undefined ? `<span class="bad">${t("ongoing")}</span>` : when(o.end)}</td><td>${what}</td><td>${esc(o.errors.join(" · "))}</td></tr>`;
    })
    .join("");
  return (
    `<p id="run"><strong>${t("lastRun")}:</strong> ${runLine}</p>` +
    `<table id="registers"><thead><tr><th>${t("register")}</th><th>${t("port")}</th><th>${t("today")}</th><th>${t("lastReceipt")}</th><th>${t("quarantine")}</th><th>${t("deviceId")}</th></tr></thead><tbody>${rows}</tbody></table>` +
    `<h2>${t("gaps")}</h2>` +
    (gaps.outages.length === 0
      ? `<p id="gaps">${t("none")}</p>`
      : `<table id="gaps"><thead><tr><th>${t("from")}</th><th>${t("to")}</th><th>${t("what")}</th><th>${t("errors")}</th></tr></thead><tbody>${gapRows}</tbody></table>`) +
    (gaps.short > 0 ? `<p class="muted">${gaps.short} ${t("shortOnes")}</p>` : "") +
    `<h2>${t("changes")}</h2>` +
    (changes.length === 0
      ? `<p id="changes">${t("none")}</p>`
      : `<table id="changes"><thead><tr><th>${t("when")}</th><th>${t("register")}</th><th>${t("changedFields")}</th><th>${t("before")}</th><th>${t("after")}</th></tr></thead><tbody>${changeRows}</tbody></table>`)
  );
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost"]);

/** Listen; refuses a non-loopback host without a token. */
export async function startAuditHttp(
  opts: AuditHttpOptions,
): Promise<{ url: string; server: Server; close(): Promise<void> }> {
  const host = opts.host ?? "127.0.0.1";
  if (!LOOPBACK.has(host) && !opts.token)
    throw new Error("Trang kiểm tra mở ra ngoài máy cần --token / a non-loopback audit page needs a token");
  const server = createServer(auditHandler(opts));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8765, host, () => resolve());
  });
  const { port } = server.address() as { port: number };
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    server,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
