/**
 * Faults the sandbox can be told to show (`hoadon sandbox --faults …`, issue 5), so every failure path of the
 * forwarder can be seen on one machine: slow answers, server errors, lost answers, answers that never come, expired
 * logins, outage windows, and results (204) the authority never sends.
 *
 * Syntax: comma-separated `[route.]name=value` items; `route` is `login`, `submit` or `replies` (default: every
 * route the fault makes sense for). Durations take a unit (`250ms`, `2s`, `5m`, `1h`); probabilities are a
 * fraction or a percentage (`0.1`, `10%`).
 *
 * | item | effect |
 * |---|---|
 * | `latency=200ms`, `latency=100ms..2s` | every answer waits that long (uniformly drawn in a range) |
 * | `5xx=0.1`, `5xx=10%:502` | answer 503 (or the status given, 500–599) without processing |
 * | `ghost=0.05` | process, then answer 500: the sender does not know it arrived (lost answer) |
 * | `drop=0.05` | process, then close the connection without an answer (dropped reply) |
 * | `timeout=0.05`, `timeout=0.05:90s` | process, then hold the answer (default 120 s), past any client timeout |
 * | `no204=0.2` | take the message and send its 999, but never its result (204) |
 * | `token=30s` | logins give tokens that expire after that long |
 * | `outage=10s@30s`, `outage=10s@30s/60s` | every call answers 503 for 10 s from 30 s after start (every 60 s) |
 * | `down=10s@30s`, `down=10s@30s/60s` | the sandbox stops listening: connections are refused |
 * | `seed=7` | seed of the draws, so a run can be repeated (default 1) |
 *
 * Duplicate deliveries are always counted (a second POST of an MTDiep, an MCCQT accepted before) and printed when
 * the sandbox stops, so a run with faults shows that none got through twice.
 */
import { DaemonError } from "../shared/errors.js";
import { seededRandom } from "../shared/random.js";

// Re-exported: tests that drive the sandbox draw from the same generator.
export { seededRandom };

/** The sandbox routes a fault can be limited to. */
export type FaultRoute = "login" | "submit" | "replies";

/** One per-request fault rule. */
export type FaultRule =
  | { readonly kind: "latency"; readonly route?: FaultRoute; readonly minMs: number; readonly maxMs: number }
  | { readonly kind: "5xx"; readonly route?: FaultRoute; readonly p: number; readonly status: number }
  | { readonly kind: "ghost"; readonly route?: FaultRoute; readonly p: number }
  | { readonly kind: "drop"; readonly route?: FaultRoute; readonly p: number }
  | { readonly kind: "timeout"; readonly route?: FaultRoute; readonly p: number; readonly holdMs: number }
  | { readonly kind: "no204"; readonly p: number };

/** A time window from the sandbox's start: `startMs` … `startMs + durationMs`, repeated every `everyMs`. */
export interface FaultWindow {
  /** `outage`: answer 503 to everything; `down`: stop listening. */
  readonly kind: "outage" | "down";
  readonly startMs: number;
  readonly durationMs: number;
  readonly everyMs?: number | undefined;
}

/** A parsed `--faults` value. */
export interface FaultPlan {
  readonly seed: number;
  readonly rules: readonly FaultRule[];
  readonly windows: readonly FaultWindow[];
  /** Token lifetime override (`token=`). */
  readonly tokenTtlMs?: number | undefined;
}

/** No faults. */
export const NO_FAULTS: FaultPlan = { seed: 1, rules: [], windows: [] };

const ROUTES: ReadonlySet<string> = new Set(["login", "submit", "replies"]);
const DUR_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `250ms`, `2s`, `1.5m`, `1h` → ms, or undefined. */
export function parseDuration(text: string): number | undefined {
  const m = DUR_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * (UNIT_MS[m[2] as string] as number));
}

function parseProbability(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(%?)$/.exec(text.trim());
  if (!m) return undefined;
  const p = Number(m[1]) / (m[2] ? 100 : 1);
  return p >= 0 && p <= 1 ? p : undefined;
}

/**
 * Parses a `--faults` value (syntax in the file comment). Throws `USAGE` naming every bad item, in Vietnamese
 * first.
 */
