/**
 * The ingest half of the store: what a register sent, what it became, and its place in the outbox.
 * Invariants (design.md): durable before acknowledged; nothing deleted or rewritten (triggers, not convention);
 * numbering from counters in the same transaction as the invoice; every invoice row chained by hash.
 */
export const m001Core = `
CREATE TABLE receipts (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  register_id  TEXT    NOT NULL,           -- our name for the register (config registers[].id)
  receipt_id   TEXT    NOT NULL,           -- the register's own id for the receipt
  driver       TEXT    NOT NULL,
  received_at  INTEGER NOT NULL,           -- epoch ms, our clock
  issued_at    TEXT    NOT NULL,           -- the register's timestamp, as it sent it
  raw          BLOB    NOT NULL,           -- the exact bytes the receipt was decoded from
  receipt_json TEXT    NOT NULL,           -- the validated vendor-neutral receipt
  UNIQUE (register_id, receipt_id)
) STRICT;

CREATE TABLE invoices (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  receipt_row  INTEGER NOT NULL UNIQUE REFERENCES receipts(id),
  khmshdon     TEXT    NOT NULL,
  khhdon       TEXT    NOT NULL,
  shdon        INTEGER NOT NULL,
  mccqt        TEXT    NOT NULL UNIQUE,
  nlap         TEXT    NOT NULL,           -- YYYY-MM-DD, Vietnam local
  total        INTEGER NOT NULL,           -- TgTTTBSo, đồng
  qr           TEXT    NOT NULL,
  signed_xml   BLOB    NOT NULL,           -- exact bytes, forwarded as they are
  sha256       TEXT    NOT NULL,           -- hex sha256 of signed_xml
  chain        TEXT    NOT NULL,           -- hex sha256(previous chain ‖ signed_xml); genesis = 64 zeros
  created_at   INTEGER NOT NULL,           -- epoch ms
  deadline_at  INTEGER NOT NULL,           -- epoch ms: end of the issue day, Vietnam local
  UNIQUE (khmshdon, khhdon, shdon)
) STRICT;

CREATE TABLE deliveries (
  invoice_id   INTEGER PRIMARY KEY REFERENCES invoices(id),
  state        TEXT    NOT NULL CHECK (state IN ('pending', 'batched', 'accepted', 'rejected')),
  batch_id     INTEGER,
  updated_at   INTEGER NOT NULL,
  error        TEXT
) STRICT;
CREATE INDEX deliveries_by_state ON deliveries (state, invoice_id);

CREATE TABLE quarantine (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  register_id  TEXT    NOT NULL,
  driver       TEXT    NOT NULL,
  received_at  INTEGER NOT NULL,
  code         TEXT    NOT NULL,
  detail       TEXT    NOT NULL,
  raw          BLOB    NOT NULL
) STRICT;

CREATE TABLE counters (
  name         TEXT    PRIMARY KEY,
  value        INTEGER NOT NULL
) STRICT;

CREATE TABLE events (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  at           INTEGER NOT NULL,
  kind         TEXT    NOT NULL,
  register_id  TEXT,
  detail       TEXT    NOT NULL            -- JSON
) STRICT;

-- Append-only, enforced here rather than by convention (design.md invariant 3).
CREATE TRIGGER receipts_no_update   BEFORE UPDATE ON receipts   BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER receipts_no_delete   BEFORE DELETE ON receipts   BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER invoices_no_update   BEFORE UPDATE ON invoices   BEGIN SELECT RAISE(ABORT, 'invoices are append-only'); END;
CREATE TRIGGER invoices_no_delete   BEFORE DELETE ON invoices   BEGIN SELECT RAISE(ABORT, 'invoices are append-only'); END;
CREATE TRIGGER quarantine_no_update BEFORE UPDATE ON quarantine BEGIN SELECT RAISE(ABORT, 'quarantine is append-only'); END;
CREATE TRIGGER quarantine_no_delete BEFORE DELETE ON quarantine BEGIN SELECT RAISE(ABORT, 'quarantine is append-only'); END;
CREATE TRIGGER events_no_update     BEFORE UPDATE ON events     BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete     BEFORE DELETE ON events     BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER deliveries_no_delete BEFORE DELETE ON deliveries BEGIN SELECT RAISE(ABORT, 'deliveries are never deleted'); END;
CREATE TRIGGER deliveries_forward_only BEFORE UPDATE OF state ON deliveries
  WHEN OLD.state IN ('accepted', 'rejected')
  BEGIN SELECT RAISE(ABORT, 'a settled delivery cannot change state'); END;
CREATE TRIGGER counters_no_delete   BEFORE DELETE ON counters   BEGIN SELECT RAISE(ABORT, 'counters are never deleted'); END;
CREATE TRIGGER counters_only_up     BEFORE UPDATE ON counters WHEN NEW.value <= OLD.value
  BEGIN SELECT RAISE(ABORT, 'counters only move forward'); END;
`;
