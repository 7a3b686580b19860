/**
 * One entry point for every register whatever its role: a one-port session (`ndjson`, `escpos-tap` sink/sniff,
 * `datecs-isl` device role) or a two-port bridge (`escpos-tap` bridge, `datecs-isl` tap), as the driver says for the
 * register's options (`Driver.portsFor`). main.ts calls this for each configured register.
 */
import type { SerialSettings } from "../driver-api/index.js";
import { DaemonError } from "../shared/errors.js";
import { type BridgeSession, startBridgeSession } from "./bridge-session.js";
import type { PortSource } from "./connection.js";
import { type RegisterSession, type RegisterSessionDeps, startRegisterSession } from "./register-session.js";

/** A register as the session needs it (mapped from `registers[]` in config). */
export interface SessionRegister {
  readonly id: string;
  /** The register's port: a serial device, `tcp://host:port` or `tcp-listen://host:port`. */
  readonly port: string;
  /** Two-port roles: the device's (printer's) port. */
  readonly devicePort?: string;
  readonly serial?: Partial<SerialSettings>;
  /** Two-port roles: serial overrides for the device's port. */
  readonly deviceSerial?: Partial<SerialSettings>;
  /** Two-port roles: mirror the device's control lines to the register's port (config `mirrorLines`). */
  readonly mirrorLines?: boolean;
}

/** Dependencies of {@link startSession}. */
export interface SessionDeps extends Omit<RegisterSessionDeps, "register" | "source"> {
  readonly register: SessionRegister;
  /** Tests and custom transports: where connections come from. */
  readonly sources?: { readonly register?: PortSource; readonly device?: PortSource };
}

/** How many ports a register uses with these options. */
export function portsNeeded(deps: Pick<SessionDeps, "driver" | "options">): 1 | 2 {
  return deps.driver.portsFor?.(deps.options) ?? 1;
}

/**
 * Start the right session for a register. Throws `DaemonError("CONFIG_INVALID")` when a two-port role has no
 * `devicePort`, or a one-port role has one.
 */
export function startSession(deps: SessionDeps): RegisterSession | BridgeSession {
  const { register, driver } = deps;
  const ports = portsNeeded(deps);
  if (ports === 2) {
    if (register.devicePort === undefined && deps.sources?.device === undefined) {
      throw new DaemonError(
        "CONFIG_INVALID",
        `registers[${register.id}]: vai trò này cần devicePort (cổng máy in) / this role needs devicePort (the printer's port)`,
      );
    }
    return startBridgeSession({
      ...deps,
      register: {
        id: register.id,
        port: register.port,
        devicePort: register.devicePort ?? "",
        ...(register.serial ? { serial: register.serial } : {}),
        ...(register.deviceSerial ? { deviceSerial: register.deviceSerial } : {}),
        ...(register.mirrorLines ? { mirrorLines: true } : {}),
      },
    });
  }
  if (register.devicePort !== undefined) {
    throw new DaemonError(
      "CONFIG_INVALID",
      `registers[${register.id}]: driver ${driver.id} với các tùy chọn này chỉ dùng một cổng, bỏ devicePort / ` +
        `this role uses one port: remove devicePort`,
    );
  }
  if (register.mirrorLines) {
    throw new DaemonError(
      "CONFIG_INVALID",
      `registers[${register.id}]: mirrorLines chỉ dùng khi có hai cổng (cầu nối) / mirrorLines needs a two-port role`,
    );
  }
  const { sources, register: _r, ...rest } = deps;
  return startRegisterSession({
    ...rest,
    register: { id: register.id, port: register.port, ...(register.serial ? { serial: register.serial } : {}) },
    ...(sources?.register ? { source: sources.register } : {}),
  });
}
