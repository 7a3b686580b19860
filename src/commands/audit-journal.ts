/**
 * `hoadon audit journal`: the raw capture journal (issue 4 item 5). Without `--register`, its streams; with it, that
 * register's bytes as a capture file, which `hoadon decode --driver ID FILE` reads again — with a fixed driver or a
 * corrected receipt template, to see what the register's bytes really said. Read-only over the store.
 */
import { closeSync, mkdirSync, openSync, writeSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { journalCapture, journalStreams } from "../audit/journal.js";
import type { CommandContext } from "../cli.js";
import { vnDateTime } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import { withDb } from "./audit-ledger.js";
import { parseAuditTime } from "./audit-outages.js";

type Values = Record<string, string | boolean | undefined>;

export function auditJournalCommand(v: Values, ctx: CommandContext): number {
  const from = typeof v.from === "string" ? parseAuditTime(v.from, "from", false) : undefined;
  const to = typeof v.to === "string" ? parseAuditTime(v.to, "to", true) : undefined;
  if (from !== undefined && to !== undefined && from > to)
    throw new DaemonError("USAGE", "--from phải trước --to / --from must not be after --to");
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
              `${vnDateTime(s.firstAt)} – ${vnDateTime(s.lastAt)}`,
          );
      return 0;
    }
    const registerId = v.register;
    if (!streams.some((s) => s.registerId === registerId))
      throw new DaemonError(
        "USAGE",
        `nhật ký không có máy "${registerId}"; có / known: ${[...new Set(streams.map((s) => s.registerId))].join(", ") || "—"}`,
      );
    const pieces = journalCapture(db, {
      registerId,
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
    });
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
      const code = (cause as NodeJS.ErrnoException).code;
      throw new DaemonError(
        code === "EEXIST" ? "USAGE" : "OUTPUT_UNWRITABLE",
        code === "EEXIST"
          ? `${out} đã có, không ghi đè / already exists, not overwritten`
          : `Không ghi được ${out}: ${(cause as Error).message}. Kiểm tra chỗ trống và quyền ghi / ` +
              `cannot write it: check free space and permissions`,
        { cause },
      );
    }
    ctx.out(`${out}: ${bytes} byte; đọc lại / read again: hoadon decode --driver <driver> ${out}`);
    return 0;
  });
}
