/**
 * Where a port's connections begin in the raw capture journal, so a replay of the journal (`hoadon audit rederive`,
 * `hoadon audit journal --out`) reads the bytes as the session did: a line or frame cut by an unplug is not glued to
 * the next connection's first bytes, and a decoder is started afresh where hoadon itself started.
 *
 * `journal.starts` on the first chunk a stream got on a connection: 0 the connection goes on, 1 a new connection of
 * the port (the one before went down), 2 the first connection since hoadon started (no decoder state survives it).
 * It is part of the chunk's hash chain when not 0 (`nextChain`), so changing it shows; rows before this migration
 * are 0 and chain as before.
 */
export const m007JournalConnections = `
ALTER TABLE journal ADD COLUMN starts INTEGER NOT NULL DEFAULT 0 CHECK (starts IN (0, 1, 2));
`;
