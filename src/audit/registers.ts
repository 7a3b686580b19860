/**
 * Each register as `hoadon status` and the audit web page show it: its ports as hoadon's current run last saw them,
 * its receipts since local midnight, its latest receipt, its receipts held for review and the device it is (or the
 * printer it prints on), as it reported itself.
 */
import type { DeviceIdentity } from "../ingest/journal-sink.js";
import { vnEndOfDay } from "../shared/clock.js";
import type { Db } from "../store/db.js";
import {
  type PortState,
  portStates,
  type RegisterIdentity,
  registerActivity,
  registerIdentity,
} from "../store/register-status.js";
import { HELD_SQL } from "./ledger.js";

export interface RegisterState {
  readonly id: string;
  /** Its ports in the run (empty when no run is given, or the run has not tried them yet). */
  readonly ports: readonly PortState[];
  readonly today: number;
  readonly last?: { readonly receiptId: string; readonly at: number };
  readonly held: number;
  /** What the register (or its printer) reported about itself: model, serial, firmware, and its latest change. */
  readonly identity?: RegisterIdentity;
}

/** `ids` in order; their ports from the port log of the run that began at event `runEventId`, when given. */
export function registerStates(db: Db, ids: readonly string[], now: number, runEventId?: number): RegisterState[] {
  const activity = registerActivity(db, ids, vnEndOfDay(now) - 86_400_000);
  const held = new Map(
    db
      .prepare<[], { id: string; n: number }>(
        `SELECT register_id AS id, count(*) AS n FROM quarantine WHERE ${HELD_SQL} GROUP BY register_id`,
      )
      .all()
      .map((r) => [r.id, r.n]),
  );
  return ids.map((id) => {
    const identity = registerIdentity(db, id);
    return {
      id,
      ports: runEventId === undefined ? [] : portStates(db, id, runEventId),
      ...activity.get(id)!,
      held: held.get(id) ?? 0,
      ...(identity ? { identity } : {}),
    };
  });
}

/** `Datecs FP-700 · S/N DT123456 · firmware 1.02`: what a device said of itself, in the words printed on its plate. */
export function describeIdentity(id: DeviceIdentity): string {
  const parts = [id.model, id.serial && `S/N ${id.serial}`, id.firmware && `firmware ${id.firmware}`];
  return parts.filter((p): p is string => Boolean(p)).join(" · ") || "?";
}
