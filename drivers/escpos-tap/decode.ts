/**
 * escpos-tap decoder: the print stream a POS sends its receipt printer → print jobs (split on cuts and idle gaps) →
 * text in the printer's code page, NFC → receipts through the register's templates. Sans-I/O.
 *
 * In the bridge role it also decides what reaches the printer: every byte is forwarded as soon as it is read, except
 * a cut (`GS V`, `ESC i`, `ESC m`), which it holds until the receipt's outcome is known; the receipt's reply is then
 * the invoice footer (MCCQT + lookup QR) followed by that cut. A few bytes of an unfinished command head (an `ESC` at
 * the end of a chunk) wait for the next chunk, since they may be the start of a cut.
 */
import { createHash } from "node:crypto";
import type {
  ByteSpan,
  Decoder,
  DecoderEvent,
  ProblemCode,
  RecordOutcome,
  Side,
  TapDecoder,
} from "../../src/driver-api/index.js";
import { decodeText, type Encoding, EPSON_CODE_PAGES } from "./codepages.js";
import { footerBytes } from "./encode.js";
import { PRINTER_OK, type PrinterState, statusAnswer } from "./status.js";
import type { CompiledTemplate } from "./template.js";
import { extractReceipt } from "./template.js";
import { createTokenizer, type Token } from "./tokenize.js";

/** What the decoder needs, already validated and compiled (index.ts builds it from the options). */
export interface EscposDecoderConfig {
  readonly role: "bridge" | "sink" | "sniff";
  /** `ESC t n` → encoding for this printer (Epson's table with the register's overrides). */
  readonly codePages: Readonly<Record<number, Encoding>>;
  /** The printer's code page after power-up and `ESC @`. */
  readonly defaultCodePage: Encoding;
  /** The printer starts in Kanji (double-byte) mode. */
  readonly doubleByteDefault: boolean;
  /** A print job without a cut ends after this long without new content. */
  readonly idleGapMs: number;
  readonly maxReceiptBytes: number;
  /** `ESC @` after content starts a new print job. */
  readonly splitOnInit: boolean;
  /** Share of a job's bytes that are pictures from which it counts as printed as an image. */
  readonly rasterShare: number;
  readonly templates: readonly CompiledTemplate[];
  /** Jobs whose text matches one of these are not receipts (kitchen tickets, shift reports). */
  readonly ignore: readonly RegExp[];
  readonly footer: {
    readonly enabled: boolean;
    readonly qr: boolean;
    readonly qrModuleSize: number;
    readonly lines: readonly string[];
    /**
     * Bridge, printers without a cutter: a print job that ended on the idle gap (no cut to hold) still gets the
     * footer after the commit, followed by a paper feed to tear at.
     */
    readonly withoutCut: boolean;
  };
  /** Bridge: how to answer the POS's status requests while the printer is down. */
  readonly absentPrinter: "silent" | "offline" | "online";
  /** Sink: the printer hoadon pretends to be. */
  readonly printer: PrinterState;
}

/** A growing window of the register stream, addressed by stream offset. */
class ByteWindow {
  private buf = new Uint8Array(4096);
  private from = 0; // stream offset of buf[0]
  private length = 0;

  append(bytes: Uint8Array): void {
    if (this.length + bytes.length > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.length + bytes.length));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
    }
    this.buf.set(bytes, this.length);
    this.length += bytes.length;
  }

  /** A copy of stream bytes [start, end). */
  slice(start: number, end: number): Uint8Array {
    return this.buf.slice(start - this.from, end - this.from);
  }

  /** Forget bytes before `offset`. */
  dropBefore(offset: number): void {
    const n = offset - this.from;
    if (n <= 0) return;
    this.buf.copyWithin(0, n, this.length);
    this.length -= n;
    this.from = offset;
  }
}

