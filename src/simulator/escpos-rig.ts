/**
 * An ESC/POS bridge on real pseudo-terminals (register-protocols.md §3.1): two socat pairs, one for the POS cable
 * and one for the printer cable, with the daemon opening the middle ends. Tests and `bench/ingest.ts` use it;
 * unplugging socat is unplugging the cable.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as delay } from "node:timers/promises";
import type { PortConnection } from "../ingest/connection.js";
import { openSerialPort } from "../ingest/serial-port.js";
import { type PrinterEmulator, type PrinterEmulatorOptions, startPrinterEmulator } from "./escpos.js";
import { type SocatPair, startSocatPair } from "./socat.js";

const SERIAL = { baudRate: 9_600, dataBits: 8, parity: "none", stopBits: 1 } as const;

/** A running rig. */
export interface EscposRig {
  /** The daemon's register `port:` (the POS cable's daemon end). */
  readonly daemonPort: string;
  /** The daemon's `devicePort:` (the printer cable's daemon end). */
  readonly daemonDevicePort: string;
  /** The POS end, opened on first use (retrying until socat is there). */
  pos(): Promise<PortConnection>;
  /** The printer emulator on the printer cable (started with the rig). */
  printer(): PrinterEmulator;
  /** Kill the printer cable's socat (SIGTERM removes the links). */
  unplugPrinter(signal?: "SIGTERM" | "SIGKILL"): Promise<void>;
  /** Start it again with the same links and a fresh emulator. */
  replugPrinter(): Promise<PrinterEmulator>;
  close(): Promise<void>;
}

async function openRetrying(path: string, timeoutMs = 5_000): Promise<PortConnection> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    try {
      return await openSerialPort(path, SERIAL);
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await delay(20);
    }
  }
}

/** Start the two socat pairs and the printer emulator. socat must be installed (`hasSocat()`). */
export async function startEscposRig(
  options: { readonly dir?: string; readonly name?: string; readonly printer?: PrinterEmulatorOptions } = {},
): Promise<EscposRig> {
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "hoadon-escpos-"));
  const name = options.name ?? "escpos";
  const links = {
    pos: join(dir, `${name}-pos`),
    daemon: join(dir, `${name}-daemon`),
    daemonPrinter: join(dir, `${name}-daemon-printer`),
    printer: join(dir, `${name}-printer`),
  };
  const posPair: SocatPair = await startSocatPair({ a: links.daemon, b: links.pos });
  let printerPair: SocatPair | undefined = await startSocatPair({ a: links.daemonPrinter, b: links.printer });
  let posConn: PortConnection | undefined;
  let printerConn: PortConnection = await openRetrying(links.printer);
  let emulator = startPrinterEmulator(printerConn, options.printer);

  return {
    daemonPort: links.daemon,
    daemonDevicePort: links.daemonPrinter,
    async pos(): Promise<PortConnection> {
      if (!posConn || posConn.closed) posConn = await openRetrying(links.pos);
      return posConn;
    },
    printer: () => emulator,
    async unplugPrinter(signal: "SIGTERM" | "SIGKILL" = "SIGTERM"): Promise<void> {
      const p = printerPair;
      printerPair = undefined;
      emulator.close();
      await p?.stop(signal);
      await printerConn.close();
    },
    async replugPrinter(): Promise<PrinterEmulator> {
      if (!printerPair) printerPair = await startSocatPair({ a: links.daemonPrinter, b: links.printer });
      printerConn = await openRetrying(links.printer);
      emulator = startPrinterEmulator(printerConn, options.printer);
      return emulator;
    },
    async close(): Promise<void> {
      emulator.close();
      await posConn?.close();
      await printerConn.close();
      await posPair.stop();
      await printerPair?.stop();
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
