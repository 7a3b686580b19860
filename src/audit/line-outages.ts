/**
 * When hoadon was not reading the registers, from the event log: the gaps between its runs (a clean stop, or a run
 * that never said it stopped: a power cut, a crash — it ended after its last sign of life), and each port's
 * outages within a run (from the connection lost, or the first failed open, to the next connection), with the
 * errors seen. The port log (src/ingest/port-log.ts) is what the daemon writes; this reads it back for
 * `hoadon audit outages`. What an outage meant for sales depends on the register: a POS driving hoadon as its fiscal
 * printer could not print, a printer tap in bridge mode could not print, a sniffing tap did not see the sales made.
 *
 * Pure over the database: read-only queries, no clock (the caller passes `now`).
 */
import type { Db } from "../store/db.js";

export type LineOutageKind = "hoadon-stopped" | "hoadon-not-closed" | "port";

export interface LineOutage {
  readonly kind: LineOutageKind;
  /** The register (a port outage); unset: hoadon itself, every register. */
  readonly registerId?: string;
  readonly side?: "register" | "device";
  readonly start: number;
  /** Unset while it lasts (a port still down in the latest run). */
  readonly end?: number;
  readonly durationMs: number;
  /** The distinct errors seen (a port outage), in order. */
  readonly errors: readonly string[];
}

export interface LineOutageReport {
  readonly outages: readonly LineOutage[];
  /** Port outages shorter than `minMs`, left out of `outages` (a register reconnecting, a flapping cable). */
  readonly short: number;
  readonly minMs: number;
}

export interface LineOutageOptions {
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  readonly now: number;
  /** Port outages shorter than this are only counted (default 60 s). */
  readonly minMs?: number;
}

interface Row {
  readonly at: number;
  readonly kind: string;
  readonly register_id: string | null;
  readonly detail: string;
}

interface Open {
  readonly registerId: string;
  readonly side: "register" | "device";
  readonly start: number;
  readonly errors: string[];
}

export function lineOutages(db: Db, options: LineOutageOptions): LineOutageReport {
  const minMs = options.minMs ?? 60_000;
  const rows = db
    .prepare<[], Row>(
      `SELECT at, kind, register_id, detail FROM events
        WHERE kind IN ('daemon-start', 'daemon-stop', 'port-up', 'port-down', 'port-open-failed') ORDER BY id`,
    )
    .all();
  const lastReceipt = db.prepare<[number, number], { at: number | null }>(
    "SELECT max(received_at) AS at FROM receipts WHERE received_at >= ? AND received_at < ?",
  );
  const all: LineOutage[] = [];
  const open = new Map<string, Open>();
  let run: { start: number; lastAt: number; stopped?: number } | undefined;

  const close = (o: Open, end: number | undefined): void => {
    all.push({
      kind: "port",
      registerId: o.registerId,
      side: o.side,
      start: o.start,
      ...(end === undefined ? {} : { end }),
      durationMs: Math.max(0, (end ?? options.now) - o.start),
      errors: o.errors,
    });
  };
  const closeAll = (end: number | undefined): void => {
    for (const o of open.values()) close(o, end);
    open.clear();
  };

  for (const row of rows) {
    if (row.kind === "daemon-start") {
      if (run && run.stopped === undefined) {
        // Never said it stopped: it ended some time after its last sign of life (an event, a receipt).
        const sign = Math.max(run.lastAt, lastReceipt.get(run.start, row.at)?.at ?? 0);
        closeAll(sign);
        all.push({ kind: "hoadon-not-closed", start: sign, end: row.at, durationMs: row.at - sign, errors: [] });
      } else if (run?.stopped !== undefined) {
        all.push({
          kind: "hoadon-stopped",
          start: run.stopped,
          end: row.at,
          durationMs: row.at - run.stopped,
          errors: [],
        });
      }
      run = { start: row.at, lastAt: row.at };
      continue;
    }
    if (!run) continue; // port rows before any start (not written by hoadon): nothing to say
    run.lastAt = Math.max(run.lastAt, row.at);
    if (row.kind === "daemon-stop") {
      // The ports went down as it stopped: that is the stop, not a port outage.
      for (const o of open.values()) if (o.start < row.at - 1_000) close(o, row.at);
      open.clear();
      run.stopped = row.at;
      continue;
    }
    const detail = JSON.parse(row.detail) as { side?: "register" | "device"; error?: string };
    const registerId = row.register_id ?? "?";
    const side = detail.side ?? "register";
    const key = `${registerId}\u0000${side}`;
    const o = open.get(key);
    if (row.kind === "port-up") {
      if (o) {
        close(o, row.at);
        open.delete(key);
      }
      continue;
    }
    const error = detail.error ?? (row.kind === "port-down" ? "closed" : "?");
    if (o) {
      if (!o.errors.includes(error)) o.errors.push(error);
    } else open.set(key, { registerId, side, start: row.at, errors: [error] });
  }
  // The latest run: a clean stop leaves a gap still going; a port down now is still down (or hoadon stopped without
  // closing since: `hoadon status` tells which).
  if (run?.stopped !== undefined)
    all.push({ kind: "hoadon-stopped", start: run.stopped, durationMs: options.now - run.stopped, errors: [] });
  closeAll(undefined);

  const inRange = all.filter(
    (o) =>
      (options.to === undefined || o.start <= options.to) &&
      (options.from === undefined || (o.end ?? options.now) >= options.from),
  );
  const short = inRange.filter((o) => o.kind === "port" && o.end !== undefined && o.durationMs < minMs);
  return {
    outages: inRange.filter((o) => !short.includes(o)).sort((a, b) => a.start - b.start),
    short: short.length,
    minMs,
  };
}
