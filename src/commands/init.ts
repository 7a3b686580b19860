/**
 * `hoadon init`: write a config from a few questions (design.md CLI contract), for a shop owner who has the tax
 * authority's acceptance notice and the certificate file in hand. Each answer is checked at once against the config
 * schema itself (the single source of truth), so a wrong tax code is asked again instead of failing later; the file is
 * written only when the whole config validates, and never over an existing file.
 *
 * Answers come from the terminal, from a pipe (one answer per line; an empty line takes the default), or from
 * `--answers FILE` (JSON: question key → answer) for scripted installs.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { stringify } from "yaml";
import { driverCatalogue } from "../catalogue.js";
import type { CommandContext } from "../cli.js";
import { validateConfig } from "../config/load.js";
import { DaemonError } from "../shared/errors.js";

/** One question: where its answer goes in the config, what to ask, and the default. */
interface Question {
  readonly key: string;
  /** Config path, as validateConfig names it (`seller.taxCode`, `registers[0].port`). */
  readonly path: string;
  readonly vi: string;
  readonly en: string;
  readonly fallback?: (answers: Readonly<Record<string, string>>) => string | undefined;
  /** Asked only when this says so. */
  readonly when?: (answers: Readonly<Record<string, string>>) => boolean;
  /** An empty answer leaves the setting out. */
  readonly optional?: boolean;
}

/** Does this driver, with its default options, sit between the register and its printer (two ports)? */
function needsDevicePort(driverId: string | undefined): boolean {
  const d = driverId ? driverCatalogue.get(driverId) : undefined;
  if (!d) return false;
  const opts = d.options.safeParse({});
  return opts.success && (d.portsFor?.(opts.data as never) ?? 1) === 2;
}

export const QUESTIONS: readonly Question[] = [
  { key: "taxCode", path: "seller.taxCode", vi: "Mã số thuế của cửa hàng", en: "the shop's tax code (MST)" },
  { key: "name", path: "seller.name", vi: "Tên người bán như đã đăng ký", en: "seller name as registered" },
  { key: "address", path: "seller.address", vi: "Địa chỉ người bán", en: "seller address" },
  { key: "phone", path: "seller.phone", vi: "Số điện thoại (bỏ trống nếu không)", en: "phone", optional: true },
  {
    key: "form",
    path: "invoice.form",
    vi: "Loại hóa đơn: 1 = hóa đơn GTGT (khấu trừ), 2 = hóa đơn bán hàng (hộ kinh doanh, trực tiếp)",
    en: "invoice form: 1 VAT invoice, 2 sales invoice",
    fallback: () => "1",
  },
  {
    key: "ratio",
    path: "invoice.salesReduction.ratio",
    vi:
      "Tỷ lệ % tính thuế GTGT của hoạt động chính: 1% phân phối hàng hóa, 5% dịch vụ, " +
      "3% sản xuất/vận tải/ăn uống, 2% khác",
    en: "the VAT ratio of your main activity: 1% goods, 5% services, 3% production/transport/food and drink, 2% other",
    when: (a) => a.form === "2",
  },
  {
    key: "symbolSuffix",
    path: "invoice.symbolSuffix",
    vi: "Hai ký tự cuối của ký hiệu hóa đơn (C26M__) đã đăng ký",
    en: "the last two characters of the invoice symbol you registered",
    fallback: () => "AA",
  },
  {
    key: "mccqtBlock",
    path: "invoice.mccqtBlock",
    vi: "Chuỗi 5 ký tự trong thông báo chấp nhận của cơ quan thuế (mã MCCQT)",
    en: "the 5-character block from the tax authority's acceptance notice",
  },
  {
    key: "providerTaxCode",
    path: "invoice.providerTaxCode",
    vi: "Mã số thuế của đơn vị cung cấp giải pháp hóa đơn (tự dùng: MST của cửa hàng)",
    en: "tax code of the invoicing-solution provider (self-run: the shop's own)",
    fallback: (a) => a.taxCode,
  },
  {
    key: "keystore",
    path: "signing.keystore",
    vi: "Tệp chứng thư số (.p12/.pfx)",
    en: "the certificate file (.p12/.pfx)",
    fallback: () => "/etc/hoadon/chu-ky-so.p12",
  },
  {
    key: "keystorePasswordFile",
    path: "signing.passwordFile",
    vi: "Tệp chứa mật khẩu chứng thư số (một dòng; không ghi mật khẩu vào cấu hình)",
    en: "file holding the certificate password (one line)",
    fallback: () => "/etc/hoadon/chu-ky-so.pass",
  },
  {
    key: "authorityUrl",
    path: "authority.url",
    vi: "Địa chỉ máy chủ T-VAN (https://…)",
    en: "the T-VAN's URL",
  },
  {
    key: "gateway",
    path: "authority.gateway",
    vi: "Kiểu kết nối T-VAN: http-xml hoặc http-json-base64",
    en: "gateway kind: http-xml or http-json-base64",
    fallback: () => "http-xml",
  },
  { key: "username", path: "authority.username", vi: "Tên đăng nhập T-VAN", en: "T-VAN user name" },
  {
    key: "authorityPasswordFile",
    path: "authority.passwordFile",
    vi: "Tệp chứa mật khẩu T-VAN (một dòng)",
    en: "file holding the T-VAN password",
    fallback: () => "/etc/hoadon/tvan.pass",
  },
  {
    key: "senderCode",
    path: "authority.senderCode",
    vi: "Mã người gửi (MNGui) do T-VAN cấp",
    en: "sender code (MNGui) your T-VAN gave you",
    fallback: (a) => a.providerTaxCode,
  },
  {
    key: "driver",
    path: "registers[0].driver",
    vi: `Giao thức máy tính tiền (${driverCatalogue.ids().join(", ")})`,
    en: "register protocol",
    fallback: () => "ndjson-v1",
  },
  {
    key: "port",
    path: "registers[0].port",
    vi: "Cổng máy tính tiền (/dev/serial/by-id/… hoặc tcp-listen://0.0.0.0:9100)",
    en: "register port",
  },
  {
    key: "devicePort",
    path: "registers[0].devicePort",
    vi: "Cổng máy in hóa đơn (hoadon đứng giữa máy tính tiền và máy in)",
    en: "the receipt printer's port (hoadon sits between register and printer)",
    when: (a) => needsDevicePort(a.driver),
  },
  {
    key: "store",
    path: "store.path",
    vi: "Tệp dữ liệu (trên ổ đĩa của máy này)",
    en: "database file",
    fallback: () => "/var/lib/hoadon/hoadon.sqlite",
  },
];

