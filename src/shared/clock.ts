/** Injected everywhere time matters, so tests control it (design.md invariant 9). */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock tests can move by hand. */
export function manualClock(startMs: number): Clock & { set(ms: number): void; advance(ms: number): void } {
  let t = startMs;
  return {
    now: () => t,
    set: (ms) => {
      t = ms;
    },
    advance: (ms) => {
      t += ms;
    },
  };
}

/** Vietnam has used UTC+7 without daylight saving since 1975. */
export const VN_OFFSET_MS = 7 * 3_600_000;

/** `YYYY-MM-DDThh:mm:ss` in Vietnam local time, the form NLap-adjacent fields and SigningTime use (no zone). */
export function vnDateTime(ms: number): string {
  return new Date(ms + VN_OFFSET_MS).toISOString().slice(0, 19);
}

/** `YYYY-MM-DD` in Vietnam local time (NLap). */
export function vnDate(ms: number): string {
  return vnDateTime(ms).slice(0, 10);
}

/** Epoch ms of the next local (UTC+7) midnight after `ms`: the same-day deadline for sending an invoice. */
export function vnEndOfDay(ms: number): number {
  const local = ms + VN_OFFSET_MS;
  return local - (local % 86_400_000) + 86_400_000 - VN_OFFSET_MS;
}
