/**
 * The POS side of Datecs/ISL for the register simulator (spec §4.4): a host that sends seeded receipts as Datecs
 * frames and waits for each answer, resending the same frame (same SEQ) after 500 ms or a NAK, as the protocol
 * asks. The core ({@link createDatecsHost}) is pure and runs on whatever clock it is given, so tests drive it in
 * virtual time ({@link runDatecsLink}); {@link datecsSender} runs it on a real connection.
 */

import {
  bareCommand,
  type EncodeOptions,
  type HostCommand,
  hostFrame,
  nextSeq,
  projectReceipt,
  readAnswer,
  receiptCommands,
  type StornoReference,
  setTimeCommand,
} from "../../drivers/datecs-isl/encode.js";
import { CMD } from "../../drivers/datecs-isl/engine.js";
import { createDeframer, type Framing } from "../../drivers/datecs-isl/frame.js";
import { datecsIsl, resolveOptions } from "../../drivers/datecs-isl/index.js";
import { compactDateTime } from "../../drivers/datecs-isl/text.js";
import type { DecoderEvent, RecordOutcome, TapDecoder } from "../driver-api/index.js";
import type { PortConnection } from "../ingest/connection.js";
import type { ReceiptInput } from "../receipt/model.js";
import { vnDateTime } from "../shared/clock.js";
import { lineAmount } from "../shared/money.js";
import {
  applyFault,
  type FaultKind,
  type FaultMix,
  noFaults,
  pickFault,
  type ScheduledBytes,
  seededRandom,
  splitChunks,
} from "./datecs-faults.js";
import { pacedWriter } from "./pacing.js";

export {
  applyFault,
  type ByteSchedule,
  type FaultKind,
  type FaultMix,
  type FaultReport,
  injectFaults,
  pickFault,
  type ScheduledBytes,
  seededRandom,
  splitChunks,
} from "./datecs-faults.js";

/** Driver options as in a register's config (`framing`, `encoding`, `taxGroups` …); `{}` for the defaults. */
export type DatecsDriverOptionsInput = Parameters<typeof datecsIsl.options.parse>[0];

/** Options of {@link createDatecsHost}. */
export interface DatecsHostOptions {
  /** The driver options the printer side uses; the host reads the same tax and payment tables backwards. */
  readonly driver?: DatecsDriverOptionsInput;
  /** Resend the same frame when no answer came after this long (default 500 ms, the protocol's figure). */
  readonly timeoutMs?: number;
  /** Frames written per command before giving up (default 6, as ErpNet.FP). */
  readonly maxAttempts?: number;
  /** Wait before closing again after the printer could not store the receipt (default 100 ms). */
  readonly retryDelayMs?: number;
  /** Set the printer clock (3Dh) to each receipt's `issuedAt` before opening it (default true). */
  readonly setClock?: boolean;
  /** First sequence number (default 0x20). */
  readonly firstSeq?: number;
  /**
   * Stornos (spec §4.2): after a sale the printer closed, with probability `rate` the POS next sends a storno of
   * an earlier closed sale (each sale at most once): a seeded choice of its lines, some with fewer units. The
   * storno is a `refund` naming the sale by `replaces.receiptId` (its UNP), and goes into the truth as such.
   */
  readonly storno?: { readonly rate: number; readonly seed: number };
}

/** What became of one receipt. */
export interface DatecsSendResult {
  /** The receipt sent: one of the given receipts, or a storno the host made (`kind: "refund"`). */
  readonly receipt: ReceiptInput;
  /**
   * `ok`: the printer closed it. `rejected`: the printer refused the close with a data error (not invoiced).
   * `refused`: a command of it was refused, the receipt was cancelled. `unanswered`: no answer after
   * `maxAttempts`; the host stopped.
   */
  readonly status: "ok" | "rejected" | "refused" | "unanswered";
  /** Frames written for this receipt (first transmissions and resends). */
  readonly frames: number;
  /** The printer's answer to the close (`0012,0008`, `0\t12\t`), when it came. */
  readonly closeAnswer?: string;
  readonly detail?: string;
}

