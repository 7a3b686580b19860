/**
 * The `sandbox` gateway (`authority.gateway: sandbox`, issue 5 item 4): the sandbox authority runs inside the
 * daemon, with no HTTP and no port, for the demo, tests and benchmarks on a box without a network.
 *
 * It is the same sandbox as `hoadon sandbox` ({@link createSandboxCore}: the same message store, checks, replies
 * and faults) driven by the same `http-xml` adapter (login and token refresh, the outcome table, one attempt row
 * per call), only the transport is a function call instead of a socket. So the forwarder, the attempt rows and the
 * outage report see what they would see on loopback. A `down` window of the fault plan is a refused connection; a
 * dropped answer is a reset after the request was sent; an answer held past `timeoutMs` is `no-answer`.
 */
import type { AuthorityGateway } from "../forward/gateway.js";
import { createHttpXmlGateway, describeBody } from "../forward/gateway.js";
import type { HttpClient, HttpExchange } from "../forward/http.js";
import { type Clock, systemClock } from "../shared/clock.js";
import { createSandboxCore, type SandboxCore, type SandboxOptions } from "./server.js";

/** Options of {@link createSandboxGateway}. */
export interface SandboxGatewayOptions extends Omit<SandboxOptions, "host" | "port" | "tls" | "credentials"> {
  /** The account, as for a T-VAN: the in-process sandbox accepts only this one. */
  readonly username: string;
  readonly password: string;
  /** Names the endpoint in attempt rows (nothing is connected to). Default `http://sandbox.invalid`. */
  readonly baseUrl?: string;
  /** An answer held longer than this is `no-answer`, as over HTTP. Default 15 s. */
  readonly timeoutMs?: number;
  /** Stopping the daemon ends calls in flight (`stopped`). */
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
}

/** The gateway, and the sandbox behind it (counters, one-shot faults) for tests and the demo. */
export interface SandboxGateway extends AuthorityGateway {
  readonly sandbox: Pick<SandboxCore, "stats" | "injectFault" | "expireTokens">;
}

const NOTHING = Buffer.alloc(0);

/** A `sandbox` gateway (see the file comment). */
export function createSandboxGateway(opts: SandboxGatewayOptions): SandboxGateway {
  const clock = opts.clock ?? systemClock;
  const core = createSandboxCore({ ...opts, clock, credentials: { username: opts.username, password: opts.password } });
  const http = inProcessClient(core, { clock, timeoutMs: opts.timeoutMs ?? 15_000, signal: opts.signal });
  const gateway = createHttpXmlGateway({
    baseUrl: opts.baseUrl ?? "http://sandbox.invalid",
    username: opts.username,
    password: opts.password,
    clock,
    http,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return {
    submit: (batch) => gateway.submit(batch),
    replies: (mtdiep, ref) => gateway.replies(mtdiep, ref),
    sandbox: {
      stats: () => core.stats(),
      injectFault: (fault) => core.injectFault(fault),
      expireTokens: () => core.expireTokens(),
    },
  };
}

/** An {@link HttpClient} whose "server" is the sandbox core, called in this process. Never throws. */
export function inProcessClient(
  core: SandboxCore,
  opts: { readonly clock: Clock; readonly timeoutMs: number; readonly signal?: AbortSignal | undefined },
): HttpClient {
  return async (req): Promise<HttpExchange> => {
    const at = opts.clock.now();
    const started = performance.now();
    const url = new URL(req.url);
    const endpoint = `${url.origin}${url.pathname}`;
    type Rest = Omit<HttpExchange, "at" | "durationMs" | "endpoint">;
    const done = (rest: Rest): HttpExchange => ({ at, durationMs: performance.now() - started, endpoint, ...rest });
    const stopped: Rest = {
      failure: "stopped",
      cause: "dừng theo yêu cầu / stopping",
      body: NOTHING,
      connected: false,
      sent: false,
    };
    if (opts.signal?.aborted) return done(stopped);
    if (core.isDown())
      return done({
        failure: "refused",
        cause: "hộp cát đang tắt (giả lập) / sandbox down (fault plan)",
        body: NOTHING,
        connected: false,
        sent: false,
      });
    // A copy, as a socket would make: neither side sees the other change its buffer later.
    const body = req.body === undefined ? NOTHING : Buffer.from(req.body);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
    const handled = core.handle({
      method: req.method,
      url: `${url.pathname}${url.search}`,
      headers,
      body: body.length > core.maxBodyBytes ? undefined : body,
    });
    let timer: NodeJS.Timeout | undefined;
    let onStop: (() => void) | undefined;
    const outcome = await Promise.race([
      handled,
      new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), opts.timeoutMs);
      }),
      new Promise<"stopped">((resolve) => {
        onStop = () => resolve("stopped");
        opts.signal?.addEventListener("abort", onStop, { once: true });
      }),
    ]);
    clearTimeout(timer);
    if (onStop) opts.signal?.removeEventListener("abort", onStop);
    if (outcome === "stopped") return done({ ...stopped, connected: true, sent: true });
    if (outcome === "timeout")
      return done({
        failure: "no-answer",
        cause: `T-VAN không trả lời trong ${opts.timeoutMs} ms / no answer in time`,
        body: NOTHING,
        connected: true,
        sent: true,
      });
    if (outcome.kind === "drop")
      return done({
        failure: "reset",
        cause: "hộp cát đóng kết nối không trả lời (giả lập) / connection closed without an answer (fault)",
        body: NOTHING,
        connected: true,
        sent: true,
      });
    const answer = Buffer.from(JSON.stringify(outcome.body), "utf8");
    const ok = outcome.status >= 200 && outcome.status < 300;
    return done({
      status: outcome.status,
      body: answer,
      cause: ok ? "" : describeBody(answer),
      connected: true,
      sent: true,
    });
  };
}
