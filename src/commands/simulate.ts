/**
 * `hoadon simulate register`: a simulated register on a serial path or TCP, speaking ndjson, ESC/POS (a POS that
 * prints, or a printer emulator) or Datecs (a POS driving a fiscal printer, or the fiscal printer behind a hoadon
 * tap). Seeded Vietnamese receipts; `--truth` writes what was sent (the printer: what it closed), one receipt JSON
 * per line. A noisy cable (`--faults`) and an unplugged one (`--unplug`, over TCP) for the register's side.
 */
import { readFileSync, writeFileSync } from "node:fs";
import type { CommandContext } from "../cli.js";
import { type Capture, type PortConnection, type PortSource, parseCapture } from "../ingest/index.js";
import type { ReceiptInput } from "../receipt/model.js";
import { systemClock } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import { type DatecsHost, datecsSender, truthJsonl } from "../simulator/datecs.js";
import { type FaultMix, faultLayer, parseFaultMix } from "../simulator/datecs-faults.js";
import { createDatecsPrinter, type DatecsPaper } from "../simulator/datecs-printer.js";
import type { EscposFaults, EscposSimCodePage } from "../simulator/escpos.js";
import { runEscposSimulator } from "../simulator/escpos-cli.js";
import { dayCloseOf, generateReceipts, ndjsonSendDayClose, ndjsonSender, withVoids } from "../simulator/index.js";
import { cannotOpenPort, isPtyPort, simulatorPortSource } from "../simulator/pty-source.js";
import { type LineRecorder, lineRecorder } from "../simulator/record.js";
import { replayRegisterSide } from "../simulator/replay.js";
import { parseUnplugSpec, servePrinterLine, type Unplug, withUnplugs } from "../simulator/unplug.js";

type Values = Record<string, string | boolean | undefined>;

function int(v: string | boolean | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new DaemonError("USAGE", `--${name} phải là số nguyên / must be an integer`);
  return n;
}

/** The simulator's port (`pty[:LINK]` makes its own cable and says where hoadon reads, on stderr). */
function simulatorPort(port: string, baudRate: number, ctx: CommandContext): PortSource {
  return simulatorPortSource(
    port,
    { baudRate, dataBits: 8, parity: "none", stopBits: 1 },
    { onPty: (link) => ctx.err(ptyMessage(link)) },
  );
}

function ptyMessage(link: string): string {
  return `Cáp ảo sẵn sàng: đặt port: ${link} cho máy tính tiền trong cấu hình hoadon / virtual cable ready: set the register's port: ${link}`;
}

async function open(source: PortSource, port: string, signal = new AbortController().signal): Promise<PortConnection> {
  try {
    return await source.open(signal);
  } catch (cause) {
    throw cannotOpenPort(port, cause);
  }
}

/** Until `release()`, SIGINT and SIGTERM abort `signal` (and run `also`) instead of ending the process at once. */
function stopOnSignals(also?: () => void): { readonly signal: AbortSignal; release(): void } {
  const stop = new AbortController();
  const onSignal = (): void => {
    stop.abort();
    also?.();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  return {
    signal: stop.signal,
    release: () => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    },
  };
}

