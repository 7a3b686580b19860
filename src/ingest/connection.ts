/**
 * The transport-neutral link to one register (serial device, TCP socket, in-memory pair), so the session does not
 * care how bytes travel. Transports build one with {@link createConnection}; it owns the bookkeeping every transport
 * gets wrong once: `close` reported twice, writes on a closed port that never call back, bytes that arrive before
 * anyone listens.
 */

/** An open link to one register. Reading starts as soon as it exists; nothing is lost before `onData` is set. */
export interface PortConnection {
  /** Human-readable endpoint, e.g. `/dev/ttyUSB0` or `tcp 10.0.0.5:4001`. */
  readonly description: string;
  /** True once the link is down (unplugged, peer gone, or {@link PortConnection.close} called). */
  readonly closed: boolean;
  /**
   * Send bytes. Resolves when the transport took them; rejects when the link is or goes down first.
   * Writes go out in call order.
   */
  write(bytes: Uint8Array): Promise<void>;
  /**
   * Bytes as they arrive. Bytes received while nobody listens are kept and delivered to the next listener.
   * Returns a function that removes the listener.
   */
  onData(listener: (bytes: Uint8Array) => void): () => void;
  /** Called exactly once when the link goes down (at once if it already has). `error` is unset for a clean close. */
  onClose(listener: (error: Error | undefined) => void): void;
  /** Close the link; resolves once it is down. Idempotent. */
  close(): Promise<void>;
  /** The RS-232 control lines, on transports that have them (serial; not TCP). */
  readonly lines?: ModemLines;
}

/** What the far end drives, as this end reads it: its DTR shows here as DSR (and DCD), its RTS as CTS. */
export interface LineInputs {
  readonly cts: boolean;
  readonly dsr: boolean;
  readonly dcd: boolean;
}

/** The lines this end drives. */
export interface LineOutputs {
  readonly dtr: boolean;
  readonly rts: boolean;
}

/**
 * RS-232 control lines (a printer's hardware busy, register-protocols.md §1a). Both reject when the port cannot do
 * it (a pty: ENOTTY / EINVAL) or is closed.
 */
export interface ModemLines {
  get(): Promise<LineInputs>;
  set(outputs: LineOutputs): Promise<void>;
}

/** Where a session gets its connections: opened again after every disconnect. */
export interface PortSource {
  /** Human-readable, for logs. */
  readonly description: string;
  /** One new connection (a new port instance each time). Rejects when the port cannot be opened or on abort. */
  open(signal: AbortSignal): Promise<PortConnection>;
  /** Release what the source holds between connections (a listening socket). Idempotent. */
  close(): Promise<void>;
  /**
   * `open` waits for the peer to connect (a listening socket). After a connection goes down the loop waits for the
   * next one at once: a backoff there would only leave a reconnected register unanswered.
   */
  readonly waitsForPeer?: boolean;
}

/** What a transport does for {@link createConnection}. */
export interface ConnectionIo {
  /** Hand bytes to the OS; call `done` once they are taken (or with the error). */
  write(bytes: Uint8Array, done: (error?: Error | null) => void): void;
  /** Start closing; the transport calls `end()` when it is down. */
  close(): void;
  /** The transport's control lines, if it has any. */
  readonly lines?: ModemLines;
}

/** The transport's side of a connection. */
export interface ConnectionHandle {
  readonly connection: PortConnection;
  /** Report received bytes. */
  deliver(bytes: Uint8Array): void;
  /** Report that the link is down; later calls are ignored (serialport may report `close` twice). */
  end(error?: Error): void;
}

/** An Error for "the link is down", Vietnamese first. */
export function portClosedError(description: string): Error {
  return new Error(`Cổng đã đóng / port is closed: ${description}`);
}