export function parseFaults(text: string): FaultPlan {
  const rules: FaultRule[] = [];
  const windows: FaultWindow[] = [];
  const problems: string[] = [];
  let seed = 1;
  let tokenTtlMs: number | undefined;
  const items = text
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq < 1) {
      problems.push(`"${item}": cần dạng tên=giá trị / expected name=value`);
      continue;
    }
    let name = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    let route: FaultRoute | undefined;
    const dot = name.indexOf(".");
    if (dot > 0) {
      const r = name.slice(0, dot);
      if (!ROUTES.has(r)) {
        problems.push(`"${item}": tuyến "${r}" không có (login, submit, replies) / unknown route`);
        continue;
      }
      route = r as FaultRoute;
      name = name.slice(dot + 1);
    }
    const bad = (what: string): void => {
      problems.push(`"${item}": ${what}`);
    };
    const withRoute = <T extends object>(rule: T): T & { route?: FaultRoute } =>
      route === undefined ? rule : { ...rule, route };
    switch (name) {
      case "latency": {
        const [a, b] = value.split("..");
        const min = parseDuration(a ?? "");
        const max = b === undefined ? min : parseDuration(b);
        if (min === undefined || max === undefined || max < min)
          bad("cần thời lượng như 200ms hoặc 100ms..2s / expected a duration or a range");
        else rules.push(withRoute({ kind: "latency" as const, minMs: min, maxMs: max }));
        break;
      }
      case "5xx": {
        const [ps, ss] = value.split(":");
        const p = parseProbability(ps ?? "");
        const status = ss === undefined ? 503 : Number(ss);
        if (p === undefined) bad("xác suất phải trong 0..1 hoặc 0%..100% / probability 0..1");
        else if (!Number.isInteger(status) || status < 500 || status > 599) bad("mã phải 500–599 / status 500–599");
        else rules.push(withRoute({ kind: "5xx" as const, p, status }));
        break;
      }
      case "ghost":
      case "drop": {
        const p = parseProbability(value);
        if (p === undefined) bad("xác suất phải trong 0..1 hoặc 0%..100% / probability 0..1");
        else rules.push(withRoute({ kind: name, p }));
        break;
      }
      case "timeout": {
        const [ps, ds] = value.split(":");
        const p = parseProbability(ps ?? "");
        const holdMs = ds === undefined ? 120_000 : parseDuration(ds);
        if (p === undefined) bad("xác suất phải trong 0..1 hoặc 0%..100% / probability 0..1");
        else if (holdMs === undefined) bad("thời gian giữ cần đơn vị, ví dụ 90s / hold needs a unit");
        else rules.push(withRoute({ kind: "timeout" as const, p, holdMs }));
        break;
      }
      case "no204": {
        const p = parseProbability(value);
        if (route !== undefined && route !== "submit") bad("no204 chỉ áp dụng cho submit / only for submit");
        else if (p === undefined) bad("xác suất phải trong 0..1 hoặc 0%..100% / probability 0..1");
        else rules.push({ kind: "no204", p });
        break;
      }
      case "token": {
        const ms = parseDuration(value);
        if (ms === undefined || ms <= 0) bad("cần thời lượng như 30s / expected a duration");
        else tokenTtlMs = ms;
        break;
      }
      case "outage":
      case "down": {
        const m = /^([^@]+)@([^/]+)(?:\/(.+))?$/.exec(value);
        const durationMs = m ? parseDuration(m[1] as string) : undefined;
        const startMs = m ? parseDuration(m[2] as string) : undefined;
        const everyMs = m?.[3] === undefined ? undefined : parseDuration(m[3]);
        if (route !== undefined) bad(`${name} áp dụng cho mọi tuyến / applies to every route`);
        else if (durationMs === undefined || startMs === undefined || (m?.[3] !== undefined && everyMs === undefined))
          bad("cần dạng THỜI_LƯỢNG@BẮT_ĐẦU[/LẶP_LẠI], ví dụ 10s@30s/60s / expected DURATION@START[/EVERY]");
        else if (everyMs !== undefined && everyMs <= durationMs)
          bad("chu kỳ phải dài hơn thời lượng / EVERY must exceed DURATION");
        else windows.push({ kind: name, startMs, durationMs, everyMs });
        break;
      }
      case "seed": {
        const n = Number(value);
        if (!Number.isInteger(n)) bad("seed phải là số nguyên / seed must be an integer");
        else seed = n;
        break;
      }
      default:
        bad(
          "lỗi giả lập không có (latency, 5xx, ghost, drop, timeout, no204, token, outage, down, seed) / unknown fault",
        );
    }
  }
  if (problems.length > 0) throw new DaemonError("USAGE", `--faults sai / bad --faults: ${problems.join("; ")}`);
  return { seed, rules, windows, tokenTtlMs };
}

