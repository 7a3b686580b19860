/**
 * The port log: when each register's port (and a bridge's device port) came up, went down or could not be opened,
 * kept in the store's event log so `hoadon status` can say whether a register is connected now and an auditor can see
 * how long a register was away. Only changes are kept: a port that keeps failing with the same error is one row, not
 * one per retry.
 */
import type { Side } from "../driver-api/index.js";
import type { SessionEvent } from "./register-session.js";

export type PortLogKind = "port-listening" | "port-up" | "port-down" | "port-open-failed";

/** One row of the port log (`events.kind`, `events.register_id`, `events.detail`). */
export interface PortLogEntry {
  readonly at: number;
  readonly kind: PortLogKind;
  readonly registerId: string;
  readonly detail: { readonly side: Side; readonly port?: string; readonly error?: string };
}

/** Turn session events into port-log rows for `keep`; other events pass by. */
export function portLog(keep: (entry: PortLogEntry) => void): (event: SessionEvent) => void {
  /** Per register and side: the last failure kept, so a retry with the same error is not kept again. */
  const failing = new Map<string, string>();
  return (event) => {
    if (event.type === "listening") {
      // A `tcp-listen://` port bound: hoadon waits for the register to connect.
      keep({
        at: event.at,
        kind: "port-listening",
        registerId: event.registerId,
        detail: { side: event.side ?? "register", port: event.address },
      });
      return;
    }
    if (event.type !== "port-up" && event.type !== "port-down" && event.type !== "open-failed") return;
    const side = event.side ?? "register";
    const key = `${event.registerId}\u0000${side}`;
    if (event.type === "open-failed") {
      if (failing.get(key) === event.error) return;
      failing.set(key, event.error);
      keep({
        at: event.at,
        kind: "port-open-failed",
        registerId: event.registerId,
        detail: { side, error: event.error },
      });
      return;
    }
    failing.delete(key);
    if (event.type === "port-up")
      keep({ at: event.at, kind: "port-up", registerId: event.registerId, detail: { side, port: event.port } });
    else
      keep({
        at: event.at,
        kind: "port-down",
        registerId: event.registerId,
        detail: { side, ...(event.error === undefined ? {} : { error: event.error }) },
      });
  };
}
