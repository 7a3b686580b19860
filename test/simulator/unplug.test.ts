/** The printer simulators' line loop: a stop that comes while the line is being opened ends it. */
import { describe, expect, it } from "vitest";
import { createMemoryLink, type PortSource } from "../../src/ingest/connection.js";
import { servePrinterLine } from "../../src/simulator/unplug.js";

describe("servePrinterLine", () => {
  it("ends when stopped while its line was being opened (the other side still holds the line)", {
    timeout: 5_000,
  }, async () => {
    const stop = new AbortController();
    const { a } = createMemoryLink();
    const source: PortSource = {
      description: "test",
      // SIGTERM arrives as the open completes (a pty's open awaits socat, then the port).
      open: async () => {
        stop.abort();
        return a;
      },
      close: async () => {},
    };
    let attached = 0;
    const result = await servePrinterLine(source, undefined, stop.signal, () => attached++);
    expect(result).toEqual({ unplugs: 0, idle: false });
    expect(attached).toBe(1);
  });
});
