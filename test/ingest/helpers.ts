/**
 * Shared pieces for ingest and simulator tests: a fake write path, unique pty link names, loggers.
 */

import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import type { InvoiceRef, RecordOutcome } from "../../src/driver-api/index.js";
import { createMemoryLink, type PortConnection, type PortSource } from "../../src/ingest/connection.js";
import type { QuarantineInput, RecordInput } from "../../src/ingest/register-session.js";
import { Receipt } from "../../src/receipt/model.js";
import type { Logger } from "../../src/shared/log.js";

/** An in-memory write path: ok the first time, dup after, rejected when the Receipt schema says no. */
export function fakeWritePath(): {
  record: (input: RecordInput) => RecordOutcome;
  quarantine: (q: QuarantineInput) => void;
  /** `record:<register>/<id>` in call order (tests add their own entries). */
  order: string[];
  recorded: RecordInput[];
  quarantined: QuarantineInput[];
  /** Throw from record() for these receipt ids, once each. */
  throwOnce: Set<string>;
} {
  const invoices = new Map<string, InvoiceRef>();
  const order: string[] = [];
  const recorded: RecordInput[] = [];
  const quarantined: QuarantineInput[] = [];
  const throwOnce = new Set<string>();
  return {
    order,
    recorded,
    quarantined,
    throwOnce,
    record(input: RecordInput): RecordOutcome {
      const parsed = Receipt.safeParse(input.receipt);
      if (!parsed.success) return { status: "rejected", code: "RECEIPT_INVALID", message: parsed.error.message };
      const id = parsed.data.receiptId;
      if (throwOnce.delete(id)) throw new Error("disk on fire");
      order.push(`record:${input.registerId}/${id}`);
      recorded.push(input);
      const key = `${input.registerId}/${id}`;
      const known = invoices.get(key);
      if (known) return { status: "dup", invoice: known };
      const shdon = invoices.size + 1;
      const invoice: InvoiceRef = {
        mccqt: `M1-26-TEST0-${String(shdon).padStart(11, "0")}`,
        khmshdon: "1",
        khhdon: "C26MAB",
        shdon,
        qr: `qr-${shdon}`,
      };
      invoices.set(key, invoice);
      return { status: "ok", invoice };
    },
    quarantine(q: QuarantineInput): void {
      quarantined.push(q);
    },
  };
}

let counter = 0;
/** Two unique link paths under the temp dir (no characters socat would misread). */
export function linkPaths(stem: string): { a: string; b: string } {
  counter++;
  const base = join(tmpdir(), `hoadon-${stem}-${process.pid}-${counter}`);
  return { a: `${base}-daemon`, b: `${base}-register` };
}

/** A logger that keeps its JSON lines in memory. */
export function memoryLogger(level = "debug"): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done): void {
      out.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      done();
    },
  });
  return { log: pino({ level }, sink), lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export const silent: Logger = pino({ level: "silent" });

/** Same serial settings the simulator uses. */
export const SERIAL = { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 } as const;

/**
 * A {@link PortSource} whose every open makes a new in-memory link; the test gets the other end. `down = true` makes
 * opens fail (a port that is absent) until it is set back. `log` records writes the session makes (`write:<n>`).
 */
export function memoryPortSource(name: string): PortSource & {
  down: boolean;
  opens: number;
  log: string[];
  current: PortConnection | undefined;
  nextPeer(): Promise<PortConnection>;
} {
  const waiting: ((c: PortConnection) => void)[] = [];
  const ready: PortConnection[] = [];
  const source = {
    description: `memory:${name}`,
    down: false,
    opens: 0,
    log: [] as string[],
    current: undefined as PortConnection | undefined,
    open(signal: AbortSignal): Promise<PortConnection> {
      source.opens++;
      if (signal.aborted) return Promise.reject(signal.reason);
      if (source.down) return Promise.reject(new Error(`ENOENT: ${name} absent`));
      const { a, b } = createMemoryLink({ a: `memory:${name}:daemon`, b: `memory:${name}:peer` });
      const write = a.write.bind(a);
      const logged: PortConnection = {
        get description() {
          return a.description;
        },
        get closed() {
          return a.closed;
        },
        write: (bytes) => {
          source.log.push(`write:${bytes.length}`);
          return write(bytes);
        },
        onData: (l) => a.onData(l),
        onClose: (l) => a.onClose(l),
        close: () => a.close(),
        ...(a.lines ? { lines: a.lines } : {}),
      };
      source.current = b;
      const w = waiting.shift();
      if (w) w(b);
      else ready.push(b);
      return Promise.resolve(logged);
    },
    close: (): Promise<void> => Promise.resolve(),
    nextPeer(): Promise<PortConnection> {
      const r = ready.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
  };
  return source;
}
