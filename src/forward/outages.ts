/**
 * The outage evidence report (`hoadon audit outages`, issue 5): the attempt rows turned into one entry per outage,
 * so a late submission can be justified under the rules of spec §7.4, which differ by whose fault it was
 * (Decree 254 Art. 14 [U]: a provider or network fault on the seller's side must be notified; after a tax-system
 * fault the data goes within 2 working days of the announced recovery; force majeure within 3, with evidence).
 *
 * An outage is a run of failed attempts on one T-VAN host (URL origin) with one side (gateway.ts decides the side),
 * from the first failure to the first call to that host that worked again (the recovery), or still going. Two kinds:
 * - `call`: calls failed (no network, DNS, TLS, refused, 5xx, no answer …); ends at the next working call (on our
 *   side: to the host; on theirs: to a path that failed);
 * - `result`: the T-VAN took batches but the authority's result did not come within the reply deadline (attempts
 *   `overdue`, failure `no-result`); ends when one of those batches gets its result.
 * For each: its window, endpoint, side, the codes seen (HTTP status or failure name) with counts, and the invoices
 * affected (unsent at some point of the window, or in its batches) with whether each went late: the T-VAN took it
 * after its deadline (end of its Vietnam-local issue day), or it is still unsent past it.
 *
 * The report also lists the give-up alarms (`result-overdue` events, one per batch): batches whose result did not
 * come within the reply deadline, with when the T-VAN took them and whether the result came since.
 *
 * Pure over the database: read-only queries, no clock (the caller passes `now`).
 */
import type BetterSqlite3 from "better-sqlite3";
import { type OverdueResult, overdueResults } from "../store/outbox.js";

type Db = BetterSqlite3.Database;

/** Whose fault. */
export type OutageSide = "ours" | "theirs";

/** One invoice an outage touched. */
export interface AffectedInvoice {
  readonly invoiceId: number;
  readonly mccqt: string;
  readonly createdAt: number;
  readonly deadlineAt: number;
  /** When the T-VAN took it (undefined: not yet). */
  readonly sentAt: number | undefined;
  /** Delivery state now: pending, batched, accepted, rejected. */
  readonly state: string;
  /** Taken after its deadline, or still unsent past it. */
  readonly late: boolean;
}

/** One outage. */
export interface Outage {
  /** 1-based, in order of start. */
  readonly n: number;
  readonly kind: "call" | "result";
  /** The T-VAN host (`https://tvan.example:443` → its origin). */
  readonly endpoint: string;
  /** The paths called that failed. */
  readonly paths: readonly string[];
  readonly side: OutageSide;
  /** First failed attempt (epoch ms). */
  readonly start: number;
  readonly lastFailureAt: number;
  /** The first working call after it (the recovery), or undefined while it lasts. */
  readonly end: number | undefined;
  /** `(end ?? now) − start`. */
  readonly durationMs: number;
  readonly attempts: number;
  /** `HTTP 503`, `refused`, `dns`, `tls`, `timeout`, `no-answer`, `no-result` … with how often, most frequent first. */
  readonly codes: readonly { readonly code: string; readonly count: number }[];
  /** A few distinct attempt details, verbatim. */
  readonly examples: readonly string[];
  readonly batchIds: readonly number[];
  readonly invoices: readonly AffectedInvoice[];
  /** How many of `invoices` went late. */
  readonly late: number;
}

/** The report. */
export interface OutageReport {
  readonly from: number | undefined;
  readonly to: number | undefined;
  readonly now: number;
  readonly outages: readonly Outage[];
  /** Give-up alarms whose wait overlaps [from, to]: the result missing past the deadline, oldest batch first. */
  readonly resultsOverdue: readonly OverdueResult[];
}

/** Options of {@link outageReport}. */
export interface OutageOptions {
  /** Only outages that overlap [from, to] (epoch ms). */
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  /** The end of an outage still going, and "late" for unsent invoices. */
  readonly now: number;
}

interface AttemptRow {
  id: number;
  batch_id: number | null;
  at: number;
  kind: string;
  outcome: string;
  http_status: number | null;
  side: OutageSide | null;
  detail: string;
  endpoint: string | null;
  failure: string | null;
}