/** The config object the answers make (only what was answered; defaults stay defaults). */
export function configFromAnswers(a: Readonly<Record<string, string>>): Record<string, unknown> {
  const opt = (k: string): Record<string, string> => (a[k] ? { [k]: a[k] } : {});
  return {
    version: 1,
    lang: "vi",
    seller: { taxCode: a.taxCode, name: a.name, address: a.address, ...opt("phone") },
    invoice: {
      form: a.form,
      symbolSuffix: a.symbolSuffix,
      mccqtBlock: a.mccqtBlock,
      providerTaxCode: a.providerTaxCode,
      // A household shop's sales invoice carries the NQ 204/2025 reduction of its activity ratio (spec §6.1).
      ...(a.form === "2" ? { salesReduction: { ratio: a.ratio } } : {}),
    },
    signing: { keystore: a.keystore, passwordFile: a.keystorePasswordFile },
    store: { path: a.store },
    authority: {
      gateway: a.gateway,
      url: a.authorityUrl,
      username: a.username,
      passwordFile: a.authorityPasswordFile,
      senderCode: a.senderCode,
    },
    registers: [
      {
        id: "quay-1",
        driver: a.driver,
        port: a.port,
        ...(a.devicePort ? { devicePort: a.devicePort } : {}),
      },
    ],
  };
}

/**
 * Valid stand-ins for questions not answered yet, so that checking one answer also runs the checks that need a whole
 * config (the driver exists, its role needs a printer port) — only the answered question's path is looked at.
 */
const STAND_INS: Readonly<Record<string, string>> = {
  taxCode: "0100000001",
  name: "-",
  address: "-",
  form: "1",
  ratio: "3%",
  symbolSuffix: "AA",
  mccqtBlock: "AAAAA",
  providerTaxCode: "0100000001",
  keystore: "k.p12",
  keystorePasswordFile: "k.pass",
  authorityUrl: "https://t-van.invalid/",
  gateway: "http-xml",
  username: "-",
  authorityPasswordFile: "t.pass",
  senderCode: "0100000001",
  driver: "ndjson-v1",
  port: "tcp-listen://127.0.0.1:9100",
  devicePort: "tcp://127.0.0.1:9101",
  store: "hoadon.sqlite",
};

