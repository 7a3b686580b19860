/**
 * The forwarding half of the store: TDiep 206 batches, one row per HTTP call to the authority, and every reply
 * kept raw. Invariants (design.md 3, 6, 7): a batch keeps its `MTDiep` and its exact bytes for life, state only
 * moves forward, attempts and replies are append-only, nothing is deleted.
 *
 * Batch states: `ready` (built, the authority has not confirmed it) → `submitted` (the T-VAN took it) →
 * `received` (999 TTTNhan=0) → `done` (204 settled every invoice) | `failed` (4xx, 999 TTTNhan=1, -1, -2).
 * `in_doubt` = 1 while a POST may have reached the T-VAN without our knowing the answer (timeout, crash mid-send):
 * the forwarder then looks the `MTDiep` up before it sends again (design.md invariant 6).
 */
export const m002Forward = `
CREATE TABLE batches (
  id              INTEGER PRIMARY KEY AUTOINCREMENT,
  mtdiep          TEXT    NOT NULL UNIQUE,  -- MNGui + 32 upper-case hex (spec §7.1), kept across retries
  khmshdon        TEXT    NOT NULL,
  khhdon          TEXT    NOT NULL,
  invoice_count   INTEGER NOT NULL CHECK (invoice_count BETWEEN 1 AND 1000),  -- addendum §1d
  xml             BLOB    NOT NULL,         -- the signed TDiep 206, exact bytes, sent as they are
  created_at      INTEGER NOT NULL,         -- epoch ms
  state           TEXT    NOT NULL CHECK (state IN ('ready', 'submitted', 'received', 'done', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,  -- claims so far (each claim is at most one POST or poll round)
  in_doubt        INTEGER NOT NULL DEFAULT 0 CHECK (in_doubt IN (0, 1)),
  next_attempt_at INTEGER NOT NULL,         -- epoch ms; the batch is not claimed before this
  lease_until     INTEGER,                  -- epoch ms; a claim holds the batch until then (crash recovery)
  last_error      TEXT,
  updated_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX batches_due ON batches (state, next_attempt_at);
CREATE INDEX deliveries_by_batch ON deliveries (batch_id);

CREATE TABLE attempts (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  batch_id     INTEGER REFERENCES batches(id),   -- NULL only for a login outside any batch
  at           INTEGER NOT NULL,
  kind         TEXT    NOT NULL CHECK (kind IN ('submit', 'poll', 'lookup', 'login')),
  outcome      TEXT    NOT NULL,
  http_status  INTEGER,
  side         TEXT    CHECK (side IN ('ours', 'theirs')),  -- whose fault a failure was; NULL when it worked
  detail       TEXT    NOT NULL,
  duration_ms  INTEGER NOT NULL
) STRICT;
CREATE INDEX attempts_by_batch ON attempts (batch_id, id);

CREATE TABLE replies (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  batch_id     INTEGER NOT NULL REFERENCES batches(id),
  mltdiep      TEXT    NOT NULL,            -- 999, 204, -1, -2 … as sent ('' when unreadable)
  reply_mtdiep TEXT    NOT NULL UNIQUE,     -- the reply's own MTDiep: storing a reply twice is a no-op
  raw          BLOB    NOT NULL,
  parsed       TEXT    NOT NULL,            -- JSON of the parsed reply
  received_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX replies_by_batch ON replies (batch_id, id);

CREATE TRIGGER batches_no_delete BEFORE DELETE ON batches BEGIN SELECT RAISE(ABORT, 'batches are never deleted'); END;
CREATE TRIGGER batches_fixed BEFORE UPDATE OF mtdiep, xml, khmshdon, khhdon, invoice_count, created_at ON batches
  WHEN NEW.mtdiep IS NOT OLD.mtdiep OR NEW.xml IS NOT OLD.xml OR NEW.khmshdon IS NOT OLD.khmshdon
    OR NEW.khhdon IS NOT OLD.khhdon OR NEW.invoice_count IS NOT OLD.invoice_count OR NEW.created_at IS NOT OLD.created_at
  BEGIN SELECT RAISE(ABORT, 'a batch keeps its MTDiep and bytes'); END;
CREATE TRIGGER batches_forward_only BEFORE UPDATE OF state ON batches
  WHEN NEW.state IS NOT OLD.state AND (OLD.state IN ('done', 'failed')
    OR (CASE NEW.state WHEN 'ready' THEN 0 WHEN 'submitted' THEN 1 WHEN 'received' THEN 2 ELSE 3 END)
     < (CASE OLD.state WHEN 'ready' THEN 0 WHEN 'submitted' THEN 1 WHEN 'received' THEN 2 ELSE 3 END))
  BEGIN SELECT RAISE(ABORT, 'batch state only moves forward'); END;

CREATE TRIGGER attempts_no_update BEFORE UPDATE ON attempts BEGIN SELECT RAISE(ABORT, 'attempts are append-only'); END;
CREATE TRIGGER attempts_no_delete BEFORE DELETE ON attempts BEGIN SELECT RAISE(ABORT, 'attempts are append-only'); END;
CREATE TRIGGER replies_no_update  BEFORE UPDATE ON replies  BEGIN SELECT RAISE(ABORT, 'replies are append-only'); END;
CREATE TRIGGER replies_no_delete  BEFORE DELETE ON replies  BEGIN SELECT RAISE(ABORT, 'replies are append-only'); END;
`;
