/**
 * Tap role (README.md "Tap role"): hoadon sits between the POS and a real fiscal printer. Every byte passes on at
 * once through `forward` events, with one exception: the printer's successful answer to a close (38h) is held
 * until the receipt is committed and released by the receipt event's `reply` (`replyTo: "register"`), so the POS
 * sees its receipt closed only once hoadon has it (design.md invariant 1). Host frames are paired with the
 * printer's answers by SEQ and CMD; a command counts only when the printer accepted it (no error bits). A shadow
 * {@link Engine} assembles the receipt from the accepted commands.
 */
import {
  type ByteSpan,
  bytesEqual,
  concatBytes,
  type DecoderEvent,
  type Side,
  type TapDecoder,
} from "../../src/driver-api/index.js";
import { framingProblem, onRegister, problem } from "./device.js";
import { CMD, createEngine, type Engine, type EngineConfig, stornoCmd } from "./engine.js";
import {
  cmdLabel,
  createDeframer,
  type DeframeEvent,
  type Frame,
  type Framing,
  NAK,
  PRE,
  readNibbles,
  SYN,
  TERM,
} from "./frame.js";
import { decodeText, parseDatecsDateTime } from "./text.js";

/** Options of the tap-role decoder. */
export interface TapDecoderOptions extends EngineConfig {
  readonly maxFrameBytes: number;
}

/** True when the printer's status bytes say the command was not executed. */
export function hasErrorBits(status: Uint8Array): boolean {
  // 0.0 syntax, 0.1 invalid command, 0.5 general error (OR of all #), 1.0 overflow, 1.1 not allowed, 2.0 no paper.
  return ((status[0] ?? 0) & 0x23) !== 0 || ((status[1] ?? 0) & 0x03) !== 0 || ((status[2] ?? 0) & 0x01) !== 0;
}

/** True when a device answer means "done" (status and, for X framing, the ErrorCode field; 35h's PaidCode). */
export function accepted(framing: Framing, frame: Frame): boolean {
  if (frame.status === undefined || hasErrorBits(frame.status)) return false;
  const text = decodeText(frame.data, "auto") ?? "";
  if (framing === "x") return text === "" || /^0(\t|$)/.test(text);
  if (frame.cmd === CMD.PAYMENT) return /^[DR]/.test(text);
  return true;
}

/** Serial, model and firmware from a 5Ah answer (comma form or X tab form). */
export function identityFromDiagnostics(
  text: string,
): { readonly serial?: string; readonly model?: string; readonly firmware?: string } | undefined {
  const clean = (o: Record<string, string | undefined>): Record<string, string> =>
    Object.fromEntries(Object.entries(o).filter((e): e is [string, string] => Boolean(e[1])));
  if (/^0\t/.test(text)) {
    const f = text.split("\t");
    return clean({ serial: f[7], model: f[1], firmware: f[2] });
  }
  const f = text.split(",");
  if (f.length !== 6) return undefined;
  return clean({ serial: f[4], model: f[0], firmware: f[1]?.split(" ")[0] });
}

/**
 * Which printer bytes pass on at once: bytes outside frames do; a frame passes when it ends (the POS cannot use half
 * a frame anyway), so a close answer can be held back. Same boundaries as the deframer: 01 starts a frame, 03 ends
 * it, 01/15/16 or the size limit cut it off (then its bytes pass on as they are).
 */
function createPassThrough(framing: Framing, maxFrameBytes: number) {
  let frame: number[] | undefined;
  return {
    /** One byte: what may pass now, and a complete close answer (to hold) if this byte ended one. */
    push(b: number, pass: number[]): Uint8Array | undefined {
      if (frame !== undefined && (b === PRE || b === NAK || b === SYN)) {
        pass.push(...frame);
        frame = undefined;
      }
      if (frame === undefined) {
        if (b === PRE) frame = [b];
        else pass.push(b);
        return undefined;
      }
      frame.push(b);
      if (b === TERM) {
        const raw = Uint8Array.from(frame);
        frame = undefined;
        if ((framing === "old" ? raw[3] : readNibbles(raw, 6)) === CMD.CLOSE) return raw;
        pass.push(...raw);
      } else if (frame.length >= maxFrameBytes) {
        pass.push(...frame);
        frame = undefined;
      }
      return undefined;
    },
    /** Bytes of a frame still in progress (at idle). */
    flush(): Uint8Array | undefined {
      const f = frame;
      frame = undefined;
      return f === undefined ? undefined : Uint8Array.from(f);
    },
  };
}

/** Commands a printer only accepts with no receipt open: when it accepts one, any receipt it had is over. */
const NEEDS_NO_RECEIPT = (framing: Framing): ReadonlySet<number> =>
  new Set([CMD.OPEN, stornoCmd(framing), CMD.SET_TIME, CMD.DAY_REPORT, CMD.SERVICE_OPEN]);

