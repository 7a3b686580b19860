/**
 * The root logger (pino). Modules take a child (`log.child({ mod: "ingest" })`); nothing logs through a global.
 * Objects first, short stable event names second (style.md §2.6). Secrets are redacted even if they slip in.
 */
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger } from "pino";

export const REDACT_PATHS = [
  "password",
  "*.password",
  "*.passphrase",
  "*.privateKey",
  "*.token",
  "signing.*",
  "authorization",
  "*.authorization",
];

export function createLogger(
  opts: { level: string; name?: string },
  destination: DestinationStream = pino.destination(2),
): Logger {
  return pino({ level: opts.level, name: opts.name ?? "hoadon", redact: REDACT_PATHS }, destination);
}

/** A logger that drops everything, for tests and quiet tools. */
export const silentLogger: Logger = pino({ level: "silent" });