/** One line per fault, Vietnamese first, for the sandbox's start banner. */
export function describeFaults(plan: FaultPlan): string[] {
  const pct = (p: number): string => `${Math.round(p * 1000) / 10}%`;
  const on = (r: { route?: FaultRoute }): string => (r.route ? ` (${r.route})` : "");
  const dur = (ms: number): string => (ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`);
  const lines = plan.rules.map((r): string => {
    switch (r.kind) {
      case "latency":
        return `trả lời chậm / latency ${r.minMs === r.maxMs ? dur(r.minMs) : `${dur(r.minMs)}..${dur(r.maxMs)}`}${on(r)}`;
      case "5xx":
        return `lỗi ${r.status} không xử lý / ${r.status} without processing: ${pct(r.p)}${on(r)}`;
      case "ghost":
        return `xử lý rồi trả 500 / processed then 500: ${pct(r.p)}${on(r)}`;
      case "drop":
        return `xử lý rồi ngắt kết nối / processed then dropped: ${pct(r.p)}${on(r)}`;
      case "timeout":
        return `xử lý rồi giữ câu trả lời ${dur(r.holdMs)} / processed then held: ${pct(r.p)}${on(r)}`;
      case "no204":
        return `không bao giờ gửi kết quả 204 / 204 never sent: ${pct(r.p)}`;
      default: {
        const never: never = r;
        return String(never);
      }
    }
  });
  if (plan.tokenTtlMs !== undefined) lines.push(`token hết hạn sau / tokens expire after ${dur(plan.tokenTtlMs)}`);
  for (const w of plan.windows)
    lines.push(
      `${w.kind === "outage" ? "ngừng dịch vụ (503) / outage" : "tắt hẳn (từ chối kết nối) / down"} ` +
        `${dur(w.durationMs)} từ giây / from ${dur(w.startMs)}${w.everyMs ? `, lặp mỗi / every ${dur(w.everyMs)}` : ""}`,
    );
  if (lines.length > 0) lines.push(`seed ${plan.seed}`);
  return lines;
}

/** Whether `elapsedMs` after start falls in `w`. */
export function inWindow(w: FaultWindow, elapsedMs: number): boolean {
  if (elapsedMs < w.startMs) return false;
  const into = w.everyMs ? (elapsedMs - w.startMs) % w.everyMs : elapsedMs - w.startMs;
  return into < w.durationMs;
}

/** What a fault decides before a request is handled. */
export type FaultBefore = { readonly kind: "status"; readonly status: number; readonly why: string } | undefined;

/** What a fault does to the answer of a processed request. */
export type FaultAfter =
  | { readonly kind: "ghost" }
  | { readonly kind: "drop" }
  | { readonly kind: "timeout"; readonly holdMs: number }
  | undefined;

/** Draws the faults of a plan, request by request, from a seeded generator. */
export interface FaultEngine {
  readonly plan: FaultPlan;
  /** Before handling: an outage window or a 5xx draw answers at once. */
  before(route: FaultRoute, elapsedMs: number): FaultBefore;
  /** After handling: the answer lost, replaced by 500, or held. */
  after(route: FaultRoute): FaultAfter;
  /** Extra wait before this answer. */
  latencyMs(route: FaultRoute): number;
  /** Whether this message's 204 is never sent. */
  no204(): boolean;
  /** How many times each fault fired. */
  counts(): Readonly<Record<string, number>>;
}

/** A fault engine for `plan`. */
export function createFaultEngine(plan: FaultPlan): FaultEngine {
  const random = seededRandom(plan.seed);
  const fired: Record<string, number> = {};
  const count = (name: string): void => {
    fired[name] = (fired[name] ?? 0) + 1;
  };
  const applies = (r: FaultRule, route: FaultRoute): boolean =>
    !("route" in r) || r.route === undefined || r.route === route;
  return {
    plan,
    before(route, elapsedMs) {
      if (plan.windows.some((w) => w.kind === "outage" && inWindow(w, elapsedMs))) {
        count("outage");
        return { kind: "status", status: 503, why: "outage" };
      }
      for (const r of plan.rules)
        if (r.kind === "5xx" && applies(r, route) && random() < r.p) {
          count("5xx");
          return { kind: "status", status: r.status, why: "5xx" };
        }
      return undefined;
    },
    after(route) {
      for (const r of plan.rules) {
        if (!applies(r, route)) continue;
        if ((r.kind === "ghost" || r.kind === "drop" || r.kind === "timeout") && random() < r.p) {
          count(r.kind);
          return r.kind === "timeout" ? { kind: "timeout", holdMs: r.holdMs } : { kind: r.kind };
        }
      }
      return undefined;
    },
    latencyMs(route) {
      let ms = 0;
      for (const r of plan.rules)
        if (r.kind === "latency" && applies(r, route)) ms += r.minMs + Math.round(random() * (r.maxMs - r.minMs));
      return ms;
    },
    no204() {
      for (const r of plan.rules)
        if (r.kind === "no204" && random() < r.p) {
          count("no204");
          return true;
        }
      return false;
    },
    counts: () => ({ ...fired }),
  };
}