/** Create the tap-role decoder (one per bridge session: it outlives the POS's unplug, see `linkDown`). */
export function createTapDecoder(options: TapDecoderOptions): TapDecoder {
  const { framing, maxFrameBytes } = options;
  const engine: Engine = createEngine(options);
  const fromHost = createDeframer({ framing, source: "host", maxFrameBytes });
  const fromDevice = createDeframer({ framing, source: "device", maxFrameBytes });
  const pass = createPassThrough(framing, maxFrameBytes);
  /** The host frame waiting for its answer (the POS sends one command at a time). */
  let pending: { frame: Frame; raw: Uint8Array; at: number } | undefined;
  /** The last host frame an answer was applied for: a resend's repeated answer is not applied twice. */
  let applied: Frame | undefined;
  /** A close whose commit failed: the printer's repeated answer (to the POS's resend) commits it again. */
  let retry: { host: Frame; receipt: unknown; raw: Uint8Array; span: { span?: ByteSpan } } | undefined;
  let device: { serial?: string; model?: string } = {};
  /** The close whose receipt is being committed (its `reply` not called yet): its answer is held. */
  let committing: Frame | undefined;

  const same = (a: Frame | undefined, b: Frame): boolean =>
    a !== undefined && a.seq === b.seq && a.cmd === b.cmd && bytesEqual(a.data, b.data);

  const sideProblem = (side: Side, e: Exclude<DeframeEvent, { kind: "frame" }>): DecoderEvent | undefined => {
    const p = framingProblem(e);
    if (p?.type !== "problem") return p;
    const where = side === "register" ? "từ máy POS / from the POS" : "từ máy in / from the printer";
    return { ...p, detail: `${p.detail} (${where})` };
  };

  /** A receipt event whose reply releases the printer's held close answer once the commit is done. */
  const receiptEvent = (
    host: Frame,
    receipt: unknown,
    raw: Uint8Array,
    span: { span?: ByteSpan },
    answer: Uint8Array,
  ): DecoderEvent => {
    let decided = false;
    committing = host;
    return {
      type: "receipt",
      replyTo: "register",
      receipt,
      raw,
      ...span,
      reply: (outcome) => {
        const failed = outcome.status === "failed";
        if (!decided) {
          decided = true;
          if (committing === host) committing = undefined;
          // Nothing stored: hold the answer back. The POS resends 38h after 500 ms, the printer repeats its answer,
          // and that answer commits the receipt again.
          retry = failed ? { host, receipt, raw, span } : undefined;
        }
        return failed ? undefined : answer;
      },
    };
  };

  /** A device frame answered the pending host frame: apply it. Returns true when `raw` was taken (held). */
  const answered = (reply: Frame, raw: Uint8Array, nowMs: number, out: DecoderEvent[]): boolean => {
    const host = pending;
    if (host === undefined || host.frame.seq !== reply.seq || host.frame.cmd !== reply.cmd) return false; // not ours
    pending = undefined;
    if (same(applied, host.frame)) {
      // The printer repeating its answer to a resend. While the commit runs, the answer stays held: the first one
      // goes out with the commit's reply, and the repeat is dropped (the POS must not see its receipt closed yet).
      if (committing !== undefined && same(committing, host.frame) && reply.cmd === CMD.CLOSE) return true;
      // After a failed commit, that answer commits the receipt again.
      if (retry !== undefined && same(retry.host, host.frame) && reply.cmd === CMD.CLOSE) {
        out.push(receiptEvent(retry.host, retry.receipt, retry.raw, retry.span, raw));
        return true;
      }
      return false;
    }
    applied = host.frame;
    retry = undefined;
    if (!accepted(framing, reply)) return false; // the printer refused it: nothing happened
    const text = decodeText(reply.data, "auto") ?? "";
    if (reply.cmd === CMD.GET_TIME) {
      const ms = parseDatecsDateTime(framing === "x" ? (text.split("\t")[1] ?? "") : text);
      if (ms !== undefined) engine.syncClock(ms, nowMs);
      return false;
    }
    if (reply.cmd === CMD.DIAGNOSTICS) {
      const id = identityFromDiagnostics(text);
      if (id) {
        device = { ...(id.serial ? { serial: id.serial } : {}), ...(id.model ? { model: id.model } : {}) };
        out.push({ type: "identity", ...id });
      }
      return false;
    }
    const slip =
      reply.cmd === CMD.CLOSE
        ? framing === "x"
          ? text.split("\t")[1]
          : /^(\d+),(\d+)$/.exec(text)?.slice(1).join("-")
        : undefined;
    // The POS's frames are the register side's stream: a closed receipt gets its span there.
    const hints = slip ? { slip, at: host.at } : { at: host.at };
    let result = engine.execute(host.frame.cmd, host.frame.data, nowMs, host.raw, hints);
    if (!result.ok && result.error === "not-allowed" && NEEDS_NO_RECEIPT(framing).has(host.frame.cmd)) {
      // The printer did something our shadow thinks it cannot, e.g. open a receipt while ours is still open: the
      // printer closed or dropped that receipt out of our sight (a refused close it settled anyway, bytes we
      // missed). Trust the printer: report the shadow's open receipt, drop it, and apply the command again.
      const left = engine.abandon();
      if (left) {
        if (!left.empty)
          out.push(
            problem(
              "TRUNCATED",
              `${left.detail}; máy in đã chấp nhận ${cmdLabel(host.frame.cmd)} như thể phiếu đã đóng / the printer ` +
                `accepted ${cmdLabel(host.frame.cmd)} as if that receipt were closed`,
              left.raw,
            ),
          );
        result = engine.execute(host.frame.cmd, host.frame.data, nowMs, host.raw, hints);
      }
    }
    if (!result.ok) {
      if (result.error === "unknown") return false; // a command we do not model (PLU programming …): not a sale
      out.push(
        problem(
          "DECODE_FAILED",
          `${cmdLabel(host.frame.cmd)}: máy in đã nhận nhưng hoadon không theo được: ${result.detail} / ` +
            "the printer accepted a command hoadon cannot follow",
          concatBytes([host.raw, raw]),
        ),
      );
      return false;
    }
    if (result.notice)
      out.push({
        ...problem(result.notice.code, result.notice.detail, result.notice.raw),
        ...onRegister(result.notice.span),
      });
    if (result.closed) {
      const receipt = Object.keys(device).length > 0 ? { ...result.closed.receipt, device } : result.closed.receipt;
      out.push(receiptEvent(host.frame, receipt, result.closed.raw, onRegister(result.closed.span), raw));
      return true;
    }
    return false;
  };

  /**
   * Byte by byte, so the order of `forward` and other events depends only on byte positions, never on chunking:
   * bytes that may pass collect in a run, flushed as one `forward` before any other event and at the end.
   */
  const feed = (bytes: Uint8Array, nowMs: number, from: Side, out: DecoderEvent[]): void => {
    const to: Side = from === "register" ? "device" : "register";
    let run: number[] = [];
    const flush = (): void => {
      if (run.length > 0) out.push({ type: "forward", to, bytes: Uint8Array.from(run) });
      run = [];
    };
    const deframer = from === "register" ? fromHost : fromDevice;
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i]!;
      let held: Uint8Array | undefined;
      if (from === "register") run.push(b);
      else held = pass.push(b, run);
      const events = deframer.push(bytes.subarray(i, i + 1));
      if (events.length === 0 && held === undefined) continue;
      flush();
      for (const e of events) {
        if (e.kind !== "frame") {
          const p = sideProblem(from, e);
          if (p) out.push(p);
        } else if (from === "register") {
          pending = { frame: e.frame, raw: e.raw, at: e.end - e.raw.length };
        } else {
          const taken = answered(e.frame, e.raw, nowMs, out);
          if (held !== undefined && bytesEqual(held, e.raw)) {
            if (!taken) out.push({ type: "forward", to, bytes: held }); // not a commit: pass it on now
            held = undefined;
          }
        }
      }
      if (held !== undefined) out.push({ type: "forward", to, bytes: held }); // a close answer that did not parse
    }
    flush();
  };

  return {
    push(bytes: Uint8Array, nowMs: number, from: Side): DecoderEvent[] {
      const out: DecoderEvent[] = [];
      feed(bytes, nowMs, from, out);
      return out;
    },
    linkDown(): DecoderEvent[] {
      // The POS's cable went; the printer still has its open receipt and the POS will go on with it. Drop only the
      // POS frame the unplug cut; an answer still on its way from the printer applies as usual.
      const out: DecoderEvent[] = [];
      for (const e of fromHost.flush()) {
        const p = e.kind === "frame" ? undefined : sideProblem("register", e);
        if (p) out.push(p);
      }
      return out;
    },
    idle(): DecoderEvent[] {
      const out: DecoderEvent[] = [];
      const rest = pass.flush();
      if (rest) out.push({ type: "forward", to: "register", bytes: rest });
      for (const e of fromHost.flush()) {
        const p = e.kind === "frame" ? undefined : sideProblem("register", e);
        if (p) out.push(p);
      }
      for (const e of fromDevice.flush()) {
        const p = e.kind === "frame" ? undefined : sideProblem("device", e);
        if (p) out.push(p);
      }
      if (retry) {
        out.push(
          problem(
            "TRUNCATED",
            "Phiếu đã đóng ở máy in nhưng hoadon chưa ghi được trước khi đường truyền đóng / " +
              "receipt closed at the printer but not stored before the line closed",
            retry.raw,
          ),
        );
      }
      const left = engine.abandon();
      if (left && !left.empty) out.push(problem("TRUNCATED", left.detail, left.raw));
      pending = undefined;
      applied = undefined;
      retry = undefined;
      committing = undefined;
      return out;
    },
  };
}
