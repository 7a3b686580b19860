/**
 * Two changes of issue 5, in one migration so an existing store is copied (backed up) once.
 *
 * Smaller invoice rows ("bytes stored per invoice"): the ≈6 KiB signed XML spilled every invoice row into
 * an overflow page. From this version on `invoices.signed_xml` may hold the exact signed bytes zlib-compressed
 * (src/store/signed-xml.ts says how, and is the only reader):
 *
 * - `invoices.signed_xml_size`: the length of the exact signed bytes. NULL on rows written before this migration
 *   (their `signed_xml` is the exact bytes, and stays readable as it is); when it equals `length(signed_xml)` the
 *   bytes are stored as they are; otherwise `signed_xml` is zlib (RFC 1950), as in SQLite's archive format, so
 *   `sqlar_uncompress(signed_xml, signed_xml_size)` in the sqlite3 shell gives the exact bytes for every row.
 *
 * `sha256` and `chain` stay over the exact bytes. Existing rows are not rewritten (they cannot be: invoices are
 * append-only); `invoices_no_update` already refuses any UPDATE of any column, the new one included.
 *
 * The give-up alarm: when the T-VAN took a batch and its result (204) has not come within the reply deadline, the
 * forwarder writes one `events` row of kind `result-overdue` (detail: JSON with `batchId`, `mtdiep`, `submittedAt`,
 * `deadlineMs`) and keeps asking. The unique index makes it one row per batch, across restarts.
 */
export const m005CompactAndOverdue = `
ALTER TABLE invoices ADD COLUMN signed_xml_size INTEGER CHECK (signed_xml_size IS NULL OR signed_xml_size > 0);

CREATE UNIQUE INDEX events_result_overdue ON events (json_extract(detail, '$.batchId')) WHERE kind = 'result-overdue';
`;
