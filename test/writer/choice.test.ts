/** `store.writer: auto` (src/main.ts writerThreadFor): the writer thread where a printer's bytes must not wait. */
import { describe, expect, it } from "vitest";
import { driverCatalogue } from "../../src/catalogue.js";
import { loadConfig } from "../../src/config/load.js";
import { writerThreadFor } from "../../src/main.js";
import { writeDemoConfig } from "../support/demo-config.js";
import { tempDir } from "../support/tmp.js";

const ndjson = { id: "quay-1", driver: "ndjson-v1", port: "tcp-listen://127.0.0.1:20001" };
const bridge = {
  id: "quay-2",
  driver: "escpos-tap-v1",
  port: "tcp-listen://127.0.0.1:20002",
  devicePort: "tcp://127.0.0.1:9100",
  options: { role: "bridge" },
};

function configWith(registers: unknown[], writer?: "auto" | "thread" | "inline") {
  const { file } = writeDemoConfig(tempDir("hoadon-choice-"), { registers, ...(writer ? { writer } : {}) });
  return loadConfig(file, driverCatalogue);
}

describe("store.writer", () => {
  it("auto: inline for one-port registers, the writer thread as soon as one register bridges a printer", () => {
    expect(configWith([ndjson]).store.writer).toBe("auto");
    expect(writerThreadFor(configWith([ndjson]))).toBe(false);
    expect(writerThreadFor(configWith([ndjson, bridge]))).toBe(true);
  });

  it("thread and inline are taken as they are", () => {
    expect(writerThreadFor(configWith([ndjson], "thread"))).toBe(true);
    expect(writerThreadFor(configWith([ndjson, bridge], "inline"))).toBe(false);
  });
});
