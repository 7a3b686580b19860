/**
 * The raw capture journal and register identity (issue 4, items 5 and 6).
 *
 * - `journal`: every byte read from or written to every port, in the chunks the OS gave us, per stream (register,
 *   side, direction). `stream_offset` counts the stream's bytes since its first chunk ever (contiguous: each chunk
 *   starts where the previous one ended), and `chain` = sha256(previous chain ‖ bytes) per stream, genesis 64 zeros,
 *   so a removed, altered or reordered chunk shows.
 * - `journal_sources`: the stream byte range a receipt (or a quarantined print job) was decoded from, so an auditor can
 *   tie an invoice to its print-out and a fixed driver can re-derive invoices from the journal.
 * - `register_identity`: the serial / model / firmware a register (or its printer) reported, pinned per register;
 *   every change is a new row and an alert in `events` (kind `register-identity-changed`).
 *
 * All three are append-only (triggers).
 */
export const m004Journal = `
CREATE TABLE journal (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  register_id   TEXT    NOT NULL,
  side          TEXT    NOT NULL CHECK (side IN ('register', 'device')),
  direction     TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
  at            INTEGER NOT NULL,          -- epoch ms, our clock, when the chunk was read or written
  stream_offset INTEGER NOT NULL,          -- offset of the chunk's first byte in its stream
  bytes         BLOB    NOT NULL,
  chain         TEXT    NOT NULL,          -- hex sha256(previous chain of the stream ‖ bytes)
  UNIQUE (register_id, side, direction, stream_offset)
) STRICT;

CREATE TABLE journal_sources (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  kind          TEXT    NOT NULL CHECK (kind IN ('receipt', 'quarantine')),
  row_id        INTEGER NOT NULL,          -- receipts.id or quarantine.id
  register_id   TEXT    NOT NULL,
  side          TEXT    NOT NULL CHECK (side IN ('register', 'device')),
  direction     TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
  start_offset  INTEGER NOT NULL,
  end_offset    INTEGER NOT NULL CHECK (end_offset >= start_offset),
  UNIQUE (kind, row_id)
) STRICT;

CREATE TABLE register_identity (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  register_id   TEXT    NOT NULL,
  at            INTEGER NOT NULL,
  serial        TEXT,
  model         TEXT,
  firmware      TEXT,
  changed       INTEGER NOT NULL CHECK (changed IN (0, 1))  -- 1: differs from the pin before it (an alert was raised)
) STRICT;
CREATE INDEX register_identity_by_register ON register_identity (register_id, id);

CREATE TRIGGER journal_no_update           BEFORE UPDATE ON journal           BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER journal_no_delete           BEFORE DELETE ON journal           BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER journal_sources_no_update   BEFORE UPDATE ON journal_sources   BEGIN SELECT RAISE(ABORT, 'journal sources are append-only'); END;
CREATE TRIGGER journal_sources_no_delete   BEFORE DELETE ON journal_sources   BEGIN SELECT RAISE(ABORT, 'journal sources are append-only'); END;
CREATE TRIGGER register_identity_no_update BEFORE UPDATE ON register_identity BEGIN SELECT RAISE(ABORT, 'register identity is append-only'); END;
CREATE TRIGGER register_identity_no_delete BEFORE DELETE ON register_identity BEGIN SELECT RAISE(ABORT, 'register identity is append-only'); END;
`;