/** One print job being read. */
interface Job {
  readonly start: number;
  startedAt: number | undefined;
  /** Our clock at the last text, picture or cut (status polls do not count); undefined: nothing printed yet. */
  lastContentAt: number | undefined;
  lines: string[];
  line: string;
  pending: Uint8Array[];
  pendingEncoding: Encoding;
  pendingDouble: boolean;
  textChars: number;
  imageBytes: number;
}

const newJob = (start: number, encoding: Encoding, doubleByte: boolean): Job => ({
  start,
  startedAt: undefined,
  lastContentAt: undefined,
  lines: [],
  line: "",
  pending: [],
  pendingEncoding: encoding,
  pendingDouble: doubleByte,
  textChars: 0,
  imageBytes: 0,
});

const sha256Hex = (bytes: Uint8Array): string => createHash("sha256").update(bytes).digest("hex");

/** Commands after which the printer prints its line buffer (the line ends). */
const LINE_ENDS = new Set(["ESC d", "ESC J", "ESC K", "ESC e", "ESC 0x0c"]);
/** Commands that move the print position: a column break, read as a space. */
const COLUMN_MOVES = new Set(["ESC $", "ESC \\", "GS $", "GS \\"]);

/** How the core talks to its role. */
interface CoreMode {
  /** Bridge: emit `forward` events and hold cuts for the footer. */
  readonly forward: boolean;
  /** Sink: answer status requests as the printer would. */
  readonly answer: boolean;
  /** Sees the text of every finished print job (tests, `hoadon decode --text`). */
  readonly onJob?: (text: string, raw: Uint8Array) => void;
}