interface Open {
  kind: "call" | "result";
  endpoint: string;
  paths: Set<string>;
  side: OutageSide;
  start: number;
  lastFailureAt: number;
  end: number | undefined;
  attempts: number;
  codes: Map<string, number>;
  examples: Set<string>;
  batches: Set<number>;
}

const UNKNOWN_ENDPOINT = "(không rõ / unknown)";

/** The host part of a stored endpoint, and its path. */
function splitEndpoint(stored: string | null): { origin: string; path: string } {
  if (stored === null) return { origin: UNKNOWN_ENDPOINT, path: "" };
  try {
    const u = new URL(stored);
    return { origin: u.origin, path: decodeURIComponent(u.pathname) };
  } catch {
    return { origin: stored, path: "" };
  }
}

function hasColumn(db: Db, table: string, column: string): boolean {
  return (db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).some((c) => c.name === column);
}

/** The code an attempt row shows: its transport failure, else its HTTP status, else its outcome word. */
function codeOf(a: AttemptRow): string {
  if (a.failure) return a.failure;
  if (a.http_status !== null) return `HTTP ${a.http_status}`;
  return a.outcome;
}

/** Builds the outage report from the attempt rows (see the file comment). */
export function outageReport(db: Db, opts: OutageOptions): OutageReport {
  const evidence = hasColumn(db, "attempts", "endpoint");
  const attempts = db
    .prepare<[number], AttemptRow>(
      `SELECT id, batch_id, at, kind, outcome, http_status, side, detail,
              ${evidence ? "endpoint, failure" : "NULL AS endpoint, NULL AS failure"}
         FROM attempts WHERE at <= ? ORDER BY at, id`,
    )
    .all(opts.to ?? Number.MAX_SAFE_INTEGER);

  const done: Open[] = [];
  const open = new Map<string, Open>();
  for (const a of attempts) {
    const { origin: endpoint, path } = splitEndpoint(a.endpoint);
    if (a.side === null) {
      // A call that worked: the endpoint is back for calls; a batch's result arriving ends its `result` outage.
      for (const [key, w] of open) {
        // Our side (no network, DNS, TLS …): any working call to the host shows the way is open again. Their side:
        // only a working call to a path that failed (a T-VAN may answer polls while its intake still fails).
        const sameHost = w.endpoint === endpoint || endpoint === UNKNOWN_ENDPOINT || w.endpoint === UNKNOWN_ENDPOINT;
        const recovered =
          w.kind === "call"
            ? sameHost && (w.side === "ours" || w.paths.size === 0 || path === "" || w.paths.has(path))
            : a.kind === "poll" && a.batch_id !== null && w.batches.has(a.batch_id);
        if (recovered) {
          w.end = a.at;
          done.push(w);
          open.delete(key);
        }
      }
      continue;
    }
    const kind = a.failure === "no-result" ? "result" : "call";
    const key = `${kind}|${endpoint}|${a.side}`;
    let w = open.get(key);
    if (!w) {
      w = {
        kind,
        endpoint,
        side: a.side,
        start: a.at,
        lastFailureAt: a.at,
        end: undefined,
        paths: new Set(),
        attempts: 0,
        codes: new Map(),
        examples: new Set(),
        batches: new Set(),
      };
      open.set(key, w);
    }
    w.lastFailureAt = a.at;
    w.attempts += 1;
    if (path) w.paths.add(path);
    const code = codeOf(a);
    w.codes.set(code, (w.codes.get(code) ?? 0) + 1);
    if (w.examples.size < 3) w.examples.add(a.detail);
    if (a.batch_id !== null) w.batches.add(a.batch_id);
  }
  done.push(...open.values());

  const from = opts.from ?? Number.MIN_SAFE_INTEGER;
  const to = opts.to ?? Number.MAX_SAFE_INTEGER;
  const chosen = done
    .filter((w) => w.start <= to && (w.end ?? opts.now) >= from)
    .sort((x, y) => x.start - y.start || x.endpoint.localeCompare(y.endpoint));
  const sent = sentTimes(db);
  return {
    from: opts.from,
    to: opts.to,
    now: opts.now,
    resultsOverdue: overdueResults(db).filter((r) => r.submittedAt <= to && (r.resultAt ?? opts.now) >= from),
    outages: chosen.map((w, i) => {
      const invoices = affectedInvoices(db, w, sent, opts.now);
      return {
        n: i + 1,
        kind: w.kind,
        endpoint: w.endpoint,
        paths: [...w.paths].sort(),
        side: w.side,
        start: w.start,
        lastFailureAt: w.lastFailureAt,
        end: w.end,
        durationMs: (w.end ?? opts.now) - w.start,
        attempts: w.attempts,
        codes: [...w.codes]
          .map(([code, count]) => ({ code, count }))
          .sort((x, y) => y.count - x.count || x.code.localeCompare(y.code)),
        examples: [...w.examples],
        batchIds: [...w.batches].sort((x, y) => x - y),
        invoices,
        late: invoices.filter((v) => v.late).length,
      };
    }),
  };
}

