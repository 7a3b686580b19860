/**
 * `hoadon init` as a shop owner meets it: questions on the terminal (here: a pipe), a wrong answer asked again with
 * the schema's own message, a config that `hoadon check-config` accepts, and nothing ever overwritten.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { tempDir } from "../support/tmp.js";

const hoadon = (args: readonly string[], input = "") =>
  spawnSync(process.execPath, ["bin/hoadon.js", ...args], { input, encoding: "utf8", timeout: 60_000 });

/** Answers in question order; "" takes the default. */
const ANSWERS = [
  "123", // a wrong tax code: asked again
  "0312345678",
  "CỬA HÀNG TẠP HÓA VÍ DỤ",
  "12 Đường Ví Dụ, TP. Hồ Chí Minh",
  "", // phone: left out
  "2", // sales invoice
  "4%", // not an activity ratio: asked again
  "3%", // food and drink
  "", // symbol suffix: default AA
  "b7k2q", // lower case: refused (the notice prints upper case)
  "B7K2Q",
  "", // provider tax code: the shop's own
  "", // keystore
  "", // keystore password file
  "https://tvan.example.vn/api",
  "", // gateway
  "shop01",
  "", // T-VAN password file
  "", // sender code
  "no-such-driver", // refused: not a driver hoadon has
  "escpos-tap-v1",
  "/dev/serial/by-id/usb-pos-if00",
  "/dev/serial/by-id/usb-printer-if00", // asked because escpos-tap sits between register and printer
  "", // store
];

describe("hoadon init", () => {
  it("asks, re-asks a wrong answer with the reason, and writes a config check-config accepts", () => {
    const out = join(tempDir(), "shop.yaml");
    const run = hoadon(["init", "--out", out], `${ANSWERS.join("\n")}\n`);
    expect(run.status, run.stdout + run.stderr).toBe(0);
    expect(run.stdout).toMatch(/Mã số thuế của cửa hàng/);
    expect(run.stdout).toMatch(/✗ mã số thuế gồm 10 chữ số/);
    expect(run.stdout).toMatch(/✗ 5 ký tự/);
    expect(run.stdout).toMatch(/✗ không có driver "no-such-driver"/);
    expect(run.stdout).toMatch(/Cổng máy in hóa đơn/);
    expect(run.stdout).toMatch(/Tỷ lệ % tính thuế GTGT[^\n]*\n {2}✗/);
    const config = parse(readFileSync(out, "utf8")) as Record<string, Record<string, unknown>>;
    expect(config.seller).toEqual({
      taxCode: "0312345678",
      name: "CỬA HÀNG TẠP HÓA VÍ DỤ",
      address: "12 Đường Ví Dụ, TP. Hồ Chí Minh",
    });
    expect(config.invoice).toMatchObject({
      form: "2",
      symbolSuffix: "AA",
      mccqtBlock: "B7K2Q",
      salesReduction: { ratio: "3%" },
    });
    expect(config.invoice?.providerTaxCode).toBe("0312345678");
    expect(config.authority).toMatchObject({ url: "https://tvan.example.vn/api", senderCode: "0312345678" });
    expect(config.registers).toEqual([
      {
        id: "quay-1",
        driver: "escpos-tap-v1",
        port: "/dev/serial/by-id/usb-pos-if00",
        devicePort: "/dev/serial/by-id/usb-printer-if00",
      },
    ]);
    const check = hoadon(["check-config", out]);
    expect(check.status, check.stderr).toBe(0);
  });

  it("never overwrites a file, and writes nothing from answers that do not make a valid config", () => {
    const dir = tempDir();
    const existing = join(dir, "hoadon.yaml");
    writeFileSync(existing, "# mine\n");
    const refused = hoadon(["init", "--out", existing], ANSWERS.join("\n"));
    expect(refused.status).toBe(64);
    expect(readFileSync(existing, "utf8")).toBe("# mine\n");

    const answers = join(dir, "answers.json");
    writeFileSync(
      answers,
      JSON.stringify({ taxCode: "0312345678", name: "X", address: "Y", port: "tcp-listen://0.0.0.0:9100" }),
    );
    const out = join(dir, "new.yaml");
    const run = hoadon(["init", "--out", out, "--answers", answers]);
    expect(run.status).toBe(78);
    expect(run.stderr).toMatch(/invoice\.mccqtBlock/);
    expect(run.stderr).toMatch(/authority\.url/);
    expect(existsSync(out)).toBe(false);

    // Input that ends early is an error, not a half-written file.
    const short = hoadon(["init", "--out", out], "0312345678\n");
    expect(short.status).toBe(64);
    expect(existsSync(out)).toBe(false);
  });
});
