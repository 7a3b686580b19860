/** `hoadon simulate register`: seeded Vietnamese receipts sent to a daemon over a serial path or TCP. */
import { writeFileSync } from "node:fs";
import type { CommandContext } from "../cli.js";
import type { PortConnection } from "../ingest/index.js";
import { portSourceFor } from "../ingest/index.js";
import { systemClock } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import { generateReceipts, ndjsonSender } from "../simulator/index.js";

export async function simulateRegisterCommand(
  v: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): Promise<number> {
  const protocol = typeof v.protocol === "string" ? v.protocol : "ndjson";
  if (protocol !== "ndjson")
    throw new DaemonError("USAGE", `giao thức "${protocol}" chưa có; hiện có: ndjson / unknown protocol`);
  const port = typeof v.port === "string" ? v.port : undefined;
  if (!port) throw new DaemonError("USAGE", "thiếu --port / --port is required");
  const count = Number(v.count ?? 10);
  const seed = Number(v.seed ?? 1);
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed))
    throw new DaemonError("USAGE", "--count và --seed là số nguyên / --count and --seed are integers");

  const receipts = generateReceipts({ seed, count, startMs: systemClock.now() });
  if (typeof v.truth === "string")
    writeFileSync(
      v.truth,
      receipts
        .map((r) => JSON.stringify(r))
        .join("\n")
        .concat("\n"),
    );

  let conn: PortConnection;
  try {
    const serial = { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 } as const;
    conn = await portSourceFor(port, serial).open(new AbortController().signal);
  } catch (cause) {
    throw new DaemonError("PORT_UNAVAILABLE", `Không mở được ${port} / cannot open the port`, { cause });
  }
  const report = await ndjsonSender(conn, receipts, {
    onResult: (r) => ctx.out(`${r.id}: ${r.status}${r.reply?.type === "ack" ? ` ${r.reply.mccqt}` : ""}`),
  });
  await conn.close();
  ctx.out(
    JSON.stringify({
      sent: report.sent,
      acked: report.acked,
      dup: report.dup,
      nak: report.nak,
      unacked: report.unacked,
    }),
  );
  return report.acked + report.dup === count ? 0 : 1;
}
