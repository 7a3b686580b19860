/**
 * Journal retention (`journal.keepDays`): the raw capture journal may shed its oldest chunks, but only behind a
 * recorded mark, so what remains still verifies and what went is on record.
 *
 * - `journal_pruned`: per stream, "the bytes before offset `up_to` are gone": the chain value at that offset (so the
 *   chunks kept still chain from it), when, under which setting, and how much went. A mark must sit at the end of a
 *   chunk that exists, with that chunk's chain value, and only moves a stream's start forward. Append-only.
 * - `journal_no_delete` is replaced: a chunk may be deleted only when it ends at or before its stream's newest mark.
 *   Rewriting a chunk stays impossible (`journal_no_update`); removing old ones needs a mark everyone can see.
 *
 * Receipts and held rows keep their own bytes (`receipts.raw`, `quarantine.raw`); `hoadon audit verify` counts the
 * ties whose range was shed as pruned rather than broken.
 */
export const m006JournalRetention = `
CREATE TABLE journal_pruned (
  id            INTEGER PRIMARY KEY AUTOINCREMENT,
  register_id   TEXT    NOT NULL,
  side          TEXT    NOT NULL CHECK (side IN ('register', 'device')),
  direction     TEXT    NOT NULL CHECK (direction IN ('in', 'out')),
  up_to         INTEGER NOT NULL CHECK (up_to > 0),  -- the stream's bytes before this offset are gone
  chain         TEXT    NOT NULL,                     -- the chain value at up_to: the chunks kept chain from it
  at            INTEGER NOT NULL,                     -- epoch ms, when
  keep_days     INTEGER NOT NULL,                     -- the setting that shed them
  chunks        INTEGER NOT NULL,
  bytes         INTEGER NOT NULL
) STRICT;
CREATE INDEX journal_pruned_by_stream ON journal_pruned (register_id, side, direction, up_to);

-- The last chunk before up_to (one index seek, however long the stream) must end exactly there, with that chain.
CREATE TRIGGER journal_pruned_at_a_chunk BEFORE INSERT ON journal_pruned
  WHEN NOT EXISTS (SELECT 1 FROM (SELECT stream_offset, length(bytes) AS n, chain FROM journal
                                   WHERE register_id = new.register_id AND side = new.side AND direction = new.direction
                                     AND stream_offset < new.up_to ORDER BY stream_offset DESC LIMIT 1) AS last
                    WHERE last.stream_offset + last.n = new.up_to AND last.chain = new.chain)
  BEGIN SELECT RAISE(ABORT, 'a prune mark must sit at the end of a kept chunk, with its chain'); END;
CREATE TRIGGER journal_pruned_forward BEFORE INSERT ON journal_pruned
  WHEN new.up_to <= coalesce((SELECT max(up_to) FROM journal_pruned WHERE register_id = new.register_id
                                AND side = new.side AND direction = new.direction), 0)
  BEGIN SELECT RAISE(ABORT, 'a prune mark only moves a stream forward'); END;
CREATE TRIGGER journal_pruned_no_update BEFORE UPDATE ON journal_pruned BEGIN SELECT RAISE(ABORT, 'prune marks are append-only'); END;
CREATE TRIGGER journal_pruned_no_delete BEFORE DELETE ON journal_pruned BEGIN SELECT RAISE(ABORT, 'prune marks are append-only'); END;

DROP TRIGGER journal_no_delete;
CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal
  WHEN old.stream_offset + length(old.bytes) > coalesce((SELECT max(up_to) FROM journal_pruned
                                                           WHERE register_id = old.register_id AND side = old.side
                                                             AND direction = old.direction), 0)
  BEGIN SELECT RAISE(ABORT, 'the journal is append-only: only chunks behind a prune mark may go'); END;
`;