/** The decoder shared by every role; `push` takes the side the bytes came from. */
function createCore(config: EscposDecoderConfig, mode: CoreMode): Required<Omit<TapDecoder, "linkDown">> {
  const tokenizer = createTokenizer({ maxDataBytes: Math.max(config.maxReceiptBytes, 1 << 20) });
  const window = new ByteWindow();
  let encoding: Encoding = config.defaultCodePage;
  let doubleByte = config.doubleByteDefault;
  let job = newJob(0, encoding, doubleByte);
  /** Register-stream offset up to which bytes have been forwarded (or taken as a held cut). */
  let forwarded = 0;
  let deviceUp = false;
  let events: DecoderEvent[] = [];
  // Printer identity from GS I answers seen on the device side (bridge); the printer answers in order.
  const identityQueries: number[] = [];
  let identityBytes: number[] | undefined;
  const identity: { serial?: string; model?: string; firmware?: string } = {};

  const holdCuts = mode.forward && config.footer.enabled;

  const forwardUpTo = (end: number): void => {
    if (!mode.forward || end <= forwarded) return;
    events.push({ type: "forward", to: "device", bytes: window.slice(forwarded, end) });
    forwarded = end;
  };

  const flushPending = (): void => {
    if (job.pending.length === 0) return;
    let n = 0;
    for (const p of job.pending) n += p.length;
    const all = new Uint8Array(n);
    let at = 0;
    for (const p of job.pending) {
      all.set(p, at);
      at += p.length;
    }
    job.line += decodeText(all, job.pendingEncoding, job.pendingDouble);
    job.pending = [];
  };

  const endLine = (): void => {
    flushPending();
    job.lines.push(job.line);
    job.line = "";
  };

  const content = (now: number): void => {
    job.lastContentAt = now;
  };

  const textOf = (j: Job): string => {
    const lines = [...j.lines, j.line].map((l) => l.normalize("NFC").replace(/\s+$/u, ""));
    while (lines.length > 0 && lines[0] === "") lines.shift();
    while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    return lines.join("\n");
  };

  type Verdict =
    | { readonly kind: "none" }
    | { readonly kind: "receipt"; readonly receipt: unknown }
    | { readonly kind: "problem"; readonly code: ProblemCode; readonly detail: string };

  const judge = (j: Job, raw: Uint8Array): Verdict => {
    const text = textOf(j);
    mode.onJob?.(text, raw);
    if (text.trim() === "" && j.imageBytes === 0) return { kind: "none" };
    if (config.ignore.some((r) => r.test(text))) return { kind: "none" };
    const fallbackId = `ESCPOS-${sha256Hex(raw).slice(0, 24)}`;
    let claimed: { code: ProblemCode; detail: string } | undefined;
    for (const t of config.templates) {
      const r = extractReceipt(text, t, { startedAt: j.startedAt ?? 0, fallbackId });
      if (r.ok) return { kind: "receipt", receipt: r.receipt };
      if (claimed === undefined && (r.code !== "NO_TEMPLATE" || t.match?.test(text) === true))
        claimed = { code: r.code, detail: r.detail };
    }
    const share = raw.length === 0 ? 0 : j.imageBytes / raw.length;
    if (j.imageBytes > 0 && (share >= config.rasterShare || text.replace(/\s/g, "").length < 40)) {
      return {
        kind: "problem",
        code: "RASTER_ONLY",
        detail:
          `Phiếu in dạng ảnh (${j.imageBytes}/${raw.length} byte là ảnh): giữ lại để người kiểm tra, không tự lập hóa đơn / ` +
          `printed as an image (${Math.round(share * 100)} % picture bytes): kept for review, not invoiced`,
      };
    }
    if (claimed) return { kind: "problem", ...claimed };
    const first = text.split("\n", 1)[0]!.slice(0, 60);
    return {
      kind: "problem",
      code: "NO_TEMPLATE",
      detail: `Phiếu không khớp mẫu nào (${config.templates.map((t) => t.template.id).join(", ")}): "${first}" / matches no receipt template`,
    };
  };

  /** End the current print job at stream offset `end` (after `cut`, when a cut ended it). */
  const finishJob = (end: number, cut: Token | undefined, tooLong = false): void => {
    flushPending();
    const finished = job;
    const raw = window.slice(finished.start, end);
    const span: ByteSpan = { side: "register", start: finished.start, end };
    let held: Uint8Array | undefined;
    if (cut && holdCuts) {
      forwardUpTo(cut.start);
      held = window.slice(cut.start, cut.end);
      forwarded = Math.max(forwarded, cut.end);
    } else {
      forwardUpTo(end);
    }
    job = newJob(end, encoding, doubleByte);
    const verdict: Verdict = tooLong
      ? {
          kind: "problem",
          code: "TOO_LONG",
          detail: `Lệnh in dài quá ${config.maxReceiptBytes} byte mà không có lệnh cắt / print job over ${config.maxReceiptBytes} bytes without a cut`,
        }
      : judge(finished, raw);
    switch (verdict.kind) {
      case "none":
        if (held) events.push({ type: "forward", to: "device", bytes: held });
        break;
      case "problem":
        events.push({ type: "problem", code: verdict.code, detail: verdict.detail, raw, span });
        if (held) events.push({ type: "forward", to: "device", bytes: held });
        break;
      case "receipt": {
        const footerEncoding = encoding;
        const footerDouble = doubleByte;
        // Without a cut to hold (a printer without a cutter), the footer goes out on its own if configured: the
        // print-out already ended, so it follows the receipt's last line rather than coming before a cut.
        const footerAlone = !held && mode.forward && config.footer.enabled && config.footer.withoutCut;
        const reply = (outcome: RecordOutcome): Uint8Array | undefined => {
          if (!held && !footerAlone) return undefined;
          if (outcome.status !== "ok" && outcome.status !== "dup") return held;
          const footer = footerBytes(outcome.invoice, {
            encoding: footerEncoding,
            doubleByte: footerDouble,
            qr: config.footer.qr,
            qrModuleSize: config.footer.qrModuleSize,
            lines: config.footer.lines,
          });
          if (!held) return footer;
          const out = new Uint8Array(footer.length + held.length);
          out.set(footer);
          out.set(held, footer.length);
          return out;
        };
        events.push({
          type: "receipt",
          ...(mode.forward ? { replyTo: "device" as Side } : {}),
          receipt: verdict.receipt,
          raw,
          span,
          reply,
        });
        break;
      }
      default: {
        const never: never = verdict;
        throw new Error(`unknown verdict ${JSON.stringify(never)}`);
      }
    }
  };

  const answer = (token: Token): void => {
    let printer: PrinterState | undefined;
    if (mode.answer) printer = config.printer;
    else if (mode.forward && !deviceUp && config.absentPrinter !== "silent")
      printer = config.absentPrinter === "online" ? PRINTER_OK : { online: false, paper: "ok" };
    if (!printer) return;
    const bytes = statusAnswer(token, printer);
    if (bytes) events.push({ type: "reply", bytes });
  };

  const handle = (token: Token, now: number): void => {
    if (job.startedAt === undefined) job.startedAt = now;
    switch (token.kind) {
      case "text":
        if (job.pendingEncoding !== encoding || job.pendingDouble !== doubleByte) {
          flushPending();
          job.pendingEncoding = encoding;
          job.pendingDouble = doubleByte;
        }
        job.pending.push(token.bytes);
        job.textChars += token.bytes.length;
        content(now);
        break;
      case "control":
        if (token.name === "LF" || token.name === "FF") endLine();
        else if (token.name === "HT") {
          flushPending();
          job.line += "\t";
        }
        break;
      case "command":
        if (token.name === "ESC @") {
          if (config.splitOnInit && job.textChars + job.imageBytes > 0) finishJob(token.start, undefined);
          // ESC @ clears the print buffer and resets the code page (Epson).
          job.pending = [];
          job.line = "";
          encoding = config.defaultCodePage;
          doubleByte = config.doubleByteDefault;
        } else if (token.name === "ESC t") {
          flushPending();
          encoding = config.codePages[token.bytes[2]!] ?? config.defaultCodePage;
        } else if (token.name === "FS &" || token.name === "FS .") {
          flushPending();
          doubleByte = token.name === "FS &";
        } else if (LINE_ENDS.has(token.name)) {
          endLine();
        } else if (COLUMN_MOVES.has(token.name)) {
          flushPending();
          job.line += " ";
        } else if (token.name === "GS a") {
          answer(token);
        } else if ((token.name === "GS ( L" || token.name === "GS 8 L") && token.data?.[1] === 0x70) {
          job.imageBytes += token.end - token.start;
          content(now);
        }
        break;
      case "image":
        job.imageBytes += token.end - token.start;
        content(now);
        break;
      case "query":
        answer(token);
        if (mode.forward && token.name === "GS I" && identityQueries.length < 8) identityQueries.push(token.bytes[2]!);
        break;
      case "cut":
        content(now);
        finishJob(token.end, token);
        break;
      case "unknown":
        break;
      default: {
        const never: never = token.kind;
        throw new Error(`unknown token kind ${String(never)}`);
      }
    }
    if (tokenizer.offset > 0 && token.end - job.start > config.maxReceiptBytes) finishJob(token.end, undefined, true);
  };

  /** Bytes from the printer: straight back to the POS; GS I answers give the printer's identity. */
  const fromDevice = (bytes: Uint8Array): void => {
    if (mode.forward) events.push({ type: "forward", to: "register", bytes: bytes.slice() });
    for (const b of bytes) {
      const n = identityQueries[0];
      if (n === undefined) return;
      if (n < 65) {
        // GS I 1–3 / 49–51: a one-byte answer.
        identityQueries.shift();
        continue;
      }
      if (identityBytes === undefined) {
        if (b === 0x5f) identityBytes = [];
        continue;
      }
      if (b !== 0x00) {
        if (identityBytes.length < 64) identityBytes.push(b);
        continue;
      }
      const text = String.fromCharCode(...identityBytes.filter((c) => c >= 0x20 && c < 0x7f)).trim();
      identityQueries.shift();
      identityBytes = undefined;
      const field = ({ 65: "firmware", 67: "model", 68: "serial" } as const)[n as 65 | 67 | 68];
      if (field && text !== "") {
        identity[field] = text;
        events.push({ type: "identity", ...identity });
      }
    }
  };

  /**
   * Where forwarding must stop for now: before an unfinished command head that may still become a cut (`ESC`, `GS`,
   * `GS V`, `GS V m` waiting for n). Any other unfinished head goes out at once; the printer waits for the rest anyway.
   */
  const holdFrom = (): number => {
    const end = tokenizer.offset;
    const n = tokenizer.pendingHead;
    if (!holdCuts || n === 0) return end;
    const h = window.slice(end - n, end);
    const maybeCut =
      (n === 1 && (h[0] === 0x1b || h[0] === 0x1d)) ||
      (h[0] === 0x1d && h[1] === 0x56 && (n === 2 || (n === 3 && [65, 66, 97, 98, 103, 104].includes(h[2]!))));
    return maybeCut ? end - n : end;
  };

  const drain = (): DecoderEvent[] => {
    const out = events;
    events = [];
    return out;
  };

  return {
    push(bytes: Uint8Array, now: number, from: Side): DecoderEvent[] {
      if (from === "device") {
        fromDevice(bytes);
        return drain();
      }
      // A print job without a cut ends when new bytes come after a quiet gap.
      const safe = tokenizer.offset - tokenizer.pendingHead;
      if (job.lastContentAt !== undefined && now - job.lastContentAt >= config.idleGapMs && safe > job.start) {
        finishJob(safe, undefined);
      }
      window.append(bytes);
      for (const token of tokenizer.push(bytes)) handle(token, now);
      forwardUpTo(holdFrom());
      window.dropBefore(mode.forward ? Math.min(job.start, forwarded) : job.start);
      return drain();
    },
    idle(now: number): DecoderEvent[] {
      for (const token of tokenizer.flush()) handle(token, now);
      if (tokenizer.offset > job.start) finishJob(tokenizer.offset, undefined);
      forwardUpTo(tokenizer.offset);
      window.dropBefore(mode.forward ? Math.min(job.start, forwarded) : job.start);
      return drain();
    },
    link(side: Side, up: boolean): DecoderEvent[] {
      if (side === "device") deviceUp = up;
      return drain();
    },
  };
}

