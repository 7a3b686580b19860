import { readFileSync } from "node:fs";
import { fc, test } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { driverCatalogue } from "../../src/catalogue.js";
import { validateConfig } from "../../src/config/load.js";
import {
  checkRateRules,
  computeInvoice,
  type RateRule,
  rateFor,
  ratesOn,
  STATUTORY_RATES,
} from "../../src/invoice/index.js";
import { Receipt } from "../../src/receipt/model.js";
import { vnDate } from "../../src/shared/clock.js";

/** The demo shop: beer, wine and tobacco stay at 10% during the reduction; medicine is always 5%. */
const SHOP: readonly RateRule[] = [
  ...STATUTORY_RATES,
  { group: "beer", rate: "10%" },
  { group: "wine", rate: "10%" },
  { group: "medicine", rate: "5%" },
];

describe("ratesOn", () => {
  it("gives the reduced 8% until 31 December 2026 and 10% from 1 January 2027", () => {
    expect(ratesOn(SHOP, "2026-12-31")).toEqual({
      defaultVatRate: "8%",
      ratesByGroup: { beer: "10%", wine: "10%", medicine: "5%" },
      notInForce: [],
    });
    expect(ratesOn(SHOP, "2027-01-01")).toEqual({
      defaultVatRate: "10%",
      ratesByGroup: { beer: "10%", wine: "10%", medicine: "5%" },
      notInForce: ["8%"],
    });
  });

  it("starts the reduction on 1 July 2025 (10% the day before)", () => {
    expect(rateFor(SHOP, "2025-06-30", "food")).toBe("10%");
    expect(rateFor(SHOP, "2025-07-01", "food")).toBe("8%");
    expect(rateFor(SHOP, "2025-07-01")).toBe("8%");
  });

  it("keeps excluded groups at 10% and fixed groups at their rate on both sides of the end", () => {
    for (const day of ["2026-12-31", "2027-01-01"]) {
      expect(rateFor(SHOP, day, "beer")).toBe("10%");
      expect(rateFor(SHOP, day, "medicine")).toBe("5%");
      expect(rateFor(SHOP, day, "unknown-group")).toBe(day === "2026-12-31" ? "8%" : "10%");
    }
  });

  it("lets the config extend the reduction with a later dated rule", () => {
    const extended = [...SHOP, { rate: "8%", from: "2027-01-01", until: "2027-06-30" }];
    expect(rateFor(extended, "2027-01-01")).toBe("8%");
    expect(rateFor(extended, "2027-06-30")).toBe("8%");
    expect(rateFor(extended, "2027-07-01")).toBe("10%");
    expect(rateFor(extended, "2027-01-01", "beer")).toBe("10%"); // the group rule still wins
    expect(ratesOn(extended, "2027-03-01").notInForce).toEqual([]);
    expect(ratesOn(extended, "2027-07-01").notInForce).toEqual(["8%"]);
  });

  it("lets a later rule cut the reduction short or change a group's rate from a date", () => {
    const rules = [
      ...SHOP,
      { rate: "10%", from: "2026-10-01" },
      { group: "medicine", rate: "KCT", from: "2027-01-01" },
    ] satisfies RateRule[];
    expect(rateFor(rules, "2026-09-30")).toBe("8%");
    expect(rateFor(rules, "2026-10-01")).toBe("10%");
    expect(rateFor(rules, "2026-12-31", "medicine")).toBe("5%");
    expect(rateFor(rules, "2027-01-01", "medicine")).toBe("KCT");
  });

  it("refuses a day it cannot read and a schedule with no rule for everything that day", () => {
    expect(() => ratesOn(SHOP, "2026-02-30")).toThrow(RangeError);
    expect(() => ratesOn([{ rate: "8%", until: "2026-12-31" }], "2027-01-01")).toThrow(/no VAT rule/);
  });

  it("names the rules it cannot use", () => {
    expect(
      checkRateRules([
        { rate: "10%" },
        { rate: "KHAC" },
        { rate: "8%", from: "2026-13-01" },
        { rate: "8%", from: "2027-01-01", until: "2026-12-31" },
      ]).map((p) => p.index),
    ).toEqual([1, 2, 3]);
    expect(checkRateRules(SHOP)).toEqual([]);
  });

  test.prop([fc.integer({ min: Date.parse("2024-01-01T00:00:00Z"), max: Date.parse("2028-12-31T00:00:00Z") })])(
    "is 8% exactly on the Vietnam-local days 2025-07-01 … 2026-12-31",
    (ms) => {
      const day = vnDate(ms);
      expect(rateFor(SHOP, day)).toBe(day >= "2025-07-01" && day <= "2026-12-31" ? "8%" : "10%");
    },
  );
});

