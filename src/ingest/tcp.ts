/**
 * TCP transports: `tcp://host:port` (we connect to a serial device server such as a Moxa NPort; the session
 * reconnects) and `tcp-listen://host:port` (we listen; the register or POS connects).
 */
import { createServer, type Server, type Socket, connect as tcpConnect } from "node:net";
import { createConnection, type PortConnection, type PortSource } from "./connection.js";

const KEEPALIVE_MS = 10_000;

function wrapSocket(socket: Socket, description: string): PortConnection {
  socket.setNoDelay(true);
  socket.setKeepAlive(true, KEEPALIVE_MS);
  let lastError: Error | undefined;
  const handle = createConnection(description, {
    write(bytes, done): void {
      socket.write(bytes, (error) => done(error));
    },
    close(): void {
      socket.end();
      // A peer that never closes its side must not keep us waiting.
      setTimeout(() => socket.destroy(), 1_000).unref();
    },
  });
  socket.on("error", (error) => {
    lastError = error;
  });
  socket.on("data", (chunk: Buffer) => handle.deliver(Uint8Array.from(chunk)));
  socket.on("close", () => handle.end(lastError));
  // A half-closed peer sends nothing more; close our side too so `close` follows.
  socket.on("end", () => socket.end());
  return handle.connection;
}

/** Host and port of a `tcp://` or `tcp-listen://` address. */
export interface TcpAddress {
  readonly host: string;
  readonly port: number;
}

/** A source that connects to `host:port` on every open. */
export function tcpConnectSource(address: TcpAddress, options: { timeoutMs?: number } = {}): PortSource {
  const description = `tcp ${address.host}:${address.port}`;
  return {
    description,
    open(signal: AbortSignal): Promise<PortConnection> {
      if (signal.aborted) return Promise.reject(signal.reason);
      return new Promise<PortConnection>((resolve, reject) => {
        const socket = tcpConnect({ host: address.host, port: address.port });
        const fail = (error: unknown): void => {
          cleanup();
          socket.destroy();
          reject(error);
        };
        const onAbort = (): void => fail(signal.reason);
        const onError = (error: Error): void => fail(error);
        const onTimeout = (): void => fail(new Error(`connect timeout: ${description}`));
        const cleanup = (): void => {
          signal.removeEventListener("abort", onAbort);
          socket.off("error", onError);
          socket.off("timeout", onTimeout);
          socket.setTimeout(0);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        socket.once("error", onError);
        socket.setTimeout(options.timeoutMs ?? 10_000, onTimeout);
        socket.once("connect", () => {
          cleanup();
          resolve(wrapSocket(socket, description));
        });
      });
    },
    close: (): Promise<void> => Promise.resolve(),
  };
}

/** A `tcp-listen://` source, which also reports where it listens. */
export interface TcpListenSource extends PortSource {
  /** The bound address once listening (useful with port 0), else `undefined`. */
  address(): TcpAddress | undefined;
}

/**
 * Listen on `host:port`; each `open` waits for the register to connect. One connection at a time: when a new one
 * arrives while another is up, the newer wins and the older is closed (a POS that reconnected after a network
 * glitch must not be locked out by its own half-dead socket).
 */
export function tcpListenSource(
  address: TcpAddress,
  hooks: { onListening?: (address: TcpAddress) => void } = {},
): TcpListenSource {
  const description = `tcp-listen ${address.host}:${address.port}`;
  let server: Server | undefined;
  let listening: Promise<void> | undefined;
  let bound: TcpAddress | undefined;
  let pending: Socket | undefined;
  let current: PortConnection | undefined;
  let waiter: ((socket: Socket) => void) | undefined;

  const onConnection = (socket: Socket): void => {
    socket.on("error", () => {}); // until wrapped; errors here only mean the peer left early
    if (waiter) {
      const w = waiter;
      waiter = undefined;
      w(socket);
      return;
    }
    pending?.destroy();
    pending = socket;
    if (current && !current.closed) void current.close();
  };

  const listen = (): Promise<void> => {
    if (listening) return listening;
    const srv = createServer(onConnection);
    server = srv;
    listening = new Promise<void>((resolve, reject) => {
      srv.once("error", (error) => {
        server = undefined;
        listening = undefined;
        srv.close();
        reject(error);
      });
      srv.listen(address.port, address.host, () => {
        const a = srv.address();
        if (a !== null && typeof a === "object") bound = { host: a.address, port: a.port };
        if (bound) hooks.onListening?.(bound);
        resolve();
      });
    });
    return listening;
  };

  return {
    description,
    waitsForPeer: true,
    address: () => bound,
    async open(signal: AbortSignal): Promise<PortConnection> {
      if (signal.aborted) throw signal.reason;
      await listen();
      let socket: Socket;
      do {
        socket =
          pending ??
          (await new Promise<Socket>((resolve, reject) => {
            const onAbort = (): void => {
              waiter = undefined;
              reject(signal.reason);
            };
            signal.addEventListener("abort", onAbort, { once: true });
            waiter = (s) => {
              signal.removeEventListener("abort", onAbort);
              resolve(s);
            };
          }));
        if (socket === pending) pending = undefined;
      } while (socket.destroyed); // the peer left while queued
      socket.removeAllListeners("error");
      const conn = wrapSocket(socket, `${description} ← ${socket.remoteAddress}:${socket.remotePort}`);
      current = conn;
      return conn;
    },
    async close(): Promise<void> {
      pending?.destroy();
      pending = undefined;
      const srv = server;
      server = undefined;
      listening = undefined;
      if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
    },
  };
}