/** Counters of one host run. */
export interface DatecsHostStats {
  readonly frames: number;
  /** Same frame again after a timeout, a NAK or a garbled answer. */
  readonly resends: number;
  readonly timeouts: number;
  readonly naks: number;
  readonly syns: number;
  /** 38h sent again (a new SEQ) after the printer could not store the receipt. */
  readonly closeRetries: number;
}

/** The POS as a state machine. Feed it bytes and time; it says what to write. */
export interface DatecsHost {
  /** Begin: the bytes to write now. */
  start(nowMs: number): Uint8Array[];
  /** Bytes from the printer: what to write in answer. */
  receive(bytes: Uint8Array, nowMs: number): Uint8Array[];
  /** Time passed: call when `nowMs ≥ deadline`. */
  tick(nowMs: number): Uint8Array[];
  /**
   * The link is back after an unplug (the POS waited it out without ticking): send the unanswered frame again now,
   * same SEQ, with a fresh count of attempts. The printer answers it from its cache if it had executed it.
   */
  relink(nowMs: number): Uint8Array[];
  /** When {@link DatecsHost.tick} must be called next, or `undefined` when nothing is awaited. */
  readonly deadline: number | undefined;
  readonly done: boolean;
  readonly results: readonly DatecsSendResult[];
  /**
   * The truth file's content: for every receipt the printer closed, the receipt as the protocol carries it
   * ({@link projectReceipt}); `issuedAt` is what the host set the printer clock to (the printer adds the seconds
   * the receipt took). A storno is there as a `refund` with `replaces.receiptId`; in X framing the storno has no
   * UNP of its own, so its `receiptId` is the printer's (`YYYYMMDDThhmmss-<document no.>`) from the clock the host
   * set — like `issuedAt`, off by the seconds the storno took.
   */
  readonly truth: readonly ReceiptInput[];
  readonly stats: DatecsHostStats;
}

/** The encoder's view of driver options. */
export function datecsEncodeOptions(driver: DatecsDriverOptionsInput = {}): EncodeOptions & { framing: Framing } {
  const o = resolveOptions(datecsIsl.options.parse(driver));
  return { framing: o.framing, encoding: o.encoding, taxGroups: o.taxGroups, paymentModes: o.paymentModes };
}

