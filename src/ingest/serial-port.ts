/* v8 ignore start */
/**
 * The one thin OS wrapper around `serialport` 13 (register-protocols.md §2). Excluded from coverage; the socat
 * tests in test/ingest exercise it for real.
 *
 * Rules from §2.5–2.7, all applied here:
 * - bindings-cpp#162: a tty that hung up before the first read makes `unixRead` recurse on 0-byte reads forever
 *   (~90 % CPU, no `close`). {@link safeBinding} replaces the port's `read` with one that turns a 0-byte read into a
 *   disconnect, and reads and writes the non-blocking fd on this thread rather than through libuv's thread pool. It
 *   uses only the binding's public `fd`, `poller` and `writeOperation`, not the package's internal files.
 * - an `error` listener is always attached (an unhandled `error` kills the process);
 * - reading starts in the open callback; the port is never left paused;
 * - `close` may fire twice (stream autoDestroy + DisconnectedError): {@link createConnection} ignores the second;
 * - writes on a closed port never call back: the connection rejects them when it goes down.
 */
import { readSync, writeSync } from "node:fs";
import type { BindingInterface, BindingPortInterface, OpenOptions } from "@serialport/bindings-cpp";
import { autoDetect, BindingsError } from "@serialport/bindings-cpp";
import { SerialPortStream } from "@serialport/stream";
import type { SerialSettings } from "../driver-api/index.js";
import { createConnection, type PortConnection, type PortSource } from "./connection.js";

/** The public members of bindings-cpp's Linux/Darwin port the read and write loops need. */
interface UnixPort {
  readonly fd: number | null;
  readonly poller: { once(event: "readable" | "writable", cb: (error: Error | null) => void): unknown };
  /** The write in progress; the binding's `drain()` waits for it. */
  writeOperation: Promise<void> | null;
}

/** "Try again" errors of a non-blocking fd: wait for the poller. */
const retryable = (error: unknown): boolean => {
  const code = (error as NodeJS.ErrnoException).code;
  return code === "EAGAIN" || code === "EWOULDBLOCK" || code === "EINTR";
};

const pollFor = (port: UnixPort, event: "readable" | "writable"): Promise<void> =>
  new Promise<void>((resolve, reject) =>
    port.poller.once(event, (pollError) => (pollError ? reject(pollError) : resolve())),
  );

const isUnixPort = (p: unknown): p is UnixPort =>
  typeof p === "object" && p !== null && "fd" in p && "poller" in p && typeof p.poller === "object";

/** An error the stream treats as a disconnect (`close` with `DisconnectedError`). */
function disconnect(message: string, cause?: unknown): Error {
  return Object.assign(new Error(message, { cause }), { disconnect: true });
}

/**
 * bindings-cpp's `unixRead` with two changes: 0 bytes (EOF, the tty hung up) is a disconnect instead of an
 * immediate re-read (bindings-cpp#162, PRs #164/#175 unmerged); and the read is a plain `read(2)` on this thread.
 * The fd is non-blocking (bindings-cpp opens it O_NONBLOCK), so the call returns at once with what the tty holds or
 * EAGAIN; bindings-cpp sends each attempt through libuv's 4-thread pool instead, two trips per chunk received,
 * which 16 registers queue for.
 */
async function safeUnixRead(
  port: UnixPort,
  buffer: Buffer,
  offset: number,
  length: number,
): Promise<{ buffer: Buffer; bytesRead: number }> {
  for (;;) {
    const fd = port.fd;
    if (fd === null) throw new BindingsError("Port is not open", { canceled: true });
    let bytesRead: number;
    try {
      bytesRead = readSync(fd, buffer, offset, length, null);
    } catch (error) {
      if (retryable(error)) {
        await pollFor(port, "readable");
        if (port.fd === null) throw new BindingsError("Port is not open", { canceled: true });
        continue;
      }
      throw disconnect((error as Error).message ?? String(error), error);
    }
    if (bytesRead === 0) throw disconnect("EOF: the tty hung up (0-byte read, bindings-cpp#162)");
    return { bytesRead, buffer };
  }
}

/**
 * bindings-cpp's `unixWrite` with a plain `write(2)` on this thread (the fd is non-blocking): what the tty takes is
 * written at once, the rest after the poller says writable. Errors as bindings-cpp marks them: a gone device is a
 * disconnect.
 */
