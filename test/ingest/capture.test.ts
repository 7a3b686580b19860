import { describe, expect, it } from "vitest";
import { ndjson } from "../../drivers/ndjson/index.js";
import { type DecoderEvent, defineDriver, utf8 } from "../../src/driver-api/index.js";
import {
  CaptureFormatError,
  eventToJson,
  formatCaptureChunk,
  parseCapture,
  replayCapture,
} from "../../src/ingest/capture.js";

describe("capture files", () => {
  it("parses headers, chunks, continuation lines, comments and directions", () => {
    const capture = parseCapture(
      [
        "# register: ACME ECR-200 fw 2.13",
        '# options: {"requireCrc":true}',
        "# Shows: something",
        "+0     < 7b 22",
        "         61 22   # continued",
        "",
        "# a comment between chunks: not a header",
        "+40    > 06",
        "+3     <",
      ].join("\r\n"),
    );
    expect(capture.headers).toEqual({
      register: "ACME ECR-200 fw 2.13",
      options: '{"requireCrc":true}',
      shows: "something",
    });
    expect(capture.chunks.map((c) => [c.deltaMs, c.atMs, c.direction, Array.from(c.bytes)])).toEqual([
      [0, 0, "in", [0x7b, 0x22, 0x61, 0x22]],
      [40, 40, "out", [0x06]],
      [3, 43, "in", []],
    ]);
  });

  it("names the line of a malformed entry", () => {
    expect(() => parseCapture("# ok\n+0 < 7b\n+x < 00\n")).toThrow(CaptureFormatError);
    try {
      parseCapture("# ok\n+0 < 7b\n< 00\n");
    } catch (error) {
      expect(error).toBeInstanceOf(CaptureFormatError);
      expect((error as CaptureFormatError).line).toBe(3);
    }
    expect(() => parseCapture("   7b 22\n")).toThrow(/line 1/);
  });

  it("formats chunks that parse back, wrapped or not", () => {
    const bytes = utf8('{"type":"ping"}\n');
    for (const wrap of [0, 4]) {
      const text = formatCaptureChunk(12, "in", bytes, wrap) + formatCaptureChunk(1.4, "out", Uint8Array.of(6));
      const parsed = parseCapture(text);
      expect(parsed.chunks.map((c) => [c.deltaMs, c.direction, Array.from(c.bytes)])).toEqual([
        [12, "in", Array.from(bytes)],
        [1, "out", [6]],
      ]);
    }
  });

  it("replays with idle() on gaps of the driver's idleMs and at the end", () => {
    const calls: string[] = [];
    const driver = defineDriver({
      ...ndjson,
      id: "gap-v1",
      idleMs: 100,
      createDecoder: () => ({
        push: (bytes: Uint8Array, now: number): DecoderEvent[] => {
          calls.push(`push ${bytes.length} @${now}`);
          return [];
        },
        idle: (now: number): DecoderEvent[] => {
          calls.push(`idle @${now}`);
          return [];
        },
      }),
    });
    replayCapture(driver, ndjson.options.parse({}), "+0 < 01\n+50 < 02\n+150 < 03\n+5 > 06\n");
    expect(calls).toEqual(["push 1 @0", "push 1 @50", "idle @150", "push 1 @200", "idle @200"]);
  });

  it("shows events as JSON: receipts with sample replies, problems and replies", () => {
    const input = utf8('{"type":"ping"}\n{x\n{"type":"receipt","id":"R-1","items":[{"name":"Bạc xỉu","qty":1}]}\n');
    const events = replayCapture(ndjson, ndjson.options.parse({}), formatCaptureChunk(0, "in", input));
    expect(events.map(eventToJson)).toEqual([
      { type: "reply", bytes: { text: '{"pong":true}\n' } },
      expect.objectContaining({ type: "problem", code: "BAD_JSON", raw: "7b780a", reply: expect.any(Object) }),
      {
        type: "receipt",
        receipt: { receiptId: "R-1", lines: [{ name: "Bạc xỉu", quantity: "1" }] },
        raw: expect.stringMatching(/^7b.*0a$/),
        replies: {
          ok: { text: expect.stringMatching(/^\{"ack":"R-1","status":"ok",.*\}\n$/) },
          rejected: { text: expect.stringMatching(/^\{"nak":"R-1","status":"error","code":"RECEIPT_INVALID",/) },
        },
      },
    ]);
    const binary = eventToJson({ type: "reply", bytes: Uint8Array.of(0x06) });
    expect(binary).toEqual({ type: "reply", bytes: { hex: "06" } });
  });
});

describe("two-port captures", () => {
  it("marks the device side <d / >d and reads it back", () => {
    const text = [
      formatCaptureChunk(0, "in", utf8("AB"), 0, "register"),
      formatCaptureChunk(3, "out", Uint8Array.of(0x12), 0, "device"),
      formatCaptureChunk(1, "in", Uint8Array.of(0x12, 0x5f, 0x00), 2, "device"),
    ].join("");
    expect(text).toBe("+0     < 41 42\n+3     >d 12\n+1     <d 12 5f\n          00\n");
    expect(parseCapture(text).chunks.map((c) => `${c.direction}:${c.side}:${c.bytes.length}`)).toEqual([
      "in:register:2",
      "out:device:1",
      "in:device:3",
    ]);
    expect(() => parseCapture("+0 <d0 11\n")).toThrow(CaptureFormatError);
  });

  it("replays a `# decoder: tap` capture through the tap decoder, both sides in order, idle on the register side", () => {
    const seen: string[] = [];
    const driver = defineDriver({
      ...ndjson,
      id: "tap-probe-v1",
      idleMs: 100,
      createTapDecoder: () => ({
        push: (bytes, now, from): DecoderEvent[] => {
          seen.push(`${from}@${now}:${bytes.length}`);
          return [];
        },
        idle: (now): DecoderEvent[] => {
          seen.push(`idle@${now}`);
          return [];
        },
      }),
    });
    const capture = "# decoder: tap\n+0     < 41\n+50    <d 12\n+100   < 42\n+10    > 06\n";
    replayCapture(driver, ndjson.options.parse({}), capture);
    expect(seen).toEqual(["register@0:1", "device@50:1", "idle@100", "register@150:1", "idle@150"]);
  });
});

describe("connection notes in captures", () => {
  it("reads the tap's link notes and hoadon's restarts, and replays a cut line apart from the next connection", () => {
    const line = utf8('{"receiptId":"A-1"');
    const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, "0")).join(" ");
    const text = [
      "# register: q1",
      "# connected: tcp at 2026-11-20 09:00:00+07:00",
      `+0 < ${hex(line)}`,
      "# disconnected: closed",
      "# device disconnected: gone",
      "# device connected: back",
      `+5 < ${hex(utf8("garbage"))}`,
      "# file opened: 2026-11-20 09:01:00+07:00",
      `+5 < ${hex(utf8("more"))}`,
      "# started: hoadon (journal)",
    ].join("\n");
    const parsed = parseCapture(text);
    expect(parsed.links).toEqual([
      { before: 0, side: "register", event: "up" },
      { before: 1, side: "register", event: "down" },
      { before: 1, side: "device", event: "down" },
      { before: 1, side: "device", event: "up" },
      { before: 2, side: "register", event: "start" },
      { before: 3, side: "register", event: "start" },
    ]);
    expect(parsed.headers).toMatchObject({ register: "q1" });
    // Each cut is flushed where the session flushed it (unplug, restart, end): three problems, none glued together.
    const problems = replayCapture(ndjson, ndjson.options.parse({}), parsed).filter((e) => e.type === "problem");
    expect(problems.map((p) => p.type === "problem" && new TextDecoder().decode(p.raw))).toEqual([
      '{"receiptId":"A-1"',
      "garbage",
      "more",
    ]);
  });
});
