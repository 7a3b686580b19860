/**
 * Journal retention's cost on the writer thread (`journal.keepDays`): one round sheds up to 1000 chunks between
 * receipts' commits. Measured on a real SQLite file (WAL, as the daemon opens it) as a ratio to writing those
 * same 1000 chunks (one journal flush): "write + shed" against "write" alone, so what is left is the shed round.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../src/store/db.js";
import { journalWriter, pruneJournal } from "../src/store/journal.js";
import { measuredRows, type Variant } from "./measure.js";
import type { BenchOptions, BenchRow } from "./types.js";

export const title = "journal retention (a round of 1000 chunks of 24 bytes, real SQLite file)";

const CHUNKS = 1000;
const DAY = 86_400_000;

export async function run(opts: BenchOptions): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), "hoadon-bench-journal-"));
  const db = openStore(join(dir, "store.sqlite"));
  const journal = journalWriter(db);
  const chunk = Buffer.from('{"id":"A-1","total":1}\n'.slice(0, 24));
  let now = Date.UTC(2026, 10, 28);
  // The reference writes young chunks (retention leaves them); the measured variant writes chunks 10 days old and
  // sheds exactly those.
  const write = (registerId: string, ageMs: number): void => {
    now += 1;
    const stream = { registerId, side: "register", direction: "in" } as const;
    for (let i = 0; i < CHUNKS; i++) journal.append(stream, chunk, now - ageMs);
    journal.flush();
  };
  const variants: Variant[] = [
    { name: `write ${CHUNKS} chunks (one flush)`, op: () => write("ref", 0) },
    {
      name: `write ${CHUNKS} chunks, then shed them (one retention round)`,
      op: () => {
        write("shed", 10 * DAY);
        const shed = pruneJournal(db, { keepDays: 1, now, maxChunks: CHUNKS });
        if (shed.chunks < CHUNKS) throw new Error(`shed ${shed.chunks} chunks, not ${CHUNKS}`);
      },
    },
  ];
  try {
    return measuredRows(title, variants, opts, (m, i) => ({
      value: `${(1000 / m.median).toFixed(2)} ms`,
      ...(i === 1
        ? { note: "the round alone ≈ (this − write) ms; once a minute on the writer (every 5 s during a backlog)" }
        : {}),
    }));
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
