import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { runHoadon } from "../support/cli.js";

describe("hoadon command line", () => {
  it("decode replays a capture into the same events the driver test expects", async () => {
    const run = await runHoadon(["decode", "--driver", "ndjson-v1", "drivers/ndjson/captures/crc-mismatch.cap"]);
    expect(run.code).toBe(0);
    const expected = JSON.parse(readFileSync("drivers/ndjson/captures/crc-mismatch.expected.json", "utf8"));
    expect(
      run.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual(expected);
  });

  it("names an unknown driver and a bad option, with their exit codes", async () => {
    const unknown = await runHoadon(["decode", "--driver", "nope-v1", "x.cap"]);
    expect(unknown.code).toBe(78);
    expect(unknown.stderr).toContain("ndjson-v1");
    const missing = await runHoadon(["decode", "--driver", "ndjson-v1", "/nonexistent.cap"]);
    expect(missing.code).toBe(66);
    const usage = await runHoadon(["audit", "verify"]);
    expect(usage.code).toBe(64);
    expect(usage.stderr).toContain("--db");
    const cmd = await runHoadon(["frobnicate"]);
    expect(cmd.code).toBe(64);
  });

  it.each(["ndjson", "datecs", "escpos"])("simulate %s: a pty LINK socat cannot take is a usage error", async (p) => {
    const run = await runHoadon(["simulate", "register", "--protocol", p, "--port", "pty:/tmp/a b", "--count", "1"]);
    expect(run.code, run.stderr).toBe(64);
    expect(run.stderr).toContain("LINK must not contain , : ! or spaces: /tmp/a b");
  });

  it("every command answers --help", async () => {
    const top = await runHoadon(["--help"]);
    expect(top.code).toBe(0);
    const names = [...top.stdout.matchAll(/^ {2}([a-z-]+) /gm)].map((m) => m[1] as string);
    expect(names).toEqual(expect.arrayContaining(["demo", "run", "check-config", "invoice", "audit", "status"]));
    for (const name of names) {
      const help = await runHoadon([name, "--help"]);
      expect(help.code, name).toBe(0);
      expect(help.stdout, name).toContain(`hoadon ${name}`);
    }
  });
});