/** Create a POS host that sends `receipts` one after the other. */
export function createDatecsHost(receipts: readonly ReceiptInput[], options: DatecsHostOptions = {}): DatecsHost {
  const enc = datecsEncodeOptions(options.driver);
  const { framing } = enc;
  const timeoutMs = options.timeoutMs ?? 500;
  const maxAttempts = options.maxAttempts ?? 6;
  const retryDelayMs = options.retryDelayMs ?? 100;
  const setClock = options.setClock ?? true;
  const deframer = createDeframer({ framing, source: "device", maxFrameBytes: 4096 });
  const fiscalMemory = resolveOptions(datecsIsl.options.parse(options.driver ?? {})).device.fiscalMemory;
  const stornoRnd = options.storno ? seededRandom(options.storno.seed) : undefined;
  /** Sales the printer closed that no storno has reversed yet, with what a POS keeps to reverse them. */
  const reversible: { receipt: ReceiptInput; ref: StornoReference }[] = [];

  const results: DatecsSendResult[] = [];
  const truth: ReceiptInput[] = [];
  const stats = { frames: 0, resends: 0, timeouts: 0, naks: 0, syns: 0, closeRetries: 0 };
  let seq = options.firstSeq ?? 0x20;
  let index = -1; // receipt index
  let plan: HostCommand[] = [];
  let step = 0;
  let frames = 0; // for the current receipt
  let closeTries = 0;
  let paid = false;
  /** The receipt being sent: `receipts[index]`, or a storno made after a sale. */
  let sending: { receipt: ReceiptInput; storno?: StornoReference } | undefined;
  /** The document number of the receipt being sent, from its open answer. */
  let docNo: number | undefined;
  let nextStorno: { receipt: ReceiptInput; storno: StornoReference } | undefined;
  let current: { command: HostCommand; frame: Uint8Array; attempts: number } | undefined;
  let deadline: number | undefined;
  let retryAt: number | undefined;
  let done = false;

  const write = (bytes: Uint8Array, nowMs: number, resend: boolean): Uint8Array[] => {
    stats.frames++;
    frames++;
    if (resend) stats.resends++;
    deadline = nowMs + timeoutMs;
    return [bytes];
  };

  const send = (command: HostCommand, nowMs: number): Uint8Array[] => {
    seq = current === undefined && stats.frames === 0 ? seq : nextSeq(framing, seq);
    const frame = hostFrame(framing, seq, command);
    current = { command, frame, attempts: 1 };
    return write(frame, nowMs, false);
  };

  const finish = (
    status: DatecsSendResult["status"],
    nowMs: number,
    extra: Partial<DatecsSendResult> = {},
  ): Uint8Array[] => {
    const receipt = sending!.receipt;
    results.push({ receipt, status, frames, ...extra });
    if (status === "ok") {
      const projected = projectReceipt(receipt);
      if (sending!.storno !== undefined && framing === "x") {
        // The printer names an X storno itself: its clock (set to issuedAt) and the document number.
        projected.receiptId = `${compactDateTime(Date.parse(receipt.issuedAt))}-${String(docNo ?? 0).padStart(7, "0")}`;
      }
      truth.push(projected);
      if (sending!.storno === undefined) {
        const ref = { docNo: docNo ?? 0, closedAtMs: Date.parse(receipt.issuedAt), fiscalMemory };
        reversible.push({ receipt, ref });
        nextStorno = stornoRnd && stornoRnd() < options.storno!.rate ? makeStorno(receipt) : undefined;
      }
    }
    current = undefined;
    deadline = undefined;
    if (status === "unanswered") {
      done = true;
      return [];
    }
    return nextReceipt(nowMs);
  };

  /** A storno of one earlier closed sale (seeded): some of its lines, integer quantities sometimes fewer. */
  const makeStorno = (after: ReceiptInput): { receipt: ReceiptInput; storno: StornoReference } | undefined => {
    const rnd = stornoRnd!;
    const at = Math.floor(rnd() * reversible.length);
    const chosen = reversible.splice(at, 1)[0];
    if (chosen === undefined) return undefined;
    const sold = chosen.receipt;
    let lines = sold.lines.filter(() => rnd() < 0.5);
    if (lines.length === 0) lines = [sold.lines[Math.floor(rnd() * sold.lines.length)]!];
    lines = lines.map((l) => {
      const q = l.quantity;
      if (q === undefined || !/^\d+$/.test(q) || Number(q) < 2 || (l.discount ?? 0) > 0 || l.unitPrice === undefined) {
        return l;
      }
      const back = String(1 + Math.floor(rnd() * Number(q)));
      return { ...l, quantity: back, amount: lineAmount(back, l.unitPrice) };
    });
    const total = lines.reduce((sum, l) => sum + (l.amount ?? 0), 0);
    const issuedAt = `${vnDateTime(Date.parse(after.issuedAt) + 10_000)}+07:00`;
    const receipt: ReceiptInput = {
      receiptId: `${sold.receiptId}-TH`,
      issuedAt,
      kind: "refund",
      replaces: { receiptId: sold.receiptId },
      pricesIncludeVat: true,
      lines,
      payments: [{ method: "cash", amount: total }],
      total,
    };
    return { receipt, storno: chosen.ref };
  };

  const nextReceipt = (nowMs: number): Uint8Array[] => {
    if (nextStorno !== undefined) {
      sending = nextStorno;
      nextStorno = undefined;
    } else {
      index++;
      if (index >= receipts.length) {
        done = true;
        return [];
      }
      sending = { receipt: receipts[index]! };
    }
    const r = sending.receipt;
    docNo = undefined;
    plan = [
      ...(setClock ? [setTimeCommand(enc, Date.parse(r.issuedAt))] : []),
      ...receiptCommands(r, enc, sending.storno),
    ];
    step = 0;
    frames = 0;
    closeTries = 0;
    paid = false;
    return send(plan[0]!, nowMs);
  };

  const resend = (nowMs: number): Uint8Array[] => {
    const c = current!;
    if (c.attempts >= maxAttempts) {
      return finish("unanswered", nowMs, { detail: `no answer to ${c.command.label} after ${c.attempts} frames` });
    }
    c.attempts++;
    return write(c.frame, nowMs, true);
  };

  const answered = (text: string, error: boolean, retry: boolean, nowMs: number): Uint8Array[] => {
    const c = current!;
    deadline = undefined;
    const label = c.command.label;
    if (label === "cancel") return finish("refused", nowMs, { detail: "cancelled after a refused command" });
    if (!error) {
      if (label === "payment") paid = true;
      if (label === "open" || label === "storno") {
        // X: `0\tSlip\t` (the document number); old: `AllReceipt,FiscReceipt` (AllReceipt counts documents).
        const n = Number(framing === "x" ? text.split("\t")[1] : text.split(",")[0]);
        if (Number.isSafeInteger(n)) docNo = n;
      }
      if (label === "close") return finish("ok", nowMs, { closeAnswer: text });
      step++;
      return send(plan[step]!, nowMs);
    }
    if (label === "set-time") {
      step++;
      return send(plan[step]!, nowMs);
    }
    if (label === "close") {
      if (retry && closeTries + 1 < maxAttempts) {
        closeTries++;
        stats.closeRetries++;
        current = undefined;
        retryAt = nowMs + retryDelayMs;
        return [];
      }
      return finish("rejected", nowMs, { detail: `close refused: ${JSON.stringify(text)}` });
    }
    if (!paid) return send(bareCommand(enc, CMD.CANCEL, "cancel"), nowMs);
    return finish("refused", nowMs, { detail: `${label} refused after payment: ${JSON.stringify(text)}` });
  };

  return {
    start(nowMs: number): Uint8Array[] {
      if (index >= 0) return [];
      return nextReceipt(nowMs);
    },
    receive(bytes: Uint8Array, nowMs: number): Uint8Array[] {
      const out: Uint8Array[] = [];
      for (const e of deframer.push(bytes)) {
        if (done || current === undefined || deadline === undefined) continue;
        switch (e.kind) {
          case "frame": {
            if (e.frame.seq !== seq || e.frame.cmd !== current.command.cmd) break; // a late answer to an old frame
            const a = readAnswer(framing, e.frame);
            out.push(...answered(a.text, a.error, a.retry, nowMs));
            break;
          }
          case "nak":
            stats.naks++;
            out.push(...resend(nowMs));
            break;
          case "syn":
            // The printer is busy (it repeats SYN every 60 ms, e.g. while hoadon commits the receipt): wait a full
            // timeout from the last one; resending now would only queue another copy of the frame.
            stats.syns++;
            deadline = nowMs + timeoutMs;
            break;
          case "bad":
            out.push(...resend(nowMs));
            break;
          case "truncated":
          case "garbage":
            break; // wait for the timeout
          default: {
            const never: never = e;
            throw new TypeError(`unknown event ${JSON.stringify(never)}`);
          }
        }
      }
      return out;
    },
    tick(nowMs: number): Uint8Array[] {
      if (done) return [];
      if (retryAt !== undefined && nowMs >= retryAt) {
        retryAt = undefined;
        return send(bareCommand(enc, CMD.CLOSE, "close"), nowMs);
      }
      if (deadline !== undefined && nowMs >= deadline && current !== undefined) {
        stats.timeouts++;
        return resend(nowMs);
      }
      return [];
    },
    relink(nowMs: number): Uint8Array[] {
      if (done || current === undefined) return [];
      current.attempts = 1;
      return write(current.frame, nowMs, true);
    },
    get deadline(): number | undefined {
      return retryAt ?? deadline;
    },
    get done(): boolean {
      return done;
    },
    results,
    truth,
    stats,
  };
}

