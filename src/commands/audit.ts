/** `hoadon audit …`: the tax auditor's tools. They open the database read-only and change nothing. */
import { readFileSync } from "node:fs";
import { verifyStore } from "../audit/verify-store.js";
import type { CommandContext } from "../cli.js";
import { DaemonError } from "../shared/errors.js";
import { openStoreReadOnly } from "../store/db.js";

export async function auditVerifyCommand(
  dbFile: string,
  v: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): Promise<number> {
  let trustedCertPem: string | undefined;
  if (typeof v["trusted-cert"] === "string") {
    try {
      trustedCertPem = readFileSync(v["trusted-cert"], "utf8");
    } catch (cause) {
      throw new DaemonError("INPUT_UNREADABLE", `Không đọc được ${v["trusted-cert"]} / cannot read the certificate`, {
        cause,
      });
    }
  }
  const db = openStoreReadOnly(dbFile);
  try {
    const check = verifyStore(db, trustedCertPem ? { trustedCertPem } : {});
    if (v.json) ctx.out(JSON.stringify(check));
    else if (check.ok)
      ctx.out(
        `Toàn vẹn: ${check.invoices} hóa đơn, chuỗi băm, số liên tục và chữ ký đều đúng / ` +
          `intact: ${check.invoices} invoices, chain, numbering and signatures check out`,
      );
    else ctx.err(`KHÔNG toàn vẹn / NOT intact: ${check.problem}`);
    return check.ok ? 0 : 65;
  } finally {
    db.close();
  }
}
