/**
 * The ESC/POS side of the simulator (register-protocols.md §4.4): a POS that prints seeded Vietnamese receipts
 * (code pages cp1258 / TCVN-3 / VISCII / UTF-8 or raster-only, logo, QR and barcode, drawer kick, every cut style) and
 * a printer emulator that answers status requests, can run out of paper or go offline, and keeps what it printed
 * (text, QR payloads, cuts) so tests can check the bridge's footer. The byte-level core is pure
 * ({@link escposJobs}); {@link escposPos} and {@link startPrinterEmulator} drive a {@link PortConnection}.
 */
import { setTimeout as delay } from "node:timers/promises";
import {
  CMD,
  type CutStyle,
  createTokenizer,
  escposConfig,
  escposOptions,
  jobTexts,
  type PrinterState,
  renderReceipt,
  type ShopHeader,
  statusAnswer,
} from "../../drivers/escpos-tap/index.js";
import { concatBytes } from "../driver-api/index.js";
import type { PortConnection } from "../ingest/connection.js";
import type { ReceiptInput } from "../receipt/model.js";
import { seededRandom } from "../shared/random.js";
import { writePaced } from "./pacing.js";

/** Code pages the simulated POS can print in. */
export type EscposSimCodePage = "cp1258" | "tcvn3" | "viscii" | "utf8" | "raster";

/** How the simulated POS prints. */
export interface EscposPosOptions {
  /** One code page, or a list used in turn (receipt i gets `codePages[i % n]`). Default cp1258. */
  readonly codePage?: EscposSimCodePage | readonly EscposSimCodePage[];
  readonly cut?: CutStyle;
  /** Characters per line (48 for 80 mm, 32 for 58 mm). */
  readonly width?: number;
  readonly logo?: boolean;
  /** QR of the receipt number + CODE128 barcode at the foot. */
  readonly codes?: boolean;
  readonly drawer?: boolean;
  readonly kanjiGuard?: boolean;
  readonly shop?: ShopHeader;
  /** `ESC t` number the printer uses for VISCII (no Epson number; default 27). */
  readonly visciiPage?: number;
}

/** Fault injection, seeded. */
export interface EscposFaults {
  readonly seed?: number;
  /** Probability per byte of one flipped bit. */
  readonly bitFlipRate?: number;
  /** Probability per receipt of noise bytes before it. */
  readonly garbageRate?: number;
  /** Probability per receipt of being cut off (power loss): the tail and the cut are never sent. */
  readonly truncateRate?: number;
}

/** One print job as the POS sends it, with the receipt it shows (`undefined` when damaged by a fault). */
export interface EscposJob {
  readonly receipt: ReceiptInput;
  readonly bytes: Uint8Array;
  /** The receipt as hoadon should read it; absent when a fault (or raster) makes it unreadable on purpose. */
  readonly truth?: ReceiptInput;
  /** Cut off by a fault (power lost mid-receipt): no cut follows, and the POS is silent a while after it. */
  readonly cutOff?: boolean;
}

/**
 * What the POS prints for `receipts`: pure, deterministic for the same seed. `truth` is what a correct bridge
 * records (the printed fields of the receipt); raster-only and damaged jobs have none.
 */
export function escposJobs(
  receipts: readonly ReceiptInput[],
  options: EscposPosOptions = {},
  faults: EscposFaults = {},
): EscposJob[] {
  const rnd = seededRandom(faults.seed ?? 1);
  const pages = Array.isArray(options.codePage) ? options.codePage : [options.codePage ?? "cp1258"];
  return receipts.map((receipt, i) => {
    const codePage = pages[i % pages.length] as EscposSimCodePage;
    let bytes = renderReceipt(receipt, {
      codePage,
      pages: { viscii: options.visciiPage ?? 27 },
      ...(options.cut ? { cut: options.cut } : {}),
      ...(options.width ? { width: options.width } : {}),
      ...(options.shop ? { shop: options.shop } : {}),
      logo: options.logo === true,
      codes: options.codes === true,
      drawer: options.drawer === true,
      kanjiGuard: options.kanjiGuard === true,
    });
    let damaged = false;
    let cutOff = false;
    if (faults.truncateRate && rnd() < faults.truncateRate) {
      bytes = bytes.subarray(0, Math.floor(bytes.length * (0.3 + 0.5 * rnd())));
      damaged = true;
      cutOff = true;
    }
    if (faults.bitFlipRate) {
      const copy = bytes.slice();
      for (let b = 0; b < copy.length; b++) {
        if (rnd() < faults.bitFlipRate) {
          copy[b]! ^= 1 << Math.floor(rnd() * 8);
          damaged = true;
        }
      }
      bytes = copy;
    }
    if (faults.garbageRate && rnd() < faults.garbageRate) {
      // Noise without command bytes or line feeds (what a wrong baud rate or a plugged-in cable gives).
      const noise = Uint8Array.from({ length: 1 + Math.floor(rnd() * 24) }, () => 0x20 + Math.floor(rnd() * 0x5e));
      bytes = concatBytes([noise, bytes]);
    }
    return {
      receipt,
      bytes,
      ...(damaged || codePage === "raster" ? {} : { truth: printedFields(receipt) }),
      ...(cutOff ? { cutOff } : {}),
    };
  });
}