/** The receipts a truth file lists, one JSON object per line (`--truth FILE`). */
export function truthJsonl(truth: readonly ReceiptInput[]): string {
  return truth.map((r) => `${JSON.stringify(r)}\n`).join("");
}

// ---------------------------------------------------------------------------------------------------------------
// In-process link in virtual time

/** Options of {@link runDatecsLink}. */
export interface DatecsLinkOptions extends DatecsHostOptions {
  /** Faults on bytes from the POS to the printer and from the printer to the POS. */
  readonly faults?: { readonly toDevice?: FaultMix; readonly toHost?: FaultMix };
  /** Seed of the faults, the chunking and the write-path stand-in. */
  readonly seed: number;
  /** Cut each delivery at up to this many random points (default 3; 0 keeps writes whole). */
  readonly maxCuts?: number;
  /** Line delay per write (default 1 ms). */
  readonly latencyMs?: number;
  /** Probability that the write-path stand-in answers `failed` (nothing stored; the POS must close again). */
  readonly failRate?: number;
  /** Probability that it answers `rejected` (kept in quarantine, not invoiced; the POS is told). */
  readonly rejectRate?: number;
  /** Virtual start time (default 2026-11-20T09:00:00+07:00). */
  readonly startMs?: number;
  /** Also feed a tap-role decoder with both directions and collect its receipts. */
  readonly tap?: boolean;
  /** Stop after this much virtual time (default 24 h). */
  readonly maxVirtualMs?: number;
  /**
   * How long each commit takes (default 0: the reply goes out at once). While it runs, the POS hears the driver's
   * busy signal (`busySignalFor`: SYN every 60 ms) as the daemon's session sends it, unless `busySignal` is false.
   */
  readonly commitMs?: number;
  readonly busySignal?: boolean;
}