/** The problems of the config these answers make (unanswered questions stood in for), keyed by config path. */
function issuesOf(answers: Readonly<Record<string, string>>, baseDir: string, standIns = false): Map<string, string> {
  const merged = standIns ? { ...STAND_INS, ...answers } : answers;
  const complete =
    standIns && !needsDevicePort(merged.driver) && !answers.devicePort
      ? Object.fromEntries(Object.entries(merged).filter(([k]) => k !== "devicePort"))
      : merged;
  const { issues } = validateConfig(configFromAnswers(complete), driverCatalogue, baseDir);
  return new Map(issues.map((i) => [i.path, i.message]));
}

/** Lines from stdin, one per `next()`; undefined at the end of input. */
function lineReader(rl: Interface): () => Promise<string | undefined> {
  const queue: string[] = [];
  const waiting: ((l: string | undefined) => void)[] = [];
  let ended = false;
  rl.on("line", (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else queue.push(l);
  });
  rl.on("close", () => {
    ended = true;
    for (const w of waiting.splice(0)) w(undefined);
  });
  return () => {
    if (queue.length > 0) return Promise.resolve(queue.shift());
    if (ended) return Promise.resolve(undefined);
    return new Promise((r) => waiting.push(r));
  };
}

const HEADER = `# hoadon — cấu hình cửa hàng / shop config, written by \`hoadon init\`.
# Check it: hoadon check-config FILE · run: hoadon run --config FILE
# Every option, with comments: config/shop.example.yaml in the hoadon package; hoadon config-schema prints the schema.
`;

/** `hoadon init [--out FILE] [--answers FILE]`. */
export async function initCommand(
  v: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
  input: NodeJS.ReadableStream = process.stdin,
): Promise<number> {
  const out = resolve(typeof v.out === "string" ? v.out : "hoadon.yaml");
  if (existsSync(out))
    throw new DaemonError("USAGE", `${out} đã có; không ghi đè / already exists, not overwritten: choose --out`);
  const baseDir = dirname(out);
  const answers: Record<string, string> = {};

  if (typeof v.answers === "string") {
    let given: unknown;
    try {
      given = JSON.parse(readFileSync(v.answers, "utf8"));
    } catch (cause) {
      throw new DaemonError("INPUT_UNREADABLE", `Không đọc được ${v.answers} (JSON) / cannot read the answers`, {
        cause,
      });
    }
    for (const q of QUESTIONS) {
      if (q.when && !q.when(answers)) continue;
      const value = (given as Record<string, unknown>)[q.key];
      const text = typeof value === "string" ? value.trim() : value === undefined ? "" : String(value);
      const chosen = text || q.fallback?.(answers) || "";
      if (chosen) answers[q.key] = chosen;
    }
  } else {
    const rl = createInterface({ input, terminal: false });
    const next = lineReader(rl);
    try {
      ctx.out("Tạo tệp cấu hình hoadon / create a hoadon config. Enter: giá trị mặc định / the default in [ ].");
      for (const q of QUESTIONS) {
        if (q.when && !q.when(answers)) continue;
        for (;;) {
          const fallback = q.fallback?.(answers);
          ctx.out(`${q.vi} / ${q.en}${fallback ? ` [${fallback}]` : ""}:`);
          const line = await next();
          if (line === undefined)
            throw new DaemonError("USAGE", `hết dữ liệu vào trước câu "${q.key}" / input ended before "${q.key}"`);
          const text = line.trim().normalize("NFC") || fallback || "";
          if (text === "" && q.optional) break;
          answers[q.key] = text;
          const problem =
            text === "" ? "cần trả lời / an answer is needed" : issuesOf(answers, baseDir, true).get(q.path);
          if (problem === undefined) break;
          delete answers[q.key];
          ctx.out(`  ✗ ${problem}`);
        }
      }
    } finally {
      rl.close();
    }
  }

  const issues = issuesOf(answers, baseDir);
  if (issues.size > 0) {
    for (const [path, message] of issues) ctx.err(`  ${path}: ${message}`);
    throw new DaemonError(
      "CONFIG_INVALID",
      `Cấu hình chưa hợp lệ (${issues.size} chỗ), chưa ghi tệp / the config is not valid yet; nothing written`,
    );
  }
  writeFileSync(out, HEADER + stringify(configFromAnswers(answers)), { flag: "wx" });
  ctx.out(`Đã ghi / written: ${out}`);
  ctx.out(
    `Tiếp theo / next: đặt mật khẩu vào ${answers.keystorePasswordFile} và ${answers.authorityPasswordFile} ` +
      `(chmod 600), rồi / then: hoadon check-config ${out} && hoadon run --config ${out}`,
  );
  return 0;
}
