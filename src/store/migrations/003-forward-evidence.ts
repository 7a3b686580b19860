/**
 * Evidence for the deadline clock and the outage report (issue 5), and a batch that no longer stores its invoices
 * twice:
 *
 * - `batches.transport_ref`: the T-VAN's own id for the message (`maGDich`) when its API polls by it
 *   (`http-json-base64`); written once.
 * - `batches.submitted_at`: when the T-VAN first took the message — the moment that counts for the same-day
 *   deadline (spec §7.4); written once.
 * - `batches.invoices_at`: when set, `xml` is the message with the invoices' bytes taken out at this byte offset;
 *   the exact message is `xml[0, invoices_at) ‖ each invoice's signed bytes (XML declaration dropped), in id order
 *   ‖ xml[invoices_at, end)`, and `xml_sha256` is the sha256 of that whole message, checked on every read. The
 *   invoices are append-only, so the bytes are as fixed as before (design.md invariant 7) at half the size.
 * - `attempts.endpoint`, `attempts.failure`: which URL was called and which transport failure (refused, dns, tls,
 *   timeout, no-answer …) a failed call had, for `hoadon audit outages`.
 */
export const m003ForwardEvidence = `
ALTER TABLE batches ADD COLUMN transport_ref TEXT;
ALTER TABLE batches ADD COLUMN submitted_at  INTEGER;
ALTER TABLE batches ADD COLUMN invoices_at   INTEGER;
ALTER TABLE batches ADD COLUMN xml_sha256    TEXT;
ALTER TABLE attempts ADD COLUMN endpoint TEXT;
ALTER TABLE attempts ADD COLUMN failure  TEXT;
CREATE INDEX attempts_by_time ON attempts (at);

CREATE TRIGGER batches_evidence_once BEFORE UPDATE OF transport_ref, submitted_at, invoices_at, xml_sha256 ON batches
  WHEN (OLD.transport_ref IS NOT NULL AND NEW.transport_ref IS NOT OLD.transport_ref)
    OR (OLD.submitted_at IS NOT NULL AND NEW.submitted_at IS NOT OLD.submitted_at)
    OR NEW.invoices_at IS NOT OLD.invoices_at
    OR (OLD.xml_sha256 IS NOT NULL AND NEW.xml_sha256 IS NOT OLD.xml_sha256)
  BEGIN SELECT RAISE(ABORT, 'a batch keeps its transaction id, submit time and bytes'); END;
`;