function safeUnixWrite(port: UnixPort, buffer: Buffer): Promise<void> {
  const operation = (async (): Promise<void> => {
    let offset = 0;
    while (offset < buffer.length) {
      const fd = port.fd;
      if (fd === null) throw new Error("Port is not open");
      try {
        offset += writeSync(fd, buffer, offset, buffer.length - offset);
      } catch (error) {
        if (retryable(error)) {
          await pollFor(port, "writable");
          continue;
        }
        const e = error as NodeJS.ErrnoException;
        if (e.code === "EBADF" || e.code === "ENXIO" || e.code === "UNKNOWN" || e.errno === -1) {
          throw disconnect(e.message, error);
        }
        throw error;
      }
    }
    port.writeOperation = null;
  })();
  port.writeOperation = operation;
  return operation;
}

/**
 * The platform binding, with the §2.6 hot-loop fix on Linux and macOS (both use `unixRead`). Pass another binding to
 * {@link openSerialPort} in tests.
 */
export function safeBinding(base: BindingInterface = autoDetect()): BindingInterface {
  if (process.platform !== "linux" && process.platform !== "darwin") return base;
  return {
    list: () => base.list(),
    async open(options: OpenOptions): Promise<BindingPortInterface> {
      const port = await base.open(options);
      if (isUnixPort(port)) {
        port.read = (buffer: Buffer, offset: number, length: number) => safeUnixRead(port, buffer, offset, length);
        port.write = (buffer: Buffer) => {
          if (!Buffer.isBuffer(buffer)) return Promise.reject(new TypeError('"buffer" is not a Buffer'));
          if (port.fd === null) return Promise.reject(new Error("Port is not open"));
          return buffer.length === 0 ? Promise.resolve() : safeUnixWrite(port, buffer);
        };
      }
      return port;
    },
  };
}

/** Options of {@link openSerialPort}. */
export interface OpenSerialOptions {
  /** Override the binding (tests). Default: {@link safeBinding}. */
  readonly binding?: BindingInterface;
}

/** Open a serial device and start reading at once. Rejects with the OS error (ENOENT, "Cannot lock port" …). */
export function openSerialPort(
  path: string,
  settings: SerialSettings,
  options: OpenSerialOptions = {},
): Promise<PortConnection> {
  const binding = options.binding ?? safeBinding();
  return new Promise<PortConnection>((resolve, reject) => {
    const stream = new SerialPortStream({
      binding,
      path,
      baudRate: settings.baudRate,
      dataBits: settings.dataBits,
      parity: settings.parity,
      stopBits: settings.stopBits,
      // The kernel holds our output while the far end's CTS is low and drops our RTS when we cannot take more.
      rtscts: settings.flowControl === "rtscts",
      autoOpen: false,
    });
    let lastError: Error | undefined;
    const handle = createConnection(path, {
      write(bytes, done): void {
        stream.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (error) => done(error));
      },
      close(): void {
        if (stream.isOpen) stream.close();
        else {
          stream.destroy();
          handle.end();
        }
      },
      lines: {
        get: () =>
          new Promise((resolve, reject) =>
            stream.get((error, status) =>
              error || !status ? reject(error ?? new Error("no status")) : resolve(status),
            ),
          ),
        // Both lines every time: serialport fills the ones left out with its defaults (DTR and RTS raised).
        set: ({ dtr, rts }) =>
          new Promise((resolve, reject) => stream.set({ dtr, rts }, (error) => (error ? reject(error) : resolve()))),
      },
    });
    // Always: an unhandled 'error' (EIO on write after unplug) would kill the process.
    stream.on("error", (error: Error) => {
      lastError = error;
    });
    stream.on("close", (error?: Error | null) => {
      handle.end(error ?? lastError ?? undefined);
    });
    stream.open((error) => {
      if (error) {
        stream.destroy();
        reject(error);
        return;
      }
      // Start reading now: a port never read from is the one bindings-cpp#162 spins on.
      stream.on("data", (chunk: Buffer) => handle.deliver(Uint8Array.from(chunk)));
      resolve(handle.connection);
    });
  });
}

/** A {@link PortSource} for a serial device path: a new `SerialPortStream` per open. */
export function serialPortSource(path: string, settings: SerialSettings, options: OpenSerialOptions = {}): PortSource {
  return {
    description: path,
    open: (signal: AbortSignal): Promise<PortConnection> => {
      if (signal.aborted) return Promise.reject(signal.reason);
      return openSerialPort(path, settings, options).then((conn) => {
        if (signal.aborted) {
          void conn.close();
          throw signal.reason;
        }
        return conn;
      });
    },
    close: (): Promise<void> => Promise.resolve(),
  };
}
/* v8 ignore stop */
