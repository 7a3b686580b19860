/**
 * Errors an operator can see. Expected outcomes (a bad frame, a rejected invoice, an unreachable authority) are
 * values, not exceptions; these are for bugs and for I/O the daemon cannot work around. Every code has a line in
 * README.md ("Error codes"), and test/shared/errors.test.ts keeps the two in step.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: 78,
  CONFIG_UNREADABLE: 78,
  DRIVER_UNKNOWN: 78,
  PORT_UNAVAILABLE: 74,
  SIGNING_KEY_UNREADABLE: 77,
  SIGNING_PASSWORD_WRONG: 77,
  CERTIFICATE_INVALID: 77,
  STORE_CORRUPT: 65,
  STORE_UNAVAILABLE: 74,
  STORE_FULL: 74,
  ALREADY_RUNNING: 75,
  AUTHORITY_UNREACHABLE: 69,
  INVOICE_INVALID: 65,
  USAGE: 64,
  INPUT_UNREADABLE: 66,
  OUTPUT_UNWRITABLE: 73,
  INTERNAL: 70,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class DaemonError extends Error {
  override readonly name = "DaemonError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** Process exit status for this error (sysexits.h values). */
  get exitCode(): number {
    return ERROR_CODES[this.code];
  }
}

export const isDaemonError = (e: unknown): e is DaemonError => e instanceof DaemonError;