/** A receipt the write-path stand-in took, with what it answered. */
export interface DatecsRecordedReceipt {
  readonly receipt: ReceiptInput;
  readonly outcome: RecordOutcome["status"];
}

/** What {@link runDatecsLink} saw. */
export interface DatecsLinkReport {
  readonly host: DatecsHost;
  /** Every receipt event, in order, with the stand-in's answer. */
  readonly recorded: readonly DatecsRecordedReceipt[];
  /** Problem codes the device decoder reported, counted. */
  readonly problems: Readonly<Record<string, number>>;
  /** Receipts the tap decoder committed (when `tap`). */
  readonly tapReceipts: readonly ReceiptInput[];
  readonly faults: Readonly<Record<FaultKind, number>>;
  readonly virtualMs: number;
}

/**
 * POS host → line faults → the datecs-isl device decoder → a write-path stand-in → the reply → line faults →
 * the host, all in one process on a virtual clock. The stand-in keeps receipts by id and answers `ok`, `dup` for
 * an id it has, or (with `failRate` / `rejectRate`) `failed` or `rejected` without keeping anything. A refund
 * naming a sale it does not have is `rejected` (`REFUND_ORIGINAL_UNKNOWN`), as the write path does.
 */
export function runDatecsLink(receipts: readonly ReceiptInput[], options: DatecsLinkOptions): DatecsLinkReport {
  const startMs = options.startMs ?? Date.parse("2026-11-20T09:00:00+07:00");
  const latency = options.latencyMs ?? 1;
  const maxCuts = options.maxCuts ?? 3;
  const rnd = seededRandom(options.seed);
  const host = createDatecsHost(receipts, options);
  const driverOptions = datecsIsl.options.parse(options.driver ?? {});
  const device = datecsIsl.createDecoder(driverOptions);
  const tap: TapDecoder | undefined = options.tap ? datecsIsl.createTapDecoder?.(driverOptions) : undefined;
  const stored = new Set<string>();
  const recorded: DatecsRecordedReceipt[] = [];
  const problems: Record<string, number> = {};
  const tapReceipts: ReceiptInput[] = [];
  const faults: Record<FaultKind, number> = noFaults();
  /** Deliveries in time order; `order` keeps writes of the same instant in sequence. */
  const queue: (ScheduledBytes & { to: "device" | "host"; order: number })[] = [];
  let order = 0;
  let now = startMs;

  const emit = (to: "device" | "host", chunks: readonly Uint8Array[]): void => {
    const mix = to === "device" ? options.faults?.toDevice : options.faults?.toHost;
    for (const bytes of chunks) {
      const kind = mix ? pickFault(mix, rnd) : undefined;
      const arriving = kind ? applyFault(kind, bytes, rnd) : [bytes];
      if (kind) faults[kind]++;
      const pieces = splitChunks(
        arriving.map((b) => ({ atMs: now + latency, bytes: b })),
        maxCuts,
        Math.floor(rnd() * 2 ** 31),
      );
      for (const p of pieces) queue.push({ ...p, to, order: order++ });
    }
    queue.sort((a, b) => a.atMs - b.atMs || a.order - b.order);
  };

  const record = (receipt: ReceiptInput): RecordOutcome => {
    const invoice = { mccqt: `M1-26-SIM00-${receipt.receiptId}`, khmshdon: "1", khhdon: "C26MSI", shdon: 1, qr: "sim" };
    if (stored.has(receipt.receiptId)) return { status: "dup", invoice };
    const original = receipt.kind === "refund" ? receipt.replaces?.receiptId : undefined;
    if (receipt.kind === "refund" && (original === undefined || !stored.has(original))) {
      // What the write path answers when no invoice was made from the named sale (src/invoice/corrections.ts).
      const message = `không có hóa đơn của phiếu ${original} / no invoice from that receipt`;
      return { status: "rejected", code: "REFUND_ORIGINAL_UNKNOWN", message };
    }
    if (options.failRate && rnd() < options.failRate) {
      return { status: "failed", code: "STORE_FULL", message: "ổ đĩa đầy (mô phỏng) / disk full (simulated)" };
    }
    if (options.rejectRate && rnd() < options.rejectRate) {
      return { status: "rejected", code: "RECEIPT_INVALID", message: "từ chối (mô phỏng) / refused (simulated)" };
    }
    stored.add(receipt.receiptId);
    return { status: "ok", invoice };
  };

  const commitMs = options.commitMs ?? 0;
  const busy = options.busySignal === false ? undefined : datecsIsl.busySignalFor?.(driverOptions);
  /** Commits finishing and busy signals due, in time order. */
  const jobs: { atMs: number; order: number; run: () => void }[] = [];
  const later = (atMs: number, run: () => void): void => {
    jobs.push({ atMs, order: order++, run });
    jobs.sort((a, b) => a.atMs - b.atMs || a.order - b.order);
  };

  const onDeviceEvents = (events: readonly DecoderEvent[]): void => {
    for (const e of events) {
      switch (e.type) {
        case "reply":
          emit("host", [e.bytes]);
          break;
        case "problem":
          problems[e.code] = (problems[e.code] ?? 0) + 1;
          if (e.reply) emit("host", [e.reply]);
          break;
        case "receipt": {
          const receipt = e.receipt as ReceiptInput;
          const outcome = record(receipt);
          recorded.push({ receipt, outcome: outcome.status });
          if (commitMs <= 0) {
            const bytes = e.reply(outcome);
            if (bytes) emit("host", [bytes]);
            break;
          }
          // A slow commit: the reply goes out later; meanwhile the busy signal, as the session's timer sends it.
          let committed = false;
          later(now + commitMs, () => {
            committed = true;
            const bytes = e.reply(outcome);
            if (bytes) emit("host", [bytes]);
          });
          if (busy) {
            const signal = busy;
            const beat = (): void => {
              if (committed) return;
              emit("host", [signal.bytes]);
              later(now + signal.everyMs, beat);
            };
            later(now + signal.everyMs, beat);
          }
          break;
        }
        case "identity":
        case "forward":
          break;
        default: {
          const never: never = e;
          throw new TypeError(`unknown event ${JSON.stringify(never)}`);
        }
      }
    }
  };

  const onTapEvents = (events: readonly DecoderEvent[]): void => {
    for (const e of events) if (e.type === "receipt") tapReceipts.push(e.receipt as ReceiptInput);
  };

  emit("device", host.start(now));
  const limit = startMs + (options.maxVirtualMs ?? 86_400_000);
  while (!host.done || queue.length > 0 || jobs.length > 0) {
    const nextDelivery = queue[0]?.atMs;
    const nextTick = host.done ? undefined : host.deadline;
    const nextJob = jobs[0]?.atMs;
    if (nextDelivery === undefined && nextTick === undefined && nextJob === undefined) break;
    if (nextJob !== undefined && (nextDelivery ?? Infinity) > nextJob && (nextTick ?? Infinity) > nextJob) {
      now = Math.max(now, nextJob);
      if (now > limit) break;
      jobs.shift()!.run();
      continue;
    }
    const due = nextDelivery !== undefined && (nextTick === undefined || nextDelivery <= nextTick);
    now = Math.max(now, due ? nextDelivery! : nextTick!);
    if (now > limit) break;
    if (due) {
      const d = queue.shift()!;
      if (d.to === "device") {
        if (tap) onTapEvents(tap.push(d.bytes, now, "register"));
        onDeviceEvents(device.push(d.bytes, now));
      } else {
        if (tap) onTapEvents(tap.push(d.bytes, now, "device"));
        emit("device", host.receive(d.bytes, now));
      }
    } else {
      emit("device", host.tick(now));
    }
  }
  onDeviceEvents(device.idle(now));
  if (tap) onTapEvents(tap.idle(now));
  return { host, recorded, problems, tapReceipts, faults, virtualMs: now - startMs };
}

