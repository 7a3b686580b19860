/**
 * `hoadon audit held --db FILE [N] [--raw FILE] [--png FILE] [--json]`: what hoadon held for review. Without N, every
 * row, each marked held / reported by the register / invoiced later; with N, that row: why, its source in the
 * journal, what it shows on paper (`--png FILE` writes a receipt printed as an image), `--raw FILE` its bytes.
 * Read-only over the store; never overwrites a file.
 */
import { resolve } from "node:path";
import { heldDetail, previewOf } from "../audit/held.js";
import { NOTICE_CODES, releasedAsSql } from "../audit/ledger.js";
import type { CommandContext } from "../cli.js";
import { vnDateTime } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import { sourceText, withDb, writeOut } from "./audit-ledger.js";

type Values = Record<string, string | boolean | undefined>;

export function auditHeldCommand(key: string | undefined, v: Values, ctx: CommandContext): number {
  return withDb(v, (db) => {
    if (key === undefined) {
      const rows = db
        .prepare(
          `SELECT q.id, q.register_id AS registerId, q.received_at AS receivedAt, q.code, q.detail,
                  ${releasedAsSql("q")} AS releasedAs
             FROM quarantine q ORDER BY q.id`,
        )
        .all() as {
        id: number;
        registerId: string;
        receivedAt: number;
        code: string;
        detail: string;
        releasedAs: string | null;
      }[];
      const state = (r: (typeof rows)[number]): string =>
        r.releasedAs
          ? `đã lập hóa đơn / invoiced later ${r.releasedAs}`
          : NOTICE_CODES.includes(r.code)
            ? "máy tự báo / reported by the register"
            : "CẦN XEM LẠI / HELD";
      if (v.json) ctx.out(JSON.stringify(rows.map((r) => ({ ...r, state: state(r) }))));
      else
        for (const r of rows)
          ctx.out(`#${r.id}\t${vnDateTime(r.receivedAt)}\t${r.registerId}\t${r.code}\t${state(r)}\t${r.detail}`);
      return 0;
    }
    const id = Number(key.replace(/^#/, ""));
    const h = Number.isInteger(id) ? heldDetail(db, id) : undefined;
    if (!h) throw new DaemonError("USAGE", `không có bản giữ lại "${key}" / no such held row (give its #id)`);
    const preview = previewOf(h.driver, h.raw);
    const write = (flag: "raw" | "png", bytes: Uint8Array | undefined): void => {
      const file = v[flag];
      if (typeof file !== "string") return;
      if (bytes === undefined)
        throw new DaemonError("USAGE", `#${h.id} không có hình in / has no printed picture (--png)`);
      const out = resolve(file);
      writeOut(out, bytes);
      ctx.out(`${out}: ${bytes.length} byte`);
    };
    if (typeof v.raw === "string" || typeof v.png === "string") {
      write("raw", h.raw);
      write("png", preview?.png);
      return 0;
    }
    if (v.json) {
      ctx.out(
        JSON.stringify({
          ...h,
          raw: h.raw.toString("hex"),
          printed: preview?.text,
          picture: preview?.png !== undefined,
        }),
      );
      return 0;
    }
    ctx.out(`Bản giữ lại / held #${h.id} — ${h.code}`);
    ctx.out(`  Máy / register: ${h.registerId} (${h.driver}), nhận lúc / received ${vnDateTime(h.receivedAt)}`);
    ctx.out(`  Lý do / reason: ${h.detail}`);
    ctx.out(`  ${h.raw.length} byte gốc / raw bytes kept${h.source ? `; ${sourceText(h.source)}` : ""} (--raw FILE)`);
    if (h.releasedAs) ctx.out(`  Đã lập hóa đơn sau / invoiced later as ${h.releasedAs}`);
    if (preview?.png) ctx.out("  Có hình in ra / has a printed picture (--png FILE)");
    if (preview?.text) {
      ctx.out("  Nội dung in ra / as printed:");
      for (const line of preview.text.split("\n")) ctx.out(`    ${line}`);
    }
    return 0;
  });
}
