/**
 * The shell of `hoadon simulate register --protocol escpos` (register-protocols.md §4.4): the POS role prints seeded
 * receipts on a port; the printer role emulates a receipt printer on a port. The lead's src/commands/simulate.ts
 * parses the flags and calls {@link runEscposSimulator}.
 */
import { writeFileSync } from "node:fs";
import type { CutStyle } from "../../drivers/escpos-tap/index.js";
import { DaemonError } from "../shared/errors.js";
import { type EscposFaults, type EscposSimCodePage, escposJobs, escposPos, startPrinterEmulator } from "./escpos.js";
import { generateReceipts } from "./generate.js";
import { simulatorPortSource } from "./pty-source.js";

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
  /** First sale time (default now). */
  readonly startMs?: number;
}

const SERIAL = { baudRate: 9_600, dataBits: 8, parity: "none", stopBits: 1 } as const;

/** Run the simulator; resolves to the exit status (0: every receipt printed / the printer ran until stopped). */
export async function runEscposSimulator(args: EscposSimulateArgs, out: (line: string) => void): Promise<number> {
  const serial = { ...SERIAL, ...(args.baudRate ? { baudRate: args.baudRate } : {}) };
  const source = simulatorPortSource(args.port, serial, args.onPty ? { onPty: args.onPty } : {});
  const conn = await source.open(args.signal ?? new AbortController().signal).catch((cause: unknown) => {
    void source.close();
    throw new DaemonError("PORT_UNAVAILABLE", `Không mở được ${args.port} / cannot open the port`, { cause });
  });
  try {
    if (args.role === "printer") {
      const printer = startPrinterEmulator(conn, {
        state: { paper: args.paper ?? "ok", online: args.offline !== true },
      });
      let seen = 0;
      const timer = setInterval(() => {
        const pages = printer.pages().filter((p) => p.cut);
        for (; seen < pages.length; seen++) {
          const page = pages[seen]!;
          const first = printer.text(page).split("\n", 1)[0] ?? "";
          out(JSON.stringify({ page: seen + 1, bytes: page.bytes.length, first, qr: page.qr }));
        }
      }, 50);
      await new Promise<void>((resolve) => {
        if (args.signal?.aborted) resolve();
        args.signal?.addEventListener("abort", () => resolve(), { once: true });
        conn.onClose(() => resolve());
      });
      clearInterval(timer);
      printer.close();
      out(JSON.stringify({ pages: printer.pages().filter((p) => p.cut).length, statusAnswers: printer.answered }));
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
    const report = await escposPos(conn, jobs, {
      ...(args.pollTimeoutMs ? { pollTimeoutMs: args.pollTimeoutMs } : {}),
      ...(args.gapMs ? { gapMs: args.gapMs } : {}),
      ...(args.baudRate ? { baudRate: args.baudRate } : {}),
      ...(args.signal ? { signal: args.signal } : {}),
      onPrinted: (job) => out(`${job.receipt.receiptId}: ${job.bytes.length} B${job.truth ? "" : " (unreadable)"}`),
    });
    out(JSON.stringify(report));
    return report.printed === count ? 0 : 1;
  } finally {
    await conn.close();
    await source.close();
  }
}