// ---------------------------------------------------------------------------------------------------------------
// On a real connection

/** Options of {@link datecsSender}. */
export interface DatecsSenderOptions extends DatecsHostOptions {
  readonly signal?: AbortSignal;
  /** Each receipt's fate, as it is known. */
  readonly onResult?: (result: DatecsSendResult) => void;
  /**
   * Go on with this host after the link went down and came back (`stoppedBy: "closed"`): its unanswered frame goes
   * out again at once ({@link DatecsHost.relink}); `receipts` and the host options are then the host's own.
   */
  readonly host?: DatecsHost;
  /**
   * Pace what the POS writes like a real line at this baud rate, 8N1 (ptys ignore baud rates). The POS's answer
   * timeout counts from when a frame is handed over, so keep it at 9600 or more (a 200-byte frame: 210 ms).
   */
  readonly baudRate?: number;
}

/** How a {@link datecsSender} run ended. */
export interface DatecsSenderReport {
  /** The POS state machine, to go on with after an unplug ({@link DatecsSenderOptions.host}). */
  readonly host: DatecsHost;
  readonly results: readonly DatecsSendResult[];
  readonly truth: readonly ReceiptInput[];
  readonly stats: DatecsHostStats;
  readonly stoppedBy: "done" | "closed" | "aborted";
}