/** Build a {@link PortConnection} around a transport. */
export function createConnection(description: string, io: ConnectionIo): ConnectionHandle {
  const dataListeners: ((bytes: Uint8Array) => void)[] = [];
  const closeListeners: ((error: Error | undefined) => void)[] = [];
  let early: Uint8Array[] = [];
  const pendingWrites = new Set<(error: Error) => void>();
  let closed = false;
  let closeError: Error | undefined;
  let closing = false;

  const connection: PortConnection = {
    description,
    get closed(): boolean {
      return closed;
    },
    write(bytes: Uint8Array): Promise<void> {
      if (closed || closing) return Promise.reject(portClosedError(description));
      return new Promise<void>((resolve, reject) => {
        pendingWrites.add(reject);
        try {
          io.write(bytes, (error) => {
            pendingWrites.delete(reject);
            if (error) reject(error);
            else resolve();
          });
        } catch (error) {
          pendingWrites.delete(reject);
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    },
    onData(listener: (bytes: Uint8Array) => void): () => void {
      dataListeners.push(listener);
      if (early.length > 0) {
        const queued = early;
        early = [];
        for (const chunk of queued) listener(chunk);
      }
      return () => {
        const i = dataListeners.indexOf(listener);
        if (i !== -1) dataListeners.splice(i, 1);
      };
    },
    onClose(listener: (error: Error | undefined) => void): void {
      if (closed) queueMicrotask(() => listener(closeError));
      else closeListeners.push(listener);
    },
    close(): Promise<void> {
      if (closed) return Promise.resolve();
      const done = new Promise<void>((resolve) => closeListeners.push(() => resolve()));
      if (!closing) {
        closing = true;
        try {
          io.close();
        } catch (error) {
          handle.end(error instanceof Error ? error : new Error(String(error)));
        }
      }
      return done;
    },
  };

  // Only transports with control lines get the property (a plain literal keeps the connection's shape simple).
  if (io.lines) {
    const lines = guardedLines(io.lines, () => closed || closing, description);
    Object.defineProperty(connection, "lines", { value: lines, enumerable: true });
  }

  const handle: ConnectionHandle = {
    connection,
    deliver(bytes: Uint8Array): void {
      if (closed) return;
      if (dataListeners.length === 0) early.push(bytes);
      else for (const listener of dataListeners.slice()) listener(bytes);
    },
    end(error?: Error): void {
      if (closed) return;
      closed = true;
      closeError = error;
      const down = error ?? portClosedError(description);
      for (const reject of pendingWrites) reject(down);
      pendingWrites.clear();
      const listeners = closeListeners.splice(0);
      for (const listener of listeners) listener(error);
    },
  };
  return handle;
}

/** `lines` that refuse once the connection is down, as every write does. */
function guardedLines(lines: ModemLines, down: () => boolean, description: string): ModemLines {
  return {
    get: () => (down() ? Promise.reject(portClosedError(description)) : lines.get()),
    set: (outputs) => (down() ? Promise.reject(portClosedError(description)) : lines.set(outputs)),
  };
}

/**
 * Two connections wired to each other in memory (a null-modem cable): what one writes, the other receives on a
 * later macrotask; one end's DTR and RTS are the other's DSR/DCD and CTS. Closing either end closes both. For tests
 * and in-process demos.
 */
export function createMemoryLink(names: { a?: string; b?: string } = {}): { a: PortConnection; b: PortConnection } {
  let aHandle: ConnectionHandle | undefined;
  let bHandle: ConnectionHandle | undefined;
  const closeBoth = (): void => {
    setImmediate(() => {
      aHandle?.end();
      bHandle?.end();
    });
  };
  // The control lines cross as in a null-modem cable; a port that opens raises DTR and RTS, as Linux does.
  const outputs: Record<"a" | "b", LineOutputs> = { a: { dtr: true, rts: true }, b: { dtr: true, rts: true } };
  const io = (me: "a" | "b", peer: () => ConnectionHandle | undefined): ConnectionIo => ({
    write(bytes, done): void {
      const copy = bytes.slice();
      setImmediate(() => {
        peer()?.deliver(copy);
        done();
      });
    },
    close: closeBoth,
    lines: {
      get: async (): Promise<LineInputs> => {
        const far = outputs[me === "a" ? "b" : "a"];
        return { cts: far.rts, dsr: far.dtr, dcd: far.dtr };
      },
      set: async (o: LineOutputs): Promise<void> => {
        outputs[me] = { dtr: o.dtr, rts: o.rts };
      },
    },
  });
  aHandle = createConnection(
    names.a ?? "memory:a",
    io("a", () => bHandle),
  );
  bHandle = createConnection(
    names.b ?? "memory:b",
    io("b", () => aHandle),
  );
  return { a: aHandle.connection, b: bHandle.connection };
}