describe("computeInvoice with the rates of the invoice date", () => {
  const receipt = Receipt.parse({
    receiptId: "R-1",
    issuedAt: "2026-12-31T23:59:00+07:00",
    lines: [
      { name: "Cà phê sữa đá", quantity: "1", unitPrice: 108_000, amount: 108_000 },
      { name: "Bia lon", quantity: "1", unitPrice: 110_000, amount: 110_000, group: "beer" },
    ],
    total: 218_000,
  });
  const on = (day: string) => {
    const r = ratesOn(SHOP, day);
    return {
      form: "1" as const,
      toleranceDong: 0,
      defaultVatRate: r.defaultVatRate,
      ratesByGroup: r.ratesByGroup,
      ratesNotInForce: r.notInForce,
      issueDate: day,
    };
  };

  it("splits the same VAT-inclusive receipt at 8% on 31 December and at 10% on 1 January", () => {
    const before = computeInvoice(receipt, on("2026-12-31"));
    const after = computeInvoice(receipt, on("2027-01-01"));
    if (!before.ok || !after.ok) throw new Error("not ok");
    expect(before.draft.rateGroups).toEqual([
      { TSuat: "8%", ThTien: 100_000, TThue: 8_000 },
      { TSuat: "10%", ThTien: 100_000, TThue: 10_000 },
    ]);
    expect(after.draft.rateGroups).toEqual([{ TSuat: "10%", ThTien: 198_182, TThue: 19_818 }]);
    expect(after.draft.TgTTTBSo).toBe(218_000);
  });

  it("holds a line whose register still sends 8% after the reduction ended", () => {
    const stale = Receipt.parse({
      ...receipt,
      lines: [{ name: "Cà phê", quantity: "1", unitPrice: 108_000, amount: 108_000, vatRate: "8%" }],
      total: 108_000,
    });
    expect(computeInvoice(stale, on("2026-12-31")).ok).toBe(true);
    const held = computeInvoice(stale, on("2027-01-01"));
    expect(held.ok).toBe(false);
    if (held.ok) return;
    expect(held.problems[0]).toMatchObject({ code: "RATE_NOT_IN_FORCE", path: "lines[0].vatRate" });
    expect(held.problems[0]?.message).toMatch(/^Dòng 1: thuế suất 8% không còn/);
  });
});

describe("invoice.rates in the config", () => {
  const demo = (): Record<string, Record<string, unknown>> =>
    parse(readFileSync("config/demo.yaml", "utf8")) as Record<string, Record<string, unknown>>;

  it("accepts the demo's rules and names a bad rule by its path", () => {
    const raw = demo();
    expect(validateConfig(raw, driverCatalogue, "/data").issues).toEqual([]);
    raw.invoice = {
      ...raw.invoice,
      rates: [
        { group: "beer", rate: "10%" },
        { rate: "KHAC" },
        { rate: "8%", from: "2027-07-01", until: "2027-01-01" },
      ],
    };
    const issues = validateConfig(raw, driverCatalogue, "/data").issues;
    expect(issues.map((i) => i.path)).toEqual(["invoice.rates[1].rate", "invoice.rates[2].until"]);
    expect(issues[0]?.message).toMatch(/^KHAC không xác định được tiền thuế/);
  });

  it("refuses the old defaultVatRate / ratesByGroup keys instead of silently dropping beer's 10%", () => {
    const raw = demo();
    raw.invoice = { ...raw.invoice, ratesByGroup: { beer: "10%" } };
    const issues = validateConfig(raw, driverCatalogue, "/data").issues;
    expect(issues).toEqual([
      {
        path: "invoice",
        message:
          "ratesByGroup: thay bằng invoice.rates: [{ group, rate }] / replaced by invoice.rates: [{ group, rate }]",
      },
    ]);
  });
});
