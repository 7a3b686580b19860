/**
 * Every registered driver over every capture (style.md Part 4): adding a capture needs no new test code.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { fc, test as fcTest } from "@fast-check/vitest";
import { describe, expect, it } from "vitest";
import { drivers } from "../drivers/index.js";
import { concatBytes, type DecoderEvent, type Driver } from "../src/driver-api/index.js";
import { type Capture, eventToJson, idleMsOf, parseCapture, replayCapture } from "../src/ingest/capture.js";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "drivers");
const folders = readdirSync(root).filter((f) => statSync(join(root, f)).isDirectory());

const isDriver = (v: unknown): v is Driver =>
  typeof v === "object" && v !== null && "id" in v && "createDecoder" in v && "options" in v;

/** folder → the registered drivers it exports. */
const byFolder = new Map<string, Driver[]>();
for (const folder of folders) {
  const mod: Record<string, unknown> = await import(pathToFileURL(join(root, folder, "index.ts")).href);
  byFolder.set(
    folder,
    Object.values(mod).filter((v): v is Driver => isDriver(v) && (drivers as readonly Driver[]).includes(v)),
  );
}

const capturesOf = (folder: string): string[] =>
  existsSync(join(root, folder, "captures"))
    ? readdirSync(join(root, folder, "captures"))
        .filter((f) => f.endsWith(".cap"))
        .sort()
    : [];

const asJson = (events: readonly DecoderEvent[]): string => `${JSON.stringify(events.map(eventToJson), null, 2)}\n`;

describe("driver registry", () => {
  it("has unique ids of the form vendor-protocol-vN", () => {
    const ids = drivers.map((d) => d.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^[a-z0-9]+(-[a-z0-9]+)*-v\d+$/);
  });

  it("registers every folder under drivers/ and finds every registered driver in one folder", () => {
    for (const folder of folders) expect(byFolder.get(folder), `drivers/${folder}`).not.toHaveLength(0);
    for (const driver of drivers) {
      const homes = folders.filter((f) => byFolder.get(f)?.includes(driver));
      expect(homes, driver.id).toHaveLength(1);
    }
  });

  it.each(folders)("drivers/%s has a README.md and at least one capture with its expected file", (folder) => {
    expect(existsSync(join(root, folder, "README.md"))).toBe(true);
    const caps = capturesOf(folder);
    expect(caps.length).toBeGreaterThan(0);
    for (const cap of caps) {
      expect(existsSync(join(root, folder, "captures", cap.replace(/\.cap$/, ".expected.json"))), cap).toBe(true);
    }
  });

  it("has default options that parse from {}", () => {
    for (const driver of drivers) expect(() => driver.options.parse({})).not.toThrow();
  });
});

const cases = folders.flatMap((folder) =>
  capturesOf(folder).map((cap) => {
    const driver = byFolder.get(folder)![0]!;
    const text = readFileSync(join(root, folder, "captures", cap), "utf8");
    const capture = parseCapture(text);
    const options = driver.options.parse(capture.headers["options"] ? JSON.parse(capture.headers["options"]) : {});
    return { name: `${folder}/${cap}`, folder, cap, driver, capture, options };
  }),
);

/** Adjacent `forward` events to the same side as one (how a bridge cuts its pass-through depends on chunking). */
function mergeForwards(events: readonly DecoderEvent[]): DecoderEvent[] {
  const out: DecoderEvent[] = [];
  for (const e of events) {
    const prev = out[out.length - 1];
    if (e.type === "forward" && prev?.type === "forward" && prev.to === e.to) {
      out[out.length - 1] = { type: "forward", to: e.to, bytes: concatBytes([prev.bytes, e.bytes]) };
    } else out.push(e);
  }
  return out;
}

/** The capture with each chunk's bytes cut again at `cuts` (offsets into the concatenated chunk bytes). */
function rechunk(capture: Capture, cuts: readonly number[]): Capture {
  const sorted = [...new Set(cuts)].sort((a, b) => a - b);
  const chunks: Capture["chunks"][number][] = [];
  /** Where each original chunk starts among the new ones (a link note before it stays before it). */
  const startOf: number[] = [];
  let base = 0;
  for (const chunk of capture.chunks) {
    startOf.push(chunks.length);
    const inside = sorted.filter((c) => c > base && c < base + chunk.bytes.length).map((c) => c - base);
    const points = [0, ...inside, chunk.bytes.length];
    for (let i = 1; i < points.length; i++) {
      chunks.push({
        ...chunk,
        deltaMs: i === 1 ? chunk.deltaMs : 0,
        bytes: chunk.bytes.subarray(points[i - 1]!, points[i]!),
      });
    }
    base += chunk.bytes.length;
  }
  startOf.push(chunks.length);
  return { headers: capture.headers, chunks, links: capture.links.map((l) => ({ ...l, before: startOf[l.before]! })) };
}

describe("captures", () => {
  it.each(cases)("$name replays to its expected events", async ({ folder, cap, driver, capture, options }) => {
    const events = replayCapture(driver, options, capture);
    await expect(asJson(events)).toMatchFileSnapshot(
      join(root, folder, "captures", cap.replace(/\.cap$/, ".expected.json")),
    );
  });

  describe.each(cases)("$name", ({ driver, capture, options }) => {
    const replay = (c: Capture): string => asJson(mergeForwards(replayCapture(driver, options, c)));
    const whole = replay(capture);
    const total = capture.chunks.reduce((n, c) => n + c.bytes.length, 0);

    fcTest.prop([fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, total - 1) }), { maxLength: 64 })], {
      numRuns: 40,
    })("gives the same events however each chunk is cut again", (cuts) => {
      expect(replay(rechunk(capture, cuts))).toBe(whole);
    });

    it("gives the same events with every chunk fed one byte at a time", () => {
      expect(
        replay(
          rechunk(
            capture,
            Array.from({ length: total }, (_, i) => i),
          ),
        ),
      ).toBe(whole);
    });
  });

  describe.each(
    cases.filter((c) => idleMsOf(c.driver, c.options) === undefined && c.capture.headers["decoder"] !== "tap"),
  )("$name", ({ driver, capture, options }) => {
    const bytes = concatBytes(capture.chunks.filter((c) => c.direction === "in").map((c) => c.bytes));
    const decodeIn = (pieces: readonly Uint8Array[]): string => {
      const decoder = driver.createDecoder(options);
      const events = pieces.flatMap((p) => decoder.push(p, 0));
      return asJson([...events, ...decoder.idle(0)]);
    };
    const whole = decodeIn([bytes]);

    it("gives the same events as when replayed chunk by chunk", () => {
      expect(asJson(replayCapture(driver, options, capture))).toBe(whole);
    });

    fcTest.prop([fc.uniqueArray(fc.integer({ min: 1, max: Math.max(1, bytes.length - 1) }), { maxLength: 64 })], {
      numRuns: 60,
    })("gives the same events however the bytes are chunked", (cuts) => {
      const points = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
      const pieces = points.slice(1).map((end, i) => bytes.subarray(points[i]!, end));
      expect(decodeIn(pieces)).toBe(whole);
    });

    it("gives the same events fed one byte at a time", () => {
      expect(decodeIn(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1)))).toBe(whole);
    });
  });
});