/** The fields of a receipt its print-out carries in the `hoadon-sim` layout (what hoadon can read back). */
export function printedFields(r: ReceiptInput): ReceiptInput {
  const out: ReceiptInput = {
    receiptId: r.receiptId,
    issuedAt: r.issuedAt,
    pricesIncludeVat: true,
    lines: r.lines.map((l) => ({
      name: l.name,
      ...(l.unit ? { unit: l.unit } : {}),
      quantity: l.quantity ?? "1",
      unitPrice: l.unitPrice ?? l.amount ?? 0,
      ...(l.discount ? { discount: l.discount } : {}),
      amount: l.amount ?? 0,
      ...(l.vatRate ? { vatRate: l.vatRate } : {}),
    })),
    payments: r.payments ?? [],
    total: r.total,
  };
  if (r.buyer) out.buyer = r.buyer;
  return out;
}

/** Options of {@link escposPos}. */
export interface EscposPosRun {
  /** Poll `DLE EOT 1` before each receipt and wait this long for the answer (real POS software does); 0: no poll. */
  readonly pollTimeoutMs?: number;
  /** Pause between receipts (default 0). */
  readonly gapMs?: number;
  /**
   * Silence after a job cut off by a fault (the POS lost power and restarts), so the next receipt is not read as
   * the cut-off one's tail: longer than the driver's idle gap (default 3500 ms; escpos-tap's `idleGapMs` is 3000).
   */
  readonly restartMs?: number;
  readonly baudRate?: number;
  readonly signal?: AbortSignal;
  /** After each job is written. */
  readonly onPrinted?: (job: EscposJob, index: number) => void;
}

/** What {@link escposPos} did. */
export interface EscposPosReport {
  readonly printed: number;
  /** Status polls that got an answer / none. */
  readonly answered: number;
  readonly unanswered: number;
  /** The printer said it was offline or out of paper (the job was printed anyway, as POS software may). */
  readonly printerNotReady: number;
}

/** Print `jobs` on `conn` as a POS does: optional status poll, the job, a gap. Never rejects on a dead port. */
export async function escposPos(
  conn: PortConnection,
  jobs: readonly EscposJob[],
  run: EscposPosRun = {},
): Promise<EscposPosReport> {
  let answered = 0;
  let unanswered = 0;
  let notReady = 0;
  let printed = 0;
  let inbox: number[] = [];
  let wake: (() => void) | undefined;
  const stop = conn.onData((bytes) => {
    inbox.push(...bytes);
    wake?.();
  });
  try {
    for (let i = 0; i < jobs.length; i++) {
      if (run.signal?.aborted || conn.closed) break;
      if (i > 0 && jobs[i - 1]!.cutOff) await delay(run.restartMs ?? 3_500);
      else if (i > 0 && run.gapMs) await delay(run.gapMs);
      if (run.pollTimeoutMs) {
        inbox = [];
        await conn.write(CMD.statusPoll).catch(() => undefined);
        const deadline = performance.now() + run.pollTimeoutMs;
        while (inbox.length === 0 && performance.now() < deadline && !conn.closed) {
          await new Promise<void>((resolve) => {
            const t = setTimeout(resolve, Math.max(1, deadline - performance.now()));
            wake = () => {
              clearTimeout(t);
              resolve();
            };
          });
          wake = undefined;
        }
        if (inbox.length === 0) unanswered++;
        else {
          answered++;
          if ((inbox[0]! & 0x08) !== 0) notReady++;
        }
      }
      try {
        await writePaced(conn, jobs[i]!.bytes, run.baudRate);
      } catch {
        break;
      }
      printed++;
      run.onPrinted?.(jobs[i]!, i);
    }
  } finally {
    stop();
  }
  return { printed, answered, unanswered, printerNotReady: notReady };
}

