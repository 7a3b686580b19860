/**
 * What hoadon held for review (the `quarantine` rows that are not a register's own report), one at a time, for the
 * auditor: why, from which bytes, where those lie in the journal, what they show on paper (the driver's preview: the
 * printed text, a PNG of a receipt printed as an image), and the invoice it became if `hoadon release-held` issued
 * one later. Read-only.
 */
import { driverCatalogue } from "../catalogue.js";
import type { Driver, Preview } from "../driver-api/index.js";
import type { JournalRange } from "../ingest/journal-sink.js";
import type { Db } from "../store/db.js";
import { journalSourceOf } from "./journal.js";
import { NOTICE_CODES, releasedAsSql } from "./ledger.js";

/** One held row, whole. */
export interface HeldDetail {
  readonly id: number;
  readonly registerId: string;
  readonly driver: string;
  readonly receivedAt: number;
  readonly code: string;
  readonly detail: string;
  readonly raw: Buffer;
  /** A register's own report (a day close, a receipt it cancelled): kept, but it holds no sale back. */
  readonly notice: boolean;
  readonly source?: JournalRange;
  /** The invoice `hoadon release-held` issued from it. */
  readonly releasedAs?: string;
}

/** A held row by id, or undefined. */
export function heldDetail(db: Db, id: number): HeldDetail | undefined {
  const row = db
    .prepare<
      [number],
      {
        id: number;
        register_id: string;
        driver: string;
        received_at: number;
        code: string;
        detail: string;
        raw: Buffer;
        released_as: string | null;
      }
    >(
      `SELECT q.id, q.register_id, q.driver, q.received_at, q.code, q.detail, q.raw, ${releasedAsSql("q")} AS released_as
         FROM quarantine q WHERE q.id = ?`,
    )
    .get(id);
  if (!row) return undefined;
  const source = journalSourceOf(db, "quarantine", id);
  return {
    id: row.id,
    registerId: row.register_id,
    driver: row.driver,
    receivedAt: row.received_at,
    code: row.code,
    detail: row.detail,
    raw: row.raw,
    notice: NOTICE_CODES.includes(row.code),
    ...(source ? { source } : {}),
    ...(row.released_as ? { releasedAs: row.released_as } : {}),
  };
}

/**
 * What `raw` shows on paper, by the driver that read it (default options: a register's own code page overrides are
 * in the shop's config, not in the store), or undefined for a protocol that is not a print stream.
 */
export function previewOf(driverId: string, raw: Uint8Array): Preview | undefined {
  const driver = driverCatalogue.get(driverId) as Driver<unknown> | undefined;
  if (!driver?.preview) return undefined;
  try {
    return driver.preview(driver.options.parse({}), raw);
  } catch {
    return undefined; // a preview is a courtesy: bytes it cannot show are still listed as bytes
  }
}
