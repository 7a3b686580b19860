/**
 * The shell of `hoadon simulate register --protocol escpos` (register-protocols.md §4.4): the POS role prints seeded
 * receipts on a port; the printer role emulates a receipt printer on a port. The lead's src/commands/simulate.ts
 * parses the flags and calls {@link runEscposSimulator}.
 */
import { writeFileSync } from "node:fs";
import type { CutStyle } from "../../drivers/escpos-tap/index.js";
import type { PortConnection } from "../ingest/connection.js";
import {
  type EscposFaults,
  type EscposSimCodePage,
  escposJobs,
  escposPos,
  type PrinterEmulator,
  startPrinterEmulator,
} from "./escpos.js";
import { generateReceipts } from "./generate.js";
import { cannotOpenPort, simulatorPortSource } from "./pty-source.js";
import { servePrinterLine, type Unplug, withUnplugs } from "./unplug.js";

/** Parsed flags. */
export interface EscposSimulateArgs {
  /** `pos`: print receipts to `port`; `printer`: be the printer on `port`. */
  readonly role: "pos" | "printer";
  /** Serial path, `tcp://host:port`, `tcp-listen://host:port`, or `pty[:LINK]` (a socat pair of its own). */
  readonly port: string;
  /** A `pty` port was made: hoadon reads at `link`. */
  readonly onPty?: (link: string) => void;
  readonly count?: number;
  readonly seed?: number;
  /** Code pages used in turn (`cp1258`, `tcvn3`, `viscii`, `utf8`, `raster`). */
  readonly codePages?: readonly EscposSimCodePage[];
  readonly cut?: CutStyle;
  readonly baudRate?: number;
  /** Poll DLE EOT 1 before each receipt and wait this long for the answer. */
  readonly pollTimeoutMs?: number;
  readonly gapMs?: number;
  readonly logo?: boolean;
  readonly codes?: boolean;
  /** Write what was printed, one JSON receipt per line (`null` for a job made unreadable on purpose). */
  readonly truth?: string;
  readonly faults?: EscposFaults;
  /** Printer role: paper state and whether it answers status requests. */
  readonly paper?: "ok" | "near-end" | "out";
  readonly offline?: boolean;
  /** Printer role: run until this aborts. */
  readonly signal?: AbortSignal;
  /**
   * POS: the line drops EVERY_MS into each connection, back FOR_MS later; the job it cut is printed again, whole (a
   * spooler's retry). Printer: it drops the line EVERY_MS after its first bytes and is absent for FOR_MS.
   */
  readonly unplug?: Unplug;
  /** Printer: stop once the line has been quiet this long. */
  readonly untilIdleMs?: number;
  /** POS: each connection as the POS uses it (`--record` taps it). */
  readonly wrap?: (conn: PortConnection) => PortConnection;
  /** First sale time (default now). */
  readonly startMs?: number;
}

const SERIAL = { baudRate: 9_600, dataBits: 8, parity: "none", stopBits: 1 } as const;

/** Run the simulator; resolves to the exit status (0: every receipt printed / the printer ran until stopped). */
export async function runEscposSimulator(args: EscposSimulateArgs, out: (line: string) => void): Promise<number> {
  const serial = { ...SERIAL, ...(args.baudRate ? { baudRate: args.baudRate } : {}) };
  const source = simulatorPortSource(args.port, serial, args.onPty ? { onPty: args.onPty } : {});
  const signal = args.signal ?? new AbortController().signal;
  const cannotOpen = (cause: unknown): never => {
    throw cannotOpenPort(args.port, cause);
  };
  try {
    if (args.role === "printer") {
      // One emulator per connection, the pages of all of them in order (paper and online state as given).
      let printed = 0;
      let answered = 0;
      let current: PrinterEmulator | undefined;
      let seen = 0;
      const state = { paper: args.paper ?? "ok", online: args.offline !== true } as const;
      const report = (): void => {
        if (!current) return;
        const pages = current.pages().filter((p) => p.cut);
        for (; seen < pages.length; seen++) {
          const page = pages[seen]!;
          const first = current.text(page).split("\n", 1)[0] ?? "";
          out(JSON.stringify({ page: ++printed, bytes: page.bytes.length, first, qr: page.qr }));
        }
      };
      const timer = setInterval(report, 50);
      const finish = (): void => {
        if (!current) return;
        report();
        answered += current.answered;
        current.close();
        current = undefined;
      };
      try {
        const { unplugs } = await servePrinterLine(
          source,
          args.unplug,
          signal,
          (conn) => {
            finish();
            current = startPrinterEmulator(conn, { state });
            seen = 0;
          },
          args.untilIdleMs,
        ).catch(cannotOpen);
        finish();
        out(JSON.stringify({ pages: printed, statusAnswers: answered, ...(args.unplug ? { unplugs } : {}) }));
      } finally {
        clearInterval(timer);
      }
      return 0;
    }
    const count = args.count ?? 10;
    const receipts = generateReceipts({ seed: args.seed ?? 1, count, startMs: args.startMs ?? Date.now() });
    const jobs = escposJobs(
      receipts,
      {
        codePage: args.codePages ?? ["cp1258"],
        ...(args.cut ? { cut: args.cut } : {}),
        logo: args.logo === true,
        codes: args.codes === true,
        drawer: true,
      },
      args.faults ?? {},
    );
    if (args.truth) writeFileSync(args.truth, jobs.map((j) => `${JSON.stringify(j.truth ?? null)}\n`).join(""));
    // After an unplug the POS's spooler prints the job the unplug cut again, whole, and goes on.
    let next = 0;
    const sum = { printed: 0, answered: 0, unanswered: 0, printerNotReady: 0 };
    const { last, unplugs, conn } = await withUnplugs(
      (s) =>
        source.open(s).then(
          (c) => (args.wrap ? args.wrap(c) : c),
          (e: unknown) => cannotOpen(e),
        ),
      args.unplug,
      signal,
      async (c) => {
        const report = await escposPos(c, jobs.slice(next), {
          ...(args.pollTimeoutMs ? { pollTimeoutMs: args.pollTimeoutMs } : {}),
          ...(args.gapMs ? { gapMs: args.gapMs } : {}),
          ...(args.baudRate ? { baudRate: args.baudRate } : {}),
          signal,
          onPrinted: (job) => out(`${job.receipt.receiptId}: ${job.bytes.length} B${job.truth ? "" : " (unreadable)"}`),
        });
        next += report.printed;
        for (const k of ["printed", "answered", "unanswered", "printerNotReady"] as const) sum[k] += report[k];
        const stoppedBy = next >= jobs.length ? "done" : signal.aborted ? "aborted" : "closed";
        return { stoppedBy };
      },
    );
    await conn.close();
    out(
      JSON.stringify({
        ...sum,
        ...(args.unplug ? { unplugs } : {}),
        ...(last.stoppedBy === "done" ? {} : { stoppedBy: last.stoppedBy }),
      }),
    );
    return sum.printed === count ? 0 : 1;
  } finally {
    await source.close();
  }
}