/**
 * Send `receipts` as a Datecs POS over `conn` (a pty, a serial port or TCP) on the real clock. Resolves when every
 * receipt is answered, the link goes down or `signal` aborts. Never rejects. After `closed`, call again with the
 * report's `host` on a new connection to go on where the POS was.
 */
export function datecsSender(
  conn: PortConnection,
  receipts: readonly ReceiptInput[],
  options: DatecsSenderOptions = {},
): Promise<DatecsSenderReport> {
  const resumed = options.host;
  const host = resumed ?? createDatecsHost(receipts, options);
  const signal = options.signal;
  const write = pacedWriter(conn, options.baudRate);
  return new Promise<DatecsSenderReport>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let reported = host.results.length;
    let finished = false;
    const finish = (stoppedBy: DatecsSenderReport["stoppedBy"]): void => {
      if (finished) return;
      finished = true;
      if (timer) clearTimeout(timer);
      stopListening();
      signal?.removeEventListener("abort", onAbort);
      resolve({ host, results: host.results, truth: host.truth, stats: host.stats, stoppedBy });
    };
    const after = (chunks: readonly Uint8Array[]): void => {
      for (const c of chunks) write(c).catch(() => undefined);
      // (`reported++` outside the optional call: without `onResult` its arguments are never evaluated.)
      for (; reported < host.results.length; reported++) options.onResult?.(host.results[reported]!);
      if (host.done) {
        finish("done");
        return;
      }
      if (timer) clearTimeout(timer);
      const d = host.deadline;
      if (d !== undefined) timer = setTimeout(() => after(host.tick(Date.now())), Math.max(0, d - Date.now()));
    };
    const onAbort = (): void => finish("aborted");
    const stopListening = conn.onData((bytes) => after(host.receive(bytes, Date.now())));
    conn.onClose(() => finish("closed"));
    if (signal?.aborted) {
      finish("aborted");
      return;
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    after(resumed ? host.relink(Date.now()) : host.start(Date.now()));
  });
}