function parseUnplug(v: string | boolean | undefined, port: string): Unplug | undefined {
  if (v === undefined) return undefined;
  let unplug: Unplug;
  try {
    unplug = parseUnplugSpec(typeof v === "string" ? v : "");
  } catch {
    throw new DaemonError(
      "USAGE",
      "--unplug MỖI_MS:TRONG_MS, ví dụ 2000:500 / --unplug EVERY_MS:FOR_MS, e.g. 2000:500",
    );
  }
  if (!/^tcp(-listen)?:\/\//.test(port) && !isPtyPort(port))
    throw new DaemonError(
      "USAGE",
      "--unplug chỉ dùng với --port pty[:LINK], tcp://… hoặc tcp-listen://… (cổng nối tiếp thật: rút cáp) / " +
        "--unplug needs --port pty[:LINK] or a TCP port (on a real serial line, pull the cable)",
    );
  return unplug;
}

const CODE_PAGES = new Set(["cp1258", "tcvn3", "viscii", "utf8", "raster"]);

export async function simulateRegisterCommand(v: Values, ctx: CommandContext): Promise<number> {
  const protocol = typeof v.protocol === "string" ? v.protocol : "ndjson";
  const port = typeof v.port === "string" ? v.port : undefined;
  if (!port) throw new DaemonError("USAGE", "thiếu --port / --port is required");
  const count = int(v.count, "count", 10);
  const seed = int(v.seed, "seed", 1);
  const truth = typeof v.truth === "string" ? v.truth : undefined;

  // A noisy cable: faults on what the register writes (hoadon must quarantine the damage, answer as its protocol
  // expects, and still invoice every sale the register finally gets through).
  let mix: FaultMix | undefined;
  try {
    mix = typeof v.faults === "string" ? parseFaultMix(v.faults) : undefined;
  } catch (e) {
    throw new DaemonError("USAGE", `--faults ${(e as Error).message}`);
  }

  // A replay plays the capture's bytes whatever the protocol.
  if (typeof v.replay === "string") {
    if (v.record !== undefined) throw new DaemonError("USAGE", "--record với --replay: tệp đã có / the capture exists");
    return replay(v.replay, port, v, ctx);
  }

  if (protocol === "escpos") {
    const unplug = parseUnplug(v.unplug, port);
    const role = v.role === "printer" ? "printer" : "pos";
    const codePages = typeof v["code-page"] === "string" ? v["code-page"].split(",") : undefined;
    if (codePages?.some((c) => !CODE_PAGES.has(c)))
      throw new DaemonError("USAGE", `--code-page: ${[...CODE_PAGES].join(", ")}`);
    const stop = stopOnSignals();
    const recorder = recorderFor(v, protocol, seed);
    const untilIdleMs = untilIdle(v);
    try {
      return await runEscposSimulator(
        {
          role,
          port,
          count,
          seed,
          signal: stop.signal,
          ...(codePages ? { codePages: codePages as EscposSimCodePage[] } : {}),
          ...(v.baud !== undefined ? { baudRate: int(v.baud, "baud", 9600) } : {}),
          ...(truth ? { truth } : {}),
          ...(v.paper === "near-end" || v.paper === "out" ? { paper: v.paper } : {}),
          ...(mix ? { faults: escposFaults(mix, seed) } : {}),
          onPty: (link) => ctx.err(ptyMessage(link)),
          ...(unplug ? { unplug } : {}),
          ...(recorder ? { wrap: recorder.wrap } : {}),
          ...(untilIdleMs === undefined ? {} : { untilIdleMs }),
        },
        ctx.out,
      );
    } finally {
      stop.release();
      recorder?.save();
    }
  }

  const unplug = parseUnplug(v.unplug, port);
  const receipts = generateReceipts({ seed, count, startMs: systemClock.now() });
  const baud = int(v.baud, "baud", 115_200);
  if (protocol === "datecs" && v.role === "printer") {
    if (mix) throw new DaemonError("USAGE", "--faults: chỉ cho máy POS / only for the POS role");
    const paper = v.paper === undefined ? "ok" : v.paper;
    if (paper !== "ok" && paper !== "out") throw new DaemonError("USAGE", "--paper ok|out");
    return runDatecsPrinter(
      port,
      simulatorPort(port, baud, ctx),
      { framing: v.framing === "x" ? "x" : "old", paper, truth, unplug, untilIdleMs: untilIdle(v) },
      ctx,
    );
  }
  const source = simulatorPort(port, baud, ctx);
  // SIGINT/SIGTERM: unplug and report what was answered (a pty's socat must not outlive us).
  const stop = stopOnSignals(() => void source.close());
  try {
    return await simulateSender(
      protocol,
      v,
      { source, port, receipts, unplug, mix, seed, truth, signal: stop.signal },
      ctx,
    );
  } catch (error) {
    if (!stop.signal.aborted) throw error;
    // Stopped while waiting for the line (hoadon had not opened the pty, or the TCP port refused).
    ctx.err("Đã dừng khi chưa kết nối được / stopped before the line was up");
    return 1;
  } finally {
    stop.release();
    await source.close();
  }
}

async function simulateSender(
  protocol: string,
  v: Values,
  o: {
    readonly source: PortSource;
    readonly port: string;
    readonly receipts: readonly ReceiptInput[];
    readonly unplug: Unplug | undefined;
    readonly mix: FaultMix | undefined;
    readonly seed: number;
    readonly truth: string | undefined;
    readonly signal: AbortSignal;
  },
  ctx: CommandContext,
): Promise<number> {
  const { source, port, receipts, unplug, mix, seed, truth, signal } = o;
  const recorder = recorderFor(v, protocol, seed);
  const faults = mix ? faultLayer(mix, seed) : undefined;
  const connect = async (): Promise<PortConnection> => {
    const opened = await open(source, port, signal);
    const conn = recorder ? recorder.wrap(opened) : opened;
    return faults ? faults.wrap(conn) : conn;
  };
  try {
    return await sendAll(protocol, v, { connect, receipts, unplug, seed, truth, signal, faults }, ctx);
  } finally {
    recorder?.save();
  }
}

async function sendAll(
  protocol: string,
  v: Values,
  o: {
    readonly connect: () => Promise<PortConnection>;
    readonly receipts: readonly ReceiptInput[];
    readonly unplug: Unplug | undefined;
    readonly seed: number;
    readonly truth: string | undefined;
    readonly signal: AbortSignal;
    readonly faults: ReturnType<typeof faultLayer> | undefined;
  },
  ctx: CommandContext,
): Promise<number> {
  const { connect, receipts, unplug, seed, truth, signal, faults } = o;
  // `--baud` paces what the register writes (a pty takes bytes at any rate); without it, as fast as the port takes them.
  const paced = v.baud === undefined ? undefined : int(v.baud, "baud", 115_200);
  const counted = faults ? { faults: faults.faults } : {};
  if (protocol === "datecs") {
    if (v.role !== undefined && v.role !== "pos") throw new DaemonError("USAGE", "--role pos|printer");
    const framing = v.framing === "x" ? "x" : "old";
    const rate = v["storno-rate"] === undefined ? 0 : Number(v["storno-rate"]);
    if (!(rate >= 0 && rate <= 1))
      throw new DaemonError("USAGE", "--storno-rate phải từ 0 đến 1 / must be between 0 and 1");
    // One POS across unplugs: after each it resends its unanswered frame on the new connection.
    let host: DatecsHost | undefined;
    const {
      last: report,
      unplugs,
      conn,
    } = await withUnplugs(connect, unplug, signal, async (c) => {
      const r = await datecsSender(c, receipts, {
        driver: { framing },
        signal,
        ...(paced ? { baudRate: paced } : {}),
        // Now and then a storno of an earlier sale, which hoadon turns into a replacement invoice.
        ...(rate > 0 ? { storno: { rate, seed } } : {}),
        ...(host ? { host } : {}),
        onResult: (result) => ctx.out(JSON.stringify(result)),
      });
      host = r.host;
      return r;
    });
    await conn.close();
    if (truth) writeFileSync(truth, truthJsonl(report.truth));
    ctx.out(
      JSON.stringify({ ...report.stats, stoppedBy: report.stoppedBy, ...counted, ...(unplug ? { unplugs } : {}) }),
    );
    return report.stoppedBy === "done" ? 0 : 1;
  }
  if (protocol !== "ndjson")
    throw new DaemonError("USAGE", `giao thức "${protocol}" chưa có; có: ndjson, escpos, datecs / unknown protocol`);

  const voidRate = v["void-rate"] === undefined ? 0 : Number(v["void-rate"]);
  if (!(voidRate >= 0 && voidRate <= 1))
    throw new DaemonError("USAGE", "--void-rate phải từ 0 đến 1 / must be between 0 and 1");
  // Now and then the cashier voids the sale just made; hoadon replaces its invoice with a zero-total one.
  const messages = voidRate > 0 ? withVoids(receipts, { rate: voidRate, seed }) : receipts;
  if (truth) writeFileSync(truth, messages.map((r) => `${JSON.stringify(r)}\n`).join(""));
  // After an unplug the register sends again what was not answered (hoadon answers `dup` to what it has).
  let todo: readonly ReceiptInput[] = messages;
  const sent = new Set<string>();
  const sum = { acked: 0, dup: 0, nak: 0, unacked: 0 };
  const {
    last: report,
    unplugs,
    conn,
  } = await withUnplugs(connect, unplug, signal, async (c) => {
    const r = await ndjsonSender(c, todo, {
      signal,
      ...(paced ? { baudRate: paced } : {}),
      onTransmit: (id) => sent.add(id),
      onResult: (x) => ctx.out(`${x.id}: ${x.status}${x.reply?.type === "ack" ? ` ${x.reply.mccqt}` : ""}`),
    });
    for (const k of ["acked", "dup", "nak", "unacked"] as const) sum[k] += r[k];
    todo = r.pending;
    return r;
  });
  // The register's Z report over what it sold, once everything is answered.
  const close = v["day-close"] === true && report.stoppedBy === "done" ? dayCloseOf(messages, `Z-${seed}`) : undefined;
  const closed = close ? await ndjsonSendDayClose(conn, close) : undefined;
  await conn.close();
  ctx.out(
    JSON.stringify({
      sent: sent.size,
      ...sum,
      ...(close ? { dayClose: { ...close, acked: closed } } : {}),
      ...counted,
      ...(unplug ? { unplugs } : {}),
    }),
  );
  return sum.acked + sum.dup === messages.length && closed !== false ? 0 : 1;
}

/**
 * `--faults` for an ESC/POS POS, which has no resend: a damaged print-out is what the printer got. Bit flips are per
 * byte there, noise and truncation per receipt (the truth file then says the receipt is unreadable); a drop, a
 * repeat or a checksum fault has no meaning without frames.
 */
function escposFaults(mix: FaultMix, seed: number): EscposFaults {
  if (mix.drop || mix.repeat || mix.wrongBcc)
    throw new DaemonError(
      "USAGE",
      "--faults với escpos: chỉ bit-flip, garbage, truncate / with escpos only bit-flip, garbage, truncate",
    );
  return {
    seed,
    ...(mix.bitFlip ? { bitFlipRate: mix.bitFlip } : {}),
    ...(mix.garbage ? { garbageRate: mix.garbage } : {}),
    ...(mix.truncate ? { truncateRate: mix.truncate } : {}),
  };
}

/**
 * `--protocol datecs --role printer`: be the fiscal printer behind a hoadon tap (`--port tcp-listen://…` for a
 * daemon whose `devicePort` is `tcp://…`), until the connection closes or SIGINT/SIGTERM. Each receipt it closes is
 * one JSON line; `--truth` writes them; `--paper out` refuses every command (status 2.0, end of paper). With
 * `--unplug EVERY_MS:FOR_MS` the printer drops the line EVERY_MS after the first bytes of each connection and is
 * absent for FOR_MS (its port refuses connections), keeping its state, until SIGINT/SIGTERM or the daemon closes
 * the line.
 */
async function runDatecsPrinter(
  port: string,
  source: PortSource,
  o: {
    readonly framing: "old" | "x";
    readonly paper: DatecsPaper;
    readonly truth: string | undefined;
    readonly unplug: Unplug | undefined;
    readonly untilIdleMs: number | undefined;
  },
  ctx: CommandContext,
): Promise<number> {
  const stop = stopOnSignals();
  const printer = createDatecsPrinter({
    driver: { framing: o.framing },
    paper: o.paper,
    onClosed: (r) => ctx.out(JSON.stringify({ closed: r.receiptId, total: r.total, kind: r.kind ?? "sale" })),
  });
  try {
    let unplugs = 0;
    try {
      ({ unplugs } = await servePrinterLine(
        source,
        o.unplug,
        stop.signal,
        (conn) => printer.attach(conn),
        o.untilIdleMs,
      ).catch((cause: unknown) => {
        throw cannotOpenPort(port, cause);
      }));
    } finally {
      printer.stop();
      await source.close();
    }
    if (o.truth) writeFileSync(o.truth, truthJsonl(printer.closed));
    ctx.out(JSON.stringify({ closed: printer.closed.length, ...printer.stats, ...(o.unplug ? { unplugs } : {}) }));
    return 0;
  } finally {
    stop.release();
  }
}

/**
 * `--replay FILE.cap`: the register's bytes of a capture, at their recorded times (gaps over `--max-gap-ms`, default
 * 10 s, shortened; `--speed N` plays N times faster), one JSON line at the end.
 */
async function replay(file: string, port: string, v: Values, ctx: CommandContext): Promise<number> {
  let capture: Capture;
  try {
    capture = parseCapture(readFileSync(file, "utf8"));
  } catch (error) {
    throw new DaemonError("USAGE", `--replay ${file}: ${(error as Error).message}`);
  }
  const speed = v.speed === undefined ? 1 : Number(v.speed);
  if (!(speed > 0)) throw new DaemonError("USAGE", "--speed phải lớn hơn 0 / must be above 0");
  const maxGapMs = int(v["max-gap-ms"], "max-gap-ms", 10_000);
  const source = simulatorPort(port, int(v.baud, "baud", 115_200), ctx);
  const stop = stopOnSignals();
  try {
    const report = await replayRegisterSide(capture, () => open(source, port, stop.signal), {
      maxGapMs,
      speed,
      signal: stop.signal,
    });
    ctx.out(JSON.stringify(report));
    return report.stoppedBy === "done" ? 0 : 1;
  } finally {
    stop.release();
    await source.close();
  }
}

const DRIVER_OF: Readonly<Record<string, string>> = {
  ndjson: "ndjson-v1",
  datecs: "datecs-isl-v1",
  escpos: "escpos-tap-v1",
};

/** `--record FILE.cap`: the register's line as a capture (register roles only). */
function recorderFor(v: Values, protocol: string, seed: number): LineRecorder | undefined {
  if (v.record === undefined) return undefined;
  if (typeof v.record !== "string" || v.record === "")
    throw new DaemonError("USAGE", "--record cần tên tệp / --record needs a file name");
  if (v.role === "printer")
    throw new DaemonError("USAGE", "--record: chỉ cho máy POS / only for the register's side (the POS)");
  return lineRecorder(v.record, {
    register: "simulated",
    driver: DRIVER_OF[protocol] ?? protocol,
    "recorded by": `hoadon simulate register --protocol ${protocol} --seed ${seed}`,
  });
}

/** `--until-idle MS` (printer roles): stop once the line has been quiet that long. */
function untilIdle(v: Values): number | undefined {
  return v["until-idle"] === undefined ? undefined : int(v["until-idle"], "until-idle", 0);
}
