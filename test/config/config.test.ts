import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { z } from "zod";
import { configJsonSchema } from "../../src/config/json-schema.js";
import { ConfigInvalidError, type DriverCatalogue, loadConfig, validateConfig } from "../../src/config/load.js";
import { REDUCTION_NOTE_TEMPLATE } from "../../src/invoice/index.js";
import { recorderSettings } from "../../src/writer/core.js";
import { tempDir } from "../support/tmp.js";

const catalogue: DriverCatalogue = {
  get: (id) =>
    id === "ndjson-v1" ? { options: z.object({ maxLineBytes: z.number().int().default(65536) }) } : undefined,
  ids: () => ["ndjson-v1"],
};

const demo = (): Record<string, unknown> => parse(readFileSync("config/demo.yaml", "utf8")) as Record<string, unknown>;

describe("config", () => {
  it("accepts the embedded demo config and fills defaults", () => {
    const { config, issues } = validateConfig(demo(), catalogue, "/data");
    expect(issues).toEqual([]);
    expect(config?.invoice.profile).toBe("2.1");
    expect(config?.store.path).toBe("/data/hoadon.sqlite");
    expect(config?.registers[0]?.options).toEqual({ maxLineBytes: 65536 });
    expect(config?.authority.batch.maxInvoices).toBe(1000);
  });

  it("lists every problem with its path, not just the first", () => {
    const raw = demo();
    (raw.seller as Record<string, unknown>).taxCode = "12AB";
    (raw.invoice as Record<string, unknown>).mccqtBlock = "abc";
    raw.registers = [
      { id: "quay-1", driver: "nope-v1", port: "/dev/ttyS0" },
      { id: "quay-1", driver: "ndjson-v1", port: "/dev/ttyS1", options: { maxLineBytes: "big" } },
    ];
    const first = validateConfig(raw, catalogue, "/data");
    expect(first.config).toBeUndefined();
    expect(first.issues.map((i) => i.path)).toEqual(["seller.taxCode", "invoice.mccqtBlock"]);

    (raw.seller as Record<string, unknown>).taxCode = "0100000001";
    (raw.invoice as Record<string, unknown>).mccqtBlock = "A1B2C";
    const second = validateConfig(raw, catalogue, "/data");
    expect(second.issues.map((i) => i.path)).toEqual([
      "registers[0].driver",
      "registers[1].id",
      "registers[1].options.maxLineBytes",
    ]);
    expect(second.issues[0]?.message).toContain("ndjson-v1");
  });

  it("refuses unknown versions and a missing password source", () => {
    const raw = demo();
    raw.version = 2;
    delete (raw.signing as Record<string, unknown>).passwordFile;
    const { issues } = validateConfig(raw, catalogue, "/data");
    expect(issues.map((i) => i.path)).toEqual(expect.arrayContaining(["version", "signing"]));
  });

  it("loadConfig throws CONFIG_INVALID listing the issues, and CONFIG_UNREADABLE for a missing file", () => {
    const dir = tempDir();
    const file = join(dir, "bad.yaml");
    writeFileSync(file, "version: 1\nseller: {}\n");
    try {
      loadConfig(file, catalogue);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigInvalidError);
      const err = e as ConfigInvalidError;
      expect(err.exitCode).toBe(78);
      expect(err.issues.length).toBeGreaterThan(3);
      expect(err.message).toContain("seller.taxCode");
    }
    writeFileSync(file, "version: [1\n");
    expect(() => loadConfig(file, catalogue)).toThrowError(expect.objectContaining({ code: "CONFIG_INVALID" }));
    expect(() => loadConfig(join(dir, "missing.yaml"), catalogue)).toThrowError(
      expect.objectContaining({ code: "CONFIG_UNREADABLE" }),
    );
  });
});

describe("config files in the repo", () => {
  it("shop.example.yaml is valid", () => {
    const raw = parse(readFileSync("config/shop.example.yaml", "utf8"));
    expect(validateConfig(raw, catalogue, "/etc/hoadon").issues).toEqual([]);
  });

  it("shop.example.yaml's commented household-shop salesReduction is valid and reaches the write path's settings", () => {
    const text = readFileSync("config/shop.example.yaml", "utf8");
    const lines = text.split("\n");
    const start = lines.findIndex((l) => l.startsWith("  # salesReduction:"));
    let end = start;
    while (lines[end + 1]?.startsWith("  #")) end += 1;
    expect(end - start).toBeGreaterThan(10);
    const block = lines.slice(start, end + 1).map((l) => l.replace("# ", ""));
    const raw = parse([...lines.slice(0, start), ...block, ...lines.slice(end + 1)].join("\n"));
    raw.invoice.form = "2";
    const { config, issues } = validateConfig(raw, catalogue, "/etc/hoadon");
    expect(issues).toEqual([]);
    const settings = recorderSettings(config as NonNullable<typeof config>);
    expect(settings.compute.salesReduction).toEqual({
      ratio: "3%",
      ratioByGroup: { grocery: "1%" },
      note: REDUCTION_NOTE_TEMPLATE,
      registerTotal: "reduced",
      xml: { placement: "TTKhac", noteField: "NQ204_GTTGT", amountField: "NQ204_SoTienGiam" },
    });
    expect(settings.reductionRules).toEqual([
      { group: "beer", percent: 0 },
      { group: "wine", percent: 0 },
      { group: "tobacco", percent: 0 },
      { percent: 20, from: "2027-01-01", until: "2027-06-30" },
    ]);
  });

  it("refuses form 2 without salesReduction, an unknown ratio, a note without {amount}, equal field names", () => {
    const raw = parse(readFileSync("config/shop.example.yaml", "utf8"));
    raw.invoice.form = "2";
    const paths = (): string[] => validateConfig(raw, catalogue, "/etc/hoadon").issues.map((i) => i.path);
    expect(paths()).toEqual(["invoice.salesReduction"]);
    raw.invoice.salesReduction = { ratio: "4%", note: "Đã giảm" };
    expect(paths()).toEqual(["invoice.salesReduction.ratio", "invoice.salesReduction.note"]);
    raw.invoice.salesReduction = { ratio: "1%", noteField: "X", amountField: "X" };
    expect(paths()).toEqual(["invoice.salesReduction.amountField"]);
    // TGTKhac exists only in the 2.1.x TToan.
    raw.invoice.salesReduction = { ratio: "1%", placement: "TGTKhac" };
    expect(paths()).toEqual([]);
    raw.invoice.profile = "2.0.1";
    expect(paths()).toEqual(["invoice.salesReduction.placement"]);
  });

  it("config/hoadon.schema.json is what the zod schema generates (regenerate: hoadon config-schema)", async () => {
    await expect(`${JSON.stringify(configJsonSchema(), null, 2)}\n`).toMatchFileSnapshot(
      "../../config/hoadon.schema.json",
    );
  });
});