/** A page the emulated printer printed (up to a cut, or what is in progress). */
export interface PrintedPage {
  readonly bytes: Uint8Array;
  /** `GS ( k` QR payloads on the page, in order. */
  readonly qr: readonly string[];
  /** Ended by a cut (false: still printing). */
  readonly cut: boolean;
  /** When the cut arrived (performance.now()). */
  readonly cutAt?: number;
}

/** A running printer emulator. */
export interface PrinterEmulator {
  /** Pages so far (cut pages, then the page being printed). */
  pages(): PrintedPage[];
  /** Every byte received, in order. */
  received(): Uint8Array;
  /** The page text in a code-page setting (decoded as hoadon would). */
  text(page: PrintedPage): string;
  /** Change the paper or online state (what status answers say). */
  set(state: Partial<PrinterState>): void;
  /** Status requests answered. */
  readonly answered: number;
  /** Resolves when `n` cuts have been printed. */
  waitForCuts(n: number, timeoutMs?: number): Promise<void>;
  /** Stop listening. */
  close(): void;
}

/** Options of {@link startPrinterEmulator}. */
export interface PrinterEmulatorOptions {
  readonly state?: Partial<PrinterState>;
  /** The printer's ESC t table overrides (for {@link PrinterEmulator.text}). */
  readonly codePages?: Readonly<
    Record<string, "cp437" | "cp1252" | "cp1258" | "tcvn3" | "tcvn3-caps" | "viscii" | "utf8">
  >;
  /** Answer status requests (default true; false: a printer that does not talk back). */
  readonly answer?: boolean;
}

/** Emulate an ESC/POS printer on `conn`: answers status requests, keeps pages. */
export function startPrinterEmulator(conn: PortConnection, options: PrinterEmulatorOptions = {}): PrinterEmulator {
  let state: PrinterState = {
    online: true,
    paper: "ok",
    identity: { maker: "EPSON", model: "TM-T82II (sim)", firmware: "1.05", serial: "SIMPRN0001" },
    ...options.state,
  };
  const tokenizer = createTokenizer();
  const all: Uint8Array[] = [];
  const pages: PrintedPage[] = [];
  let current: Uint8Array[] = [];
  let currentQr: string[] = [];
  let answered = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  const config = escposConfig(escposOptions.parse({ codePages: options.codePages ?? { "27": "viscii" } }));
  const decoder = new TextDecoder();

  const stop = conn.onData((bytes) => {
    all.push(bytes);
    current.push(bytes);
    for (const token of tokenizer.push(bytes)) {
      if ((token.kind === "query" || token.name === "GS a") && options.answer !== false) {
        const reply = statusAnswer(token, state);
        if (reply) {
          answered++;
          conn.write(reply).catch(() => undefined);
        }
      } else if (token.name === "GS ( k" && token.data?.[1] === 0x50) {
        currentQr.push(decoder.decode(token.data.subarray(3)));
      } else if (token.kind === "cut") {
        const page = concatBytes(current);
        // Bytes after the cut in this read belong to the next page.
        const after = tokenizer.offset - token.end;
        pages.push({
          bytes: page.subarray(0, page.length - after),
          qr: currentQr,
          cut: true,
          cutAt: performance.now(),
        });
        current = after > 0 ? [page.subarray(page.length - after)] : [];
        currentQr = [];
        for (const w of waiters.splice(0)) {
          if (pages.filter((p) => p.cut).length >= w.n) w.resolve();
          else waiters.push(w);
        }
      }
    }
  });

  return {
    pages: () => [
      ...pages,
      ...(current.length > 0 ? [{ bytes: concatBytes(current), qr: currentQr, cut: false }] : []),
    ],
    received: () => concatBytes(all),
    text: (page) => jobTexts(config, page.bytes).join("\n"),
    set(next): void {
      state = { ...state, ...next };
    },
    get answered(): number {
      return answered;
    },
    waitForCuts(n: number, timeoutMs = 5_000): Promise<void> {
      if (pages.length >= n) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(
                `máy in giả chỉ cắt ${pages.length}/${n} lần / printer emulator saw ${pages.length} of ${n} cuts`,
              ),
            ),
          timeoutMs,
        );
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      });
    },
    close: stop,
  };
}
