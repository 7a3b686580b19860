/**
 * A Datecs fiscal printer for the register simulator (spec §4.4, the printer side of the tap role): hoadon's own
 * device-role decoder answers the POS, stores every receipt it closes, and can run out of paper. With it a tap can be
 * tested end to end without hardware: POS simulator → hoadon (tap) → this printer.
 */
import { CMD, X_ERROR_CODES } from "../../drivers/datecs-isl/engine.js";
import { createDeframer, encodeFrame, type Framing } from "../../drivers/datecs-isl/frame.js";
import { datecsIsl, resolveOptions } from "../../drivers/datecs-isl/index.js";
import type { RecordOutcome } from "../driver-api/index.js";
import type { PortConnection } from "../ingest/connection.js";
import type { ReceiptInput } from "../receipt/model.js";
import type { DatecsDriverOptionsInput } from "./datecs.js";

/** `ok`, or `out`: every command is refused with status 2.0 (end of paper) and 0.5, nothing is executed. */
export type DatecsPaper = "ok" | "out";

/** Options of {@link startDatecsPrinter}. */
export interface DatecsPrinterOptions {
  /** The printer's protocol settings (`framing`, tax groups …), as a register's `options` (role is ignored). */
  readonly driver?: DatecsDriverOptionsInput;
  readonly paper?: DatecsPaper;
  /** Each receipt the printer closed, as it closes it. */
  readonly onClosed?: (receipt: ReceiptInput) => void;
}

/** A running printer. */
export interface DatecsPrinter {
  /** Receipts the printer closed (sales and stornos), in order, as its decoder read them. */
  readonly closed: readonly ReceiptInput[];
  /** Frames answered in all, and those refused for want of paper. */
  readonly stats: { readonly frames: number; readonly noPaper: number };
  setPaper(paper: DatecsPaper): void;
  /**
   * Answer on `conn` from now on (the connection is the caller's). The printer's state (an open receipt, its last
   * answer) goes on from the connection before, as a real printer's does across a cable unplug.
   */
  attach(conn: PortConnection): void;
  /** Stop answering. */
  stop(): void;
}

/** What a printer "stores" a closed receipt as: it has no invoice, but the decoder wants an outcome. */
const STORED: RecordOutcome = {
  status: "ok",
  invoice: { mccqt: "M1-26-PRN00-00000000000", khmshdon: "1", khhdon: "C26PRN", shdon: 1, qr: "" },
};

/** Status bytes of a printer without paper: 0.5 (general error, the command was not executed) and 2.0. */
function noPaperStatus(framing: Framing): Uint8Array {
  const status = Uint8Array.of(0x80 | 0x20, 0x80, 0x80 | 0x01, 0x80, 0x86, 0x9a, 0x80, 0x80);
  return status.subarray(0, framing === "old" ? 6 : 8);
}

/** Be a Datecs fiscal printer on `conn`. */
export function startDatecsPrinter(conn: PortConnection, options: DatecsPrinterOptions = {}): DatecsPrinter {
  const printer = createDatecsPrinter(options);
  printer.attach(conn);
  return printer;
}

/** A Datecs fiscal printer, not yet on a line ({@link DatecsPrinter.attach}). */
export function createDatecsPrinter(options: DatecsPrinterOptions = {}): DatecsPrinter {
  const parsed = datecsIsl.options.parse({ ...(options.driver as object | undefined), role: "device" });
  const { framing } = resolveOptions(parsed);
  const decoder = datecsIsl.createDecoder(parsed);
  const newDeframer = () => createDeframer({ framing, source: "host", maxFrameBytes: 4096 });
  // Frames are cut out here first, so a printer without paper can refuse each one whole; with paper each frame's
  // bytes (and any noise, which the decoder NAKs or drops) go to the decoder as they came.
  let frames = newDeframer();
  const closed: ReceiptInput[] = [];
  const stats = { frames: 0, noPaper: 0 };
  let paper: DatecsPaper = options.paper ?? "ok";
  let conn: PortConnection | undefined;
  let stopListening: (() => void) | undefined;
  const write = (bytes: Uint8Array): void => {
    conn?.write(bytes).catch(() => undefined);
  };

  const execute = (raw: Uint8Array): void => {
    for (const e of decoder.push(raw, Date.now())) {
      if (e.type === "reply") write(e.bytes);
      else if (e.type === "problem" && e.reply) write(e.reply);
      else if (e.type === "receipt") {
        const receipt = e.receipt as ReceiptInput;
        closed.push(receipt);
        options.onClosed?.(receipt);
        const bytes = e.reply(STORED);
        if (bytes) write(bytes);
      }
    }
  };

  const onBytes = (bytes: Uint8Array): void => {
    for (const e of frames.push(bytes)) {
      if (e.kind !== "frame" || paper === "ok") {
        execute(e.raw);
        if (e.kind === "frame") stats.frames++;
        continue;
      }
      stats.frames++;
      stats.noPaper++;
      // X framing answers carry an ErrorCode first; the device role's "general error" code is reused.
      const data = framing === "x" ? new TextEncoder().encode(`${X_ERROR_CODES.general}\t`) : new Uint8Array();
      const status = noPaperStatus(framing);
      write(
        encodeFrame(framing, {
          seq: e.frame.seq,
          cmd: e.frame.cmd,
          data: e.frame.cmd === CMD.STATUS ? status : data,
          status,
        }),
      );
    }
  };

  return {
    closed,
    stats,
    setPaper(p: DatecsPaper): void {
      paper = p;
    },
    attach(next: PortConnection): void {
      stopListening?.();
      if (conn) {
        // A frame the last connection cut off is lost, as on a real line; the printer's state is not.
        frames = newDeframer();
        decoder.linkDown?.(Date.now());
      }
      conn = next;
      stopListening = next.onData(onBytes);
    },
    stop(): void {
      stopListening?.();
      stopListening = undefined;
    },
  };
}
