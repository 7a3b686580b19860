/**
 * Device role (README.md "Device role"): hoadon is the fiscal printer the POS talks to. Frames from the POS go
 * through the {@link Engine}; every frame is answered at once, except the close of a sale or storno receipt, whose
 * answer is built by the receipt event's `reply(outcome)` after the write path has committed (meanwhile the session
 * sends the driver's busy signal, SYN every 60 ms). A frame repeated with the same
 * SEQ, CMD and DATA gets the cached answer and is not executed again.
 */
import {
  type ByteSpan,
  bytesEqual,
  type Decoder,
  type DecoderEvent,
  type ProblemCode,
  type RecordOutcome,
} from "../../src/driver-api/index.js";
import {
  type CommandError,
  createEngine,
  type Engine,
  type EngineConfig,
  type ExecResult,
  type StreamSpan,
} from "./engine.js";
import { cmdLabel, createDeframer, type DeframeEvent, encodeFrame, type Frame, NAK, SYN } from "./frame.js";

/** The problem codes this driver reports (all listed in driver-api's `ProblemCode`). */
export type DatecsProblemCode = ProblemCode;

/** A problem event with one of this driver's codes. */
export function problem(code: DatecsProblemCode, detail: string, raw: Uint8Array, reply?: Uint8Array): DecoderEvent {
  return reply === undefined ? { type: "problem", code, detail, raw } : { type: "problem", code, detail, raw, reply };
}

/** An engine span as an event's `span`: the POS's frames are the register side's stream, in both roles. */
export function onRegister(span: StreamSpan | undefined): { span?: ByteSpan } {
  return span === undefined ? {} : { span: { side: "register", ...span } };
}

/** Options of the device-role decoder. */
export interface DeviceDecoderOptions extends EngineConfig {
  readonly maxFrameBytes: number;
}

/** Problem code and wording for a refused command. */
const refusal: Readonly<Record<CommandError, { code: DatecsProblemCode; vi: string; en: string }>> = {
  syntax: { code: "DECODE_FAILED", vi: "Lệnh sai cú pháp", en: "syntax error" },
  unknown: { code: "UNKNOWN_RECORD", vi: "Lệnh không biết", en: "unknown command" },
  "not-allowed": { code: "COMMAND_REFUSED", vi: "Lệnh không được phép lúc này", en: "command not allowed now" },
  general: { code: "COMMAND_REFUSED", vi: "Lỗi chung", en: "general error" },
};

/** Turn deframer problems into events; `nak` answers a framed-but-bad frame. */
export function framingProblem(
  e: Exclude<DeframeEvent, { kind: "frame" }>,
  nak?: Uint8Array,
): DecoderEvent | undefined {
  switch (e.kind) {
    case "bad":
      return problem(e.code, e.detail, e.raw, nak);
    case "truncated":
      return problem(
        "TRUNCATED",
        `Khung bị cắt ngang (${e.raw.length} byte) / frame cut off (${e.raw.length} bytes)`,
        e.raw,
      );
    case "garbage":
      return problem(
        "GARBAGE",
        `${e.raw.length} byte rác ngoài khung / ${e.raw.length} bytes of noise outside any frame`,
        e.raw,
      );
    case "nak":
    case "syn":
      return undefined;
    default: {
      const never: never = e;
      throw new TypeError(`unknown deframe event ${JSON.stringify(never)}`);
    }
  }
}

