/**
 * A register's `port:` setting → where its bytes come from.
 */
import type { SerialSettings } from "../driver-api/index.js";
import { DaemonError } from "../shared/errors.js";
import type { PortSource } from "./connection.js";
import { serialPortSource } from "./serial-port.js";
import { type TcpAddress, tcpConnectSource, tcpListenSource } from "./tcp.js";

/** A parsed `port:` setting. */
export type PortAddress =
  | { readonly kind: "serial"; readonly path: string }
  | { readonly kind: "tcp"; readonly host: string; readonly port: number }
  | { readonly kind: "tcp-listen"; readonly host: string; readonly port: number };

/**
 * Parse a `port:` setting: a serial device path (`/dev/ttyUSB0`, `COM3`), `tcp://host:port` or
 * `tcp-listen://host:port` (port 0 picks a free port). Throws `DaemonError("CONFIG_INVALID")` otherwise.
 */
export function parsePortAddress(port: string): PortAddress {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(port);
  if (!m) {
    if (port.trim() === "") throw new DaemonError("CONFIG_INVALID", "Cổng trống / empty port");
    return { kind: "serial", path: port };
  }
  const scheme = m[1]!.toLowerCase();
  if (scheme !== "tcp" && scheme !== "tcp-listen") {
    throw new DaemonError(
      "CONFIG_INVALID",
      `Kiểu cổng không hỗ trợ "${scheme}://" (dùng đường dẫn thiết bị, tcp:// hoặc tcp-listen://) / unsupported port scheme`,
    );
  }
  const hp = /^(\[[0-9a-fA-F:.]+\]|[^:/[\]]+):(\d{1,5})\/?$/.exec(m[2]!);
  const portNumber = hp ? Number(hp[2]) : Number.NaN;
  if (!hp || portNumber > 65_535 || (scheme === "tcp" && portNumber === 0)) {
    throw new DaemonError(
      "CONFIG_INVALID",
      `Địa chỉ không hợp lệ, cần ${scheme}://máy:cổng / expected ${scheme}://host:port`,
    );
  }
  const host = hp[1]!.replace(/^\[(.*)\]$/, "$1");
  return { kind: scheme, host, port: portNumber };
}

/** Options of {@link portSourceFor}. */
export interface PortSourceOptions {
  /** Called when a `tcp-listen://` source is bound (with the real port when 0 was asked for). */
  readonly onListening?: (address: TcpAddress) => void;
}

/** The {@link PortSource} for a `port:` setting. */
export function portSourceFor(port: string, serial: SerialSettings, options: PortSourceOptions = {}): PortSource {
  const address = parsePortAddress(port);
  switch (address.kind) {
    case "serial":
      return serialPortSource(address.path, serial);
    case "tcp":
      return tcpConnectSource(address);
    case "tcp-listen":
      return tcpListenSource(address, options.onListening ? { onListening: options.onListening } : {});
    default: {
      const never: never = address;
      throw new TypeError(`unknown port kind ${JSON.stringify(never)}`);
    }
  }
}
