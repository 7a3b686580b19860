/**
 * `hoadon status`: backlog, oldest unsent invoice and its deadline, last accepted; whether hoadon is running; per
 * register its port (connected, or since when not and why), its sales today and its held receipts — read-only.
 */
import { HELD_SQL } from "../audit/ledger.js";
import { describeIdentity, type RegisterState, registerStates } from "../audit/registers.js";
import { driverCatalogue } from "../catalogue.js";
import type { CommandContext } from "../cli.js";
import { loadConfig } from "../config/load.js";
import { formatDeadline, formatResultsOverdue } from "../forward/deadline.js";
import { systemClock, vnDateTime } from "../shared/clock.js";
import { type Db, openStoreReadOnly } from "../store/db.js";
import { outboxStatus } from "../store/outbox.js";
import { type DaemonState, daemonState, type PortState, type RegisterIdentity } from "../store/register-status.js";

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
    const now = systemClock.now();
    const daemon = daemonState(db);
    const registers = configuredRegisters(db, config.registers, daemon, now);
    if (v.json) {
      ctx.out(JSON.stringify({ invoices, quarantined, ...s, daemon, registers }, null, 2));
      return 0;
    }
    ctx.out(daemonLine(daemon));
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
    ctx.out("Máy tính tiền / registers:");
    for (const r of registers) for (const line of registerLines(r, daemon.state === "running", now)) ctx.out(line);
    return 0;
  } finally {
    db.close();
  }
}

const at = (ms: number): string => vnDateTime(ms).replace("T", " ");

function daemonLine(d: DaemonState): string {
  switch (d.state) {
    case "never":
      return "hoadon: chưa ghi lần chạy nào (chưa chạy, hoặc bản cũ) / no run recorded (never ran, or an older version ran)";
    case "running":
      return d.run
        ? `hoadon: đang chạy từ ${at(d.run.startedAt)} (pid ${d.run.pid}) / running since ${at(d.run.startedAt)}`
        : "hoadon: đang chạy (vừa khởi động, hoặc không ghi được lần khởi động) / running (just starting, or its start could not be recorded)";
    case "stopped":
      return `hoadon: đã dừng lúc ${at(d.run.stoppedAt!)} / stopped at ${at(d.run.stoppedAt!)}`;
    case "stopped-unclean":
      return (
        `hoadon: KHÔNG CHẠY — dừng đột ngột (mất điện, lỗi?) sau lần khởi động ${at(d.run.startedAt)}; hãy khởi động lại / ` +
        `NOT RUNNING — stopped without closing (power cut, crash?) after its start at ${at(d.run.startedAt)}; start it again`
      );
  }
}

/** A register of the config as status shows it: its ports from the config, its state from the store. */
interface ConfiguredRegister extends RegisterState {
  readonly port: string;
  readonly devicePort?: string;
}

function configuredRegisters(
  db: Db,
  registers: readonly { readonly id: string; readonly port: string; readonly devicePort?: string | undefined }[],
  daemon: DaemonState,
  now: number,
): ConfiguredRegister[] {
  const states = registerStates(
    db,
    registers.map((r) => r.id),
    now,
    daemon.state === "running" ? daemon.run?.eventId : undefined,
  );
  return registers.map((r, i) => ({
    ...states[i]!,
    port: r.port,
    ...(r.devicePort ? { devicePort: r.devicePort } : {}),
  }));
}

function portLine(p: PortState | undefined, running: boolean): string {
  if (!running) return "không rõ (hoadon không chạy) / unknown (hoadon is not running)";
  if (!p) return "chưa kết nối / not connected yet";
  if (p.state === "up") return `đã kết nối từ ${at(p.since)} / connected since ${at(p.since)}`;
  if (p.state === "listening")
    return `đang chờ máy kết nối (${p.port}) từ ${at(p.since)} / waiting for it to connect since ${at(p.since)}`;
  const why = p.error ? `: ${p.error}` : "";
  return p.state === "down"
    ? `MẤT KẾT NỐI từ ${at(p.since)} / DISCONNECTED since ${at(p.since)}${why}`
    : `KHÔNG MỞ ĐƯỢC CỔNG từ ${at(p.since)} / CANNOT OPEN THE PORT since ${at(p.since)}${why}`;
}

function registerLines(r: ConfiguredRegister, running: boolean, now: number): string[] {
  const side = (s: "register" | "device") => r.ports.find((p) => p.side === s);
  const sales =
    `hôm nay / today: ${r.today} phiếu / receipts` +
    (r.last ? ` · gần nhất / last: ${at(r.last.at)} (${r.last.receiptId})` : " · chưa có phiếu nào / none yet") +
    ` · cần xem lại / held: ${r.held}`;
  const lines = [`  ${r.id} (${r.port}): ${portLine(side("register"), running)}`, `    ${sales}`];
  if (r.devicePort) lines.push(`    thiết bị / device (${r.devicePort}): ${portLine(side("device"), running)}`);
  if (r.identity) lines.push(`    ${identityLine(r.identity, now)}`);
  return lines;
}

/** A week: a change of device or firmware that recent is shouted, an older one only said. */
const RECENT_CHANGE_MS = 7 * 86_400_000;

/** The device the register reported itself as, and its latest change (register swapped, firmware updated). */
function identityLine(id: RegisterIdentity, now: number): string {
  const line = `máy / device: ${describeIdentity(id)} · từ / since ${at(id.since)}`;
  if (!id.changed) return line;
  const fields = id.changed.fields.join(", ");
  const loud = now - id.changed.at < RECENT_CHANGE_MS;
  return (
    `${line} · ${loud ? "ĐÃ ĐỔI / CHANGED" : "đã đổi / changed"} (${fields}) ${at(id.changed.at)}, ` +
    `trước đó / before: ${describeIdentity(id.changed.previous)}`
  );
}
