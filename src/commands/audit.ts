/** `hoadon audit …`: the tax auditor's tools. They open the database read-only and change nothing. */
import { readFileSync } from "node:fs";
import { startAuditHttp } from "../audit/http.js";
import { type JournalCheck, journalSummary } from "../audit/journal.js";
import { verifyStore } from "../audit/verify-store.js";
import type { CommandContext } from "../cli.js";
import { DaemonError } from "../shared/errors.js";
import { openStoreReadOnly } from "../store/db.js";

function readTrusted(v: Record<string, string | boolean | undefined>): string | undefined {
  if (typeof v["trusted-cert"] !== "string") return undefined;
  try {
    return readFileSync(v["trusted-cert"], "utf8");
  } catch (cause) {
    throw new DaemonError("INPUT_UNREADABLE", `Không đọc được ${v["trusted-cert"]} / cannot read the certificate`, {
      cause,
    });
  }
}

/** `hoadon audit serve`: the read-only web page until Ctrl-C. */
export async function auditServeCommand(
  dbFile: string,
  v: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): Promise<number> {
  const trustedCertPem = readTrusted(v);
  const port = v.port === undefined ? 8765 : Number(v.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DaemonError("USAGE", "--port 0–65535");
  const db = openStoreReadOnly(dbFile);
  let web: Awaited<ReturnType<typeof startAuditHttp>>;
  try {
    web = await startAuditHttp({
      db,
      port,
      ...(typeof v.host === "string" ? { host: v.host } : {}),
      ...(typeof v.token === "string" ? { token: v.token } : {}),
      ...(trustedCertPem ? { trustedCertPem } : {}),
    });
  } catch (cause) {
    db.close();
    throw new DaemonError("USAGE", cause instanceof Error ? cause.message : String(cause), { cause });
  }
  ctx.out(`Trang kiểm tra (chỉ đọc) / audit page (read-only): ${web.url}/`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await web.close();
  db.close();
  return 0;
}

export async function auditVerifyCommand(
  dbFile: string,
  v: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): Promise<number> {
  const trustedCertPem = readTrusted(v);
  const db = openStoreReadOnly(dbFile);
  try {
    const check = verifyStore(db, trustedCertPem ? { trustedCertPem } : {});
    if (v.json) ctx.out(JSON.stringify(check));
    else if (check.ok) {
      ctx.out(
        `Toàn vẹn: ${check.invoices} hóa đơn, chuỗi băm, số liên tục và chữ ký đều đúng / ` +
          `intact: ${check.invoices} invoices, chain, numbering and signatures check out`,
      );
      if (check.journal) ctx.out(journalLine(check.journal));
    } else ctx.err(`KHÔNG toàn vẹn / NOT intact: ${check.problem}`);
    return check.ok ? 0 : 65;
  } finally {
    db.close();
  }
}

/** The journal's part of a good verdict, in words. */
function journalLine(j: JournalCheck): string {
  const { vi, en } = journalSummary(j);
  return `Nhật ký byte gốc: ${vi} / raw journal: ${en}`;
}