/** A single-port decoder (sink, sniff; or a bridge capture replayed without its printer side). */
export function createEscposDecoder(config: EscposDecoderConfig): Decoder {
  const core = createCore(config, { forward: false, answer: config.role === "sink" });
  return {
    push: (bytes, now) => core.push(bytes, now, "register"),
    idle: (now) => core.idle(now),
  };
}

/** The bridge decoder: both sides, forwarding, held cuts, footer. */
export function createEscposTapDecoder(config: EscposDecoderConfig): TapDecoder {
  return createCore(config, { forward: true, answer: false });
}

/** The decoded text of each print job in `raw` (tests, `hoadon decode`): code pages applied, NFC, no templates. */
export function jobTexts(config: EscposDecoderConfig, raw: Uint8Array): string[] {
  const texts: string[] = [];
  const core = createCore(config, { forward: false, answer: false, onJob: (text) => texts.push(text) });
  core.push(raw, 0, "register");
  core.idle(0);
  return texts;
}

/** The Epson code page table merged with a register's overrides (`{"27": "tcvn3"}`). */
export function codePageTable(overrides: Readonly<Record<string, Encoding>>): Record<number, Encoding> {
  const table: Record<number, Encoding> = { ...EPSON_CODE_PAGES };
  for (const [n, e] of Object.entries(overrides)) table[Number(n)] = e;
  return table;
}
