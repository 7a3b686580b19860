/**
 * Opening the SQLite file: pragmas that make a commit durable (WAL + synchronous=FULL), numbered migrations with a
 * backup copy before each, and errors an operator can act on instead of a crash loop.
 */
import { existsSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";
import Database from "better-sqlite3";
import { DaemonError } from "../shared/errors.js";
import { MIGRATIONS } from "./migrations/index.js";

export type Db = Database.Database;

const statements = new WeakMap<Db, Map<string, Database.Statement>>();

/**
 * `db.prepare(sql)`, compiled once per connection. For statements the forwarder runs after every commit or for every
 * batch, where compiling the SQL each time cost more than running it.
 */
export function prepared<P extends unknown[] = unknown[], R = unknown>(db: Db, sql: string): Database.Statement<P, R> {
  let byDb = statements.get(db);
  if (!byDb) {
    byDb = new Map();
    statements.set(db, byDb);
  }
  let stmt = byDb.get(sql);
  if (!stmt) {
    stmt = db.prepare(sql);
    byDb.set(sql, stmt);
  }
  return stmt as unknown as Database.Statement<P, R>;
}

const CORRUPT_CODES = new Set(["SQLITE_NOTADB", "SQLITE_CORRUPT"]);

/** The store's failure as an operator reads it: corrupt, full disk, or cannot be opened. */
export function storeError(path: string, cause: unknown): DaemonError {
  const code = (cause as { code?: string } | null)?.code ?? "";
  if (CORRUPT_CODES.has(code))
    return new DaemonError(
      "STORE_CORRUPT",
      `Tệp dữ liệu ${path} bị hỏng hoặc không phải cơ sở dữ liệu hoadon; không ghi đè. Hãy khôi phục từ bản sao lưu. / ` +
        `The database file is corrupt or not a hoadon database; nothing was overwritten. Restore it from a backup.`,
      { cause },
    );
  if (code === "SQLITE_FULL") return new DaemonError("STORE_FULL", `Ổ đĩa đầy (${path}) / the disk is full`, { cause });
  return new DaemonError("STORE_UNAVAILABLE", `Không mở được tệp dữ liệu ${path} / cannot open the database`, {
    cause,
  });
}

/**
 * Open (creating if needed) the store for writing, and bring its schema up to date. A file written by a newer
 * hoadon is refused rather than touched.
 */
export function openStore(path: string): Db {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  let db: Db | undefined;
  try {
    db = new Database(path);
    db.pragma("journal_mode = WAL");
    // FULL: a committed invoice survives power loss; NORMAL may lose the last commits (signing.md §3c).
    db.pragma("synchronous = FULL");
    db.pragma("busy_timeout = 5000");
    db.pragma("foreign_keys = ON");
    migrate(db, path);
    return db;
  } catch (cause) {
    db?.close();
    if (cause instanceof DaemonError) throw cause;
    throw storeError(path, cause);
  }
}

/** Open an existing store read-only (audit). Never creates or migrates anything. */
export function openStoreReadOnly(path: string): Db {
  if (!existsSync(path))
    throw new DaemonError("STORE_UNAVAILABLE", `Không có tệp dữ liệu ${path} / no database file at that path`);
  try {
    const db = new Database(path, { readonly: true, fileMustExist: true });
    db.pragma("busy_timeout = 5000");
    const version = db.pragma("user_version", { simple: true }) as number;
    if (version === 0 || version > MIGRATIONS.length)
      throw new DaemonError(
        "STORE_CORRUPT",
        `${path} không phải cơ sở dữ liệu hoadon phiên bản này (user_version ${version}) / not a hoadon database of this version`,
      );
    return db;
  } catch (cause) {
    if (cause instanceof DaemonError) throw cause;
    throw storeError(path, cause);
  }
}

function migrate(db: Db, path: string): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > MIGRATIONS.length)
    throw new DaemonError(
      "STORE_CORRUPT",
      `${path} được ghi bởi phiên bản hoadon mới hơn (schema ${version}) / written by a newer hoadon; not touched`,
    );
  if (version === 0) {
    // A brand-new file must be empty; anything else at user_version 0 is not ours.
    const tables = db.prepare("SELECT count(*) AS n FROM sqlite_schema WHERE type = 'table'").get() as { n: number };
    if (tables.n > 0)
      throw new DaemonError(
        "STORE_CORRUPT",
        `${path} chứa dữ liệu không phải của hoadon; không ghi đè / holds tables that are not hoadon's; not touched`,
      );
  }
  for (let v = version; v < MIGRATIONS.length; v++) {
    const backup = `${path}.before-v${v + 1}`;
    // A copy of the file as it was, in case a migration goes wrong on a shop's box.
    if (version > 0 && path !== ":memory:" && !existsSync(backup))
      db.exec(`VACUUM INTO '${backup.replaceAll("'", "''")}'`);
    db.transaction(() => {
      db.exec(MIGRATIONS[v] as string);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}

/** Map a SQLite error thrown during a write to a stable code. */
export function classifyStoreError(path: string, cause: unknown): DaemonError {
  return storeError(path, cause);
}
