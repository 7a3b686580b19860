import { m001Core } from "./001-core.js";
import { m002Forward } from "./002-forward.js";
import { m003ForwardEvidence } from "./003-forward-evidence.js";
import { m004Journal } from "./004-journal.js";
import { m005CompactAndOverdue } from "./005-compact-and-overdue.js";
import { m006JournalRetention } from "./006-journal-retention.js";
import { m007JournalConnections } from "./007-journal-connections.js";

/** Numbered migrations, applied in order and tracked with PRAGMA user_version. Never edit one that shipped. */
export const MIGRATIONS: readonly string[] = [
  m001Core,
  m002Forward,
  m003ForwardEvidence,
  m004Journal,
  m005CompactAndOverdue,
  m006JournalRetention,
  m007JournalConnections,
];