/** Create the device-role decoder (one per port: it outlives an unplug, see `linkDown`). */
export function createDeviceDecoder(options: DeviceDecoderOptions): Decoder {
  const { framing } = options;
  const engine: Engine = createEngine(options);
  const deframer = createDeframer({ framing, source: "host", maxFrameBytes: options.maxFrameBytes });
  const nakByte = Uint8Array.of(NAK);
  const synByte = Uint8Array.of(SYN);

  /** The last executed frame and what it was answered; `pending` while a close waits for its commit. */
  let last: { frame: Frame; reply: Uint8Array | "pending"; token: object } | undefined;

  const sameAsLast = (f: Frame): boolean =>
    last !== undefined && last.frame.seq === f.seq && last.frame.cmd === f.cmd && bytesEqual(last.frame.data, f.data);

  const frameReply = (f: Frame, answer: Uint8Array, status: Uint8Array): Uint8Array =>
    encodeFrame(framing, { seq: f.seq, cmd: f.cmd, data: answer, status });

  const execute = (f: Frame, raw: Uint8Array, end: number, nowMs: number, out: DecoderEvent[]): void => {
    const result: ExecResult = engine.execute(f.cmd, f.data, nowMs, raw, { at: end - raw.length });
    const token = {};
    if (!result.ok) {
      const bytes = frameReply(f, engine.errorAnswer(result.error), engine.status(result.error));
      last = { frame: f, reply: bytes, token };
      const r = refusal[result.error];
      out.push(problem(r.code, `${cmdLabel(f.cmd)}: ${r.vi}: ${result.detail} (${r.en})`, raw, bytes));
      return;
    }
    if (result.identity) out.push({ type: "identity", ...result.identity });
    const closed = result.closed;
    if (closed === undefined) {
      const bytes = frameReply(f, result.answer, engine.status());
      last = { frame: f, reply: bytes, token };
      out.push(
        result.notice
          ? {
              ...problem(result.notice.code, result.notice.detail, result.notice.raw, bytes),
              ...onRegister(result.notice.span),
            }
          : { type: "reply", bytes },
      );
      return;
    }
    // The close of a sale receipt: its answer waits for the commit. Build every possible answer from the state
    // right after the close, so the bytes do not depend on when (or how often) `reply` is called.
    const okBytes = frameReply(f, result.answer, engine.status());
    const rejectedBytes = frameReply(f, engine.errorAnswer("syntax"), engine.status("syntax"));
    const failedStatus = engine.status("general");
    failedStatus[2]! |= 0x08; // the receipt is open again (2.3) so the POS can close it once more
    if (closed.receipt["kind"] === "refund" && framing === "old") failedStatus[1]! |= 0x10; // a storno again (1.4)
    const failedBytes = frameReply(f, engine.errorAnswer("general"), failedStatus);
    last = { frame: f, reply: "pending", token };
    let decided = false;
    out.push({
      type: "receipt",
      receipt: closed.receipt,
      raw: closed.raw,
      ...onRegister(closed.span),
      reply: (outcome: RecordOutcome): Uint8Array => {
        const bytes =
          outcome.status === "ok" || outcome.status === "dup"
            ? okBytes
            : outcome.status === "rejected"
              ? rejectedBytes
              : failedBytes;
        if (decided) return bytes;
        decided = true;
        // Nothing was stored: open the receipt again so the POS's next 38h (a new SEQ) tries once more.
        if (outcome.status === "failed") engine.reopen(closed.token);
        if (last?.token === token) last = { ...last, reply: bytes };
        return bytes;
      },
    });
  };

  const handle = (events: DeframeEvent[], nowMs: number, out: DecoderEvent[]): void => {
    for (const e of events) {
      if (e.kind !== "frame") {
        const p = framingProblem(e, e.kind === "bad" ? nakByte : undefined);
        if (p) out.push(p);
        continue;
      }
      if (sameAsLast(e.frame)) {
        // A resend after a lost answer: repeat it without executing again (SYN while the commit is still running).
        const reply = last!.reply;
        out.push({ type: "reply", bytes: reply === "pending" ? synByte : reply });
        continue;
      }
      execute(e.frame, e.raw, e.end, nowMs, out);
    }
  };

  return {
    push(bytes: Uint8Array, nowMs: number): DecoderEvent[] {
      const out: DecoderEvent[] = [];
      handle(deframer.push(bytes), nowMs, out);
      return out;
    },
    linkDown(nowMs: number): DecoderEvent[] {
      // A fiscal printer keeps its open receipt and its last answer when the cable goes: the POS comes back, resends
      // the unanswered frame (same SEQ: the cached answer) and goes on. Only a frame the unplug cut is lost.
      const out: DecoderEvent[] = [];
      handle(deframer.flush(), nowMs, out);
      return out;
    },
    idle(nowMs: number): DecoderEvent[] {
      const out: DecoderEvent[] = [];
      handle(deframer.flush(), nowMs, out);
      const left = engine.abandon();
      if (left && !left.empty) out.push(problem("TRUNCATED", left.detail, left.raw));
      last = undefined;
      return out;
    },
  };
}
