/**
 * The `hoadon` command line (design.md "Command-line contract"). Each command is loaded lazily so a quick
 * `hoadon invoice verify` does not pay for serial ports and SQLite. Every command has --help, exits non-zero with
 * a clear message on failure, and prints data as JSON with --json.
 */
import { parseArgs } from "node:util";
import { DaemonError, isDaemonError } from "./shared/errors.js";
import { type Lang, msg } from "./shared/i18n.js";

type ArgSpec = NonNullable<Parameters<typeof parseArgs>[0]>["options"];

export interface CommandContext {
  readonly lang: Lang;
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

interface Command {
  readonly summary: string;
  readonly usage: string;
  readonly options: ArgSpec;
  run(
    values: Record<string, string | boolean | undefined>,
    positionals: string[],
    ctx: CommandContext,
  ): Promise<number>;
}

const COMMON = {
  help: { type: "boolean", short: "h" },
  lang: { type: "string" },
  json: { type: "boolean" },
} as const satisfies ArgSpec;

const COMMANDS: Record<string, Command> = {
  demo: {
    summary: "Chạy thử: máy tính tiền giả lập + cơ quan thuế giả lập / demo with a simulated register and authority",
    usage: "hoadon demo [--sales N] [--data DIR] [--via pty|tcp] [--registers N] [--seed S] [--lang en]",
    options: {
      sales: { type: "string" },
      data: { type: "string" },
      via: { type: "string" },
      registers: { type: "string" },
      seed: { type: "string" },
      "timeout-ms": { type: "string" },
    },
    run: async (v, _p, ctx) => (await import("./demo.js")).runDemo(v, ctx),
  },
  run: {
    summary: "Chạy dịch vụ / run the daemon",
    usage: "hoadon run --config FILE",
    options: { config: { type: "string", short: "c" } },
    run: async (v, _p, ctx) => (await import("./main.js")).runDaemonCommand(required(v, "config"), ctx),
  },
  "check-config": {
    summary: "Kiểm tra tệp cấu hình, liệt kê mọi lỗi / validate a config file, listing every problem",
    usage: "hoadon check-config FILE [--json]",
    options: {},
    run: async (v, p, ctx) =>
      (await import("./commands/config.js")).checkConfigCommand(positional(p, 0, "FILE"), v, ctx),
  },
  "config-schema": {
    summary: "In JSON Schema của tệp cấu hình / print the config JSON Schema",
    usage: "hoadon config-schema",
    options: {},
    run: async (_v, _p, ctx) => (await import("./commands/config.js")).configSchemaCommand(ctx),
  },
  invoice: {
    summary: "build | verify: lập hoặc kiểm tra một hóa đơn / build or verify one invoice",
    usage:
      "hoadon invoice build --config FILE --receipt FILE\n  hoadon invoice verify FILE [--trusted-cert PEM] [--json]",
    options: {
      config: { type: "string", short: "c" },
      receipt: { type: "string" },
      "trusted-cert": { type: "string" },
    },
    run: async (v, p, ctx) => {
      const sub = positional(p, 0, "build|verify");
      const mod = await import("./commands/invoice.js");
      if (sub === "build") return mod.invoiceBuildCommand(required(v, "config"), required(v, "receipt"), ctx);
      if (sub === "verify") return mod.invoiceVerifyCommand(positional(p, 1, "FILE"), v, ctx);
      throw usage(`không có lệnh "invoice ${sub}" / unknown subcommand`);
    },
  },
  sandbox: {
    summary: "Chạy cơ quan thuế giả lập trên máy này / run the local tax-authority sandbox",
    usage:
      'hoadon sandbox [--host 127.0.0.1] [--port 8787] [--trusted-cert PEM] [--reply-delay-ms N] [--check-every N] [--faults "latency=200ms,5xx=0.1,outage=10s@30s"]',
    options: {
      host: { type: "string" },
      port: { type: "string" },
      "trusted-cert": { type: "string" },
      "reply-delay-ms": { type: "string" },
      "check-every": { type: "string" },
      faults: { type: "string" },
      username: { type: "string" },
      password: { type: "string" },
    },
    run: async (v, _p, ctx) => (await import("./commands/sandbox.js")).sandboxCommand(v, ctx),
  },
  simulate: {
    summary: "register: máy tính tiền giả lập (ndjson, escpos, datecs) / simulated register",
    usage:
      "hoadon simulate register --port PATH|tcp://HOST:PORT|pty[:LINK] [--protocol ndjson|escpos|datecs] [--count N] [--seed S]\n" +
      "      [--truth FILE]   pty[:LINK]: its own virtual cable (socat); hoadon's register port: is LINK (said on stderr),\n" +
      "      the simulator starts once hoadon has opened it\n" +
      "      escpos: [--role pos|printer] [--code-page cp1258,tcvn3,viscii,utf8,raster] [--baud N] [--paper ok|near-end|out]\n" +
      "      printers (escpos, datecs): [--until-idle MS] (end once the line, after its first bytes, is quiet that long)\n" +
      "      ndjson: [--baud N] [--void-rate 0..1] [--day-close]\n" +
      "      datecs: [--role pos|printer] [--framing old|x] [--baud N] [--storno-rate 0..1] [--paper ok|out] (printer: the\n" +
      "      fiscal printer behind a hoadon tap, e.g. --port tcp-listen://127.0.0.1:9101; one JSON line per receipt closed)\n" +
      "      [--faults bit-flip=P,drop=P,truncate=P,wrong-bcc=P,repeat=P,garbage=P] (per write; escpos pos: bit-flip per\n" +
      "      byte, garbage and truncate per receipt)\n" +
      "      [--unplug EVERY_MS:FOR_MS] (pty or TCP: the link drops EVERY_MS into each connection, back FOR_MS later; a\n" +
      "      pty's LINK is gone meanwhile; an escpos POS then prints the job it cut again, whole; a printer drops the line\n" +
      "      EVERY_MS after its first bytes and is absent, refusing connections, for FOR_MS)\n" +
      "      [--record FILE.cap] (the register's line as a capture: what it wrote, what hoadon answered, the drops)\n" +
      "  hoadon simulate register --port … --replay FILE.cap [--speed N] [--max-gap-ms MS]   the register's bytes of a\n" +
      "      capture, at their recorded times (gaps over 10 s shortened), dropping the line where the capture did",
    options: {
      port: { type: "string" },
      protocol: { type: "string" },
      count: { type: "string" },
      seed: { type: "string" },
      truth: { type: "string" },
      role: { type: "string" },
      "code-page": { type: "string" },
      baud: { type: "string" },
      paper: { type: "string" },
      framing: { type: "string" },
      "storno-rate": { type: "string" },
      "void-rate": { type: "string" },
      "day-close": { type: "boolean" },
      faults: { type: "string" },
      unplug: { type: "string" },
      replay: { type: "string" },
      record: { type: "string" },
      speed: { type: "string" },
      "max-gap-ms": { type: "string" },
      "until-idle": { type: "string" },
    },
    run: async (v, p, ctx) => {
      if (positional(p, 0, "register") !== "register") throw usage("dùng / use: hoadon simulate register …");
      return (await import("./commands/simulate.js")).simulateRegisterCommand(v, ctx);
    },
  },
  init: {
    summary: "Tạo tệp cấu hình từ vài câu hỏi / write a config from a few questions",
    usage: "hoadon init [--out FILE] [--answers FILE.json]",
    options: { out: { type: "string" }, answers: { type: "string" } },
    run: async (v, _p, ctx) => (await import("./commands/init.js")).initCommand(v, ctx),
  },
  decode: {
    summary: "Giải mã tệp ghi byte (.cap) thành sự kiện JSON / decode a capture file into JSON events",
    usage: "hoadon decode --driver ID [--options JSON] FILE",
    options: { driver: { type: "string" }, options: { type: "string" } },
    run: async (v, p, ctx) => (await import("./commands/decode.js")).decodeCommand(positional(p, 0, "FILE"), v, ctx),
  },
  audit: {
    summary:
      "list | show | verify | export | report | serve | outages | held | journal | rederive: sổ hóa đơn, toàn vẹn, xuất, " +
      "báo cáo, trang web, sự cố, phiếu giữ lại, byte gốc, đọc lại / ledger, integrity, export, report, web page, " +
      "outage evidence, held receipts, raw bytes, re-read",
    usage: [
      "hoadon audit list --db FILE [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--state S] [--register R] [--limit N] [--json]",
      "hoadon audit show --db FILE (MCCQT | C26MAB-123 | #id) [--xml | --out FILE | --raw FILE | --json]",
      "hoadon audit verify --db FILE [--trusted-cert PEM] [--json]",
      "hoadon audit export --db FILE --out DIR [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--state S] [--register R]",
      "hoadon audit report --db FILE [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--register R] [--json]",
      "hoadon audit serve --db FILE [--host 127.0.0.1] [--port 8765] [--token T] [--trusted-cert PEM]",
      "hoadon audit outages --db FILE [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--json]",
      "hoadon audit held --db FILE [#id [--raw FILE] [--png FILE]] [--json]",
      "hoadon audit journal --db FILE [--register R [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--out FILE.cap]] [--json]",
      "hoadon audit rederive (--config FILE | --db FILE --driver ID [--options JSON]) --register R [--from …] [--to …] [--json]",
    ].join("\n  "),
    options: {
      db: { type: "string" },
      "trusted-cert": { type: "string" },
      host: { type: "string" },
      port: { type: "string" },
      token: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      state: { type: "string" },
      register: { type: "string" },
      limit: { type: "string" },
      out: { type: "string" },
      raw: { type: "string" },
      png: { type: "string" },
      xml: { type: "boolean" },
      config: { type: "string", short: "c" },
      driver: { type: "string" },
      options: { type: "string" },
    },
    run: async (v, p, ctx) => {
      const sub = positional(p, 0, "list|show|verify|export|report|serve|outages|held|journal|rederive");
      if (sub === "outages")
        return (await import("./commands/audit-outages.js")).auditOutagesCommand(v, p.slice(1), ctx);
      if (sub === "held") return (await import("./commands/audit-held.js")).auditHeldCommand(p[1], v, ctx);
      if (sub === "journal") return (await import("./commands/audit-journal.js")).auditJournalCommand(v, ctx);
      if (sub === "rederive") return (await import("./commands/audit-journal.js")).auditRederiveCommand(v, ctx);
      if (sub === "list" || sub === "show" || sub === "export" || sub === "report") {
        const ledger = await import("./commands/audit-ledger.js");
        if (sub === "list") return ledger.auditListCommand(v, ctx);
        if (sub === "show") return ledger.auditShowCommand(positional(p, 1, "MCCQT | C26MAB-123 | #id"), v, ctx);
        if (sub === "export") return ledger.auditExportCommand(v, ctx);
        return ledger.auditReportCommand(v, ctx);
      }
      const mod = await import("./commands/audit.js");
      if (sub === "verify") return mod.auditVerifyCommand(required(v, "db"), v, ctx);
      if (sub === "serve") return mod.auditServeCommand(required(v, "db"), v, ctx);
      throw usage(`không có lệnh "audit ${sub}" / unknown subcommand`);
    },
  },
  "release-held": {
    summary:
      "Lập hóa đơn cho phiếu bị giữ lại mà cấu hình hiện tại đọc được / invoice held print-outs the current config now reads",
    usage: "hoadon release-held --config FILE --register R [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--yes]",
    options: {
      config: { type: "string", short: "c" },
      register: { type: "string" },
      from: { type: "string" },
      to: { type: "string" },
      yes: { type: "boolean" },
    },
    run: async (v, _p, ctx) => (await import("./commands/release.js")).releaseHeldCommand(v, ctx),
  },
  status: {
    summary: "Hàng đợi, hóa đơn cũ nhất chưa gửi, lần chấp nhận gần nhất / backlog and delivery status",
    usage: "hoadon status --config FILE [--json]",
    options: { config: { type: "string", short: "c" } },
    run: async (v, _p, ctx) => (await import("./commands/status.js")).statusCommand(required(v, "config"), v, ctx),
  },
};

function usage(message: string): DaemonError {
  return new DaemonError("USAGE", message);
}

function required(v: Record<string, string | boolean | undefined>, name: string): string {
  const value = v[name];
  if (typeof value !== "string" || value === "") throw usage(`thiếu --${name} / --${name} is required`);
  return value;
}

function positional(p: string[], i: number, name: string): string {
  const value = p[i];
  if (value === undefined) throw usage(`thiếu ${name} / ${name} is required`);
  return value;
}

function helpText(): string {
  const lines = [
    "hoadon — hóa đơn điện tử khởi tạo từ máy tính tiền / cash-register e-invoices",
    "",
    "Lệnh / commands:",
  ];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(14)} ${c.summary}`);
  lines.push("", "hoadon <lệnh> --help: chi tiết / details. --lang en: English messages.");
  return lines.join("\n");
}

/** Run the CLI; returns the process exit status. */
export async function runCli(argv: string[], io?: Partial<CommandContext>): Promise<number> {
  const langArg = argv.indexOf("--lang");
  const lang: Lang = (langArg >= 0 ? argv[langArg + 1] : process.env.HOADON_LANG) === "en" ? "en" : "vi";
  const ctx: CommandContext = {
    lang,
    out: io?.out ?? ((l) => process.stdout.write(`${l}\n`)),
    err: io?.err ?? ((l) => process.stderr.write(`${l}\n`)),
  };
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    ctx.out(helpText());
    return name === undefined ? 64 : 0;
  }
  if (name === "--version") {
    ctx.out("hoadon 0.1.0");
    return 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    ctx.err(`${msg(lang, "error.prefix")}: không có lệnh "${name}" / unknown command\n\n${helpText()}`);
    return 64;
  }
  try {
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...COMMON, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      ctx.out(`${command.summary}\n\n  ${command.usage}`);
      return 0;
    }
    return await command.run(values as Record<string, string | boolean | undefined>, positionals, ctx);
  } catch (e) {
    if (isDaemonError(e)) {
      ctx.err(`${msg(lang, "error.prefix")} [${e.code}]: ${e.message}`);
      if (e.code === "USAGE") ctx.err(`\n  ${command.usage}`);
      return e.exitCode;
    }
    if (e instanceof TypeError && (e as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      ctx.err(`${msg(lang, "error.prefix")} [USAGE]: ${e.message}\n\n  ${command.usage}`);
      return 64;
    }
    ctx.err(`${msg(lang, "error.prefix")} [INTERNAL]: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 70;
  }
}