/** When the T-VAN took each batch: `submitted_at` (migration 003), else the first submit or lookup that worked. */
function sentTimes(db: Db): Map<number, number> {
  const stored = hasColumn(db, "batches", "submitted_at");
  const rows = db
    .prepare<[], { id: number; sent_at: number | null }>(
      `SELECT b.id, coalesce(${stored ? "b.submitted_at" : "NULL"},
                (SELECT min(a.at) FROM attempts a WHERE a.batch_id = b.id AND a.side IS NULL
                    AND ((a.kind IN ('submit', 'poll') AND a.outcome IN ('accepted', 'duplicate'))
                      OR (a.kind = 'lookup' AND a.outcome = 'replies')))) AS sent_at
         FROM batches b`,
    )
    .all();
  return new Map(rows.filter((r) => r.sent_at !== null).map((r) => [r.id, r.sent_at as number]));
}

interface InvoiceRow {
  id: number;
  mccqt: string;
  created_at: number;
  deadline_at: number;
  state: string;
  batch_id: number | null;
}

function affectedInvoices(db: Db, w: Open, sent: ReadonlyMap<number, number>, now: number): AffectedInvoice[] {
  const end = w.end ?? now;
  let rows: InvoiceRow[];
  if (w.kind === "result") {
    const ids = JSON.stringify([...w.batches]);
    rows = db
      .prepare<[string], InvoiceRow>(
        `SELECT i.id, i.mccqt, i.created_at, i.deadline_at, d.state, d.batch_id
           FROM deliveries d JOIN invoices i ON i.id = d.invoice_id
          WHERE d.batch_id IN (SELECT value FROM json_each(?)) ORDER BY i.id`,
      )
      .all(ids);
  } else {
    // Made before the endpoint came back, and not yet taken by the T-VAN when it went down.
    const stored = hasColumn(db, "batches", "submitted_at");
    rows = db
      .prepare<[{ end: number; start: number }], InvoiceRow>(
        `SELECT i.id, i.mccqt, i.created_at, i.deadline_at, d.state, d.batch_id
           FROM deliveries d JOIN invoices i ON i.id = d.invoice_id LEFT JOIN batches b ON b.id = d.batch_id
          WHERE i.created_at <= @end AND NOT (d.state = 'rejected' AND d.batch_id IS NULL)
            AND (d.state IN ('pending', 'batched')
                 OR ${stored ? "b.submitted_at IS NULL OR b.submitted_at >= @start" : "@start IS NOT NULL"})
          ORDER BY i.id`,
      )
      .all({ end, start: w.start })
      .filter((r) => {
        const at = r.batch_id === null ? undefined : sent.get(r.batch_id);
        return (at === undefined || at >= w.start) && !(at === undefined && isFinal(r.state));
      });
  }
  return rows.map((r) => {
    const sentAt = r.batch_id === null ? undefined : sent.get(r.batch_id);
    const late = sentAt !== undefined ? sentAt > r.deadline_at : !isFinal(r.state) && now > r.deadline_at;
    return {
      invoiceId: r.id,
      mccqt: r.mccqt,
      createdAt: r.created_at,
      deadlineAt: r.deadline_at,
      sentAt,
      state: r.state,
      late,
    };
  });
}

function isFinal(state: string): boolean {
  return state === "accepted" || state === "rejected";
}
