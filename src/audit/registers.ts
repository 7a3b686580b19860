/**
 * Each register as `hoadon status` and the audit web page show it: its ports as hoadon's current run last saw them,
 * its receipts since local midnight, its latest receipt and its receipts held for review.
 */
import { vnEndOfDay } from "../shared/clock.js";
import type { Db } from "../store/db.js";
import { type PortState, portStates, registerActivity } from "../store/register-status.js";
import { HELD_SQL } from "./ledger.js";

export interface RegisterState {
  readonly id: string;
  /** Its ports in the run (empty when no run is given, or the run has not tried them yet). */
  readonly ports: readonly PortState[];
  readonly today: number;
  readonly last?: { readonly receiptId: string; readonly at: number };
  readonly held: number;
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
  return ids.map((id) => ({
    id,
    ports: runEventId === undefined ? [] : portStates(db, id, runEventId),
    ...activity.get(id)!,
    held: held.get(id) ?? 0,
  }));
}
