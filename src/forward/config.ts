/**
 * What config says about the authority gateway, and the factory the composition root calls. The zod fragment
 * {@link GatewayConfig} is merged into `authority:` by src/config/schema.ts (one source of types, defaults and
 * docs, style.md §2.5); {@link createGatewayFromConfig} turns the parsed values into an {@link AuthorityGateway}.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { createSandboxGateway } from "../sandbox/in-process.js";
import type { Clock } from "../shared/clock.js";
import { DaemonError } from "../shared/errors.js";
import { type AuthorityGateway, createHttpXmlGateway } from "./gateway.js";
import { createJsonBase64Gateway, FPT_PATHS } from "./gateway-json.js";

/** Gateway settings under `authority:` (besides `url`, `username`, `passwordFile`/`passwordEnv`, `timeoutMs`). */
export const GatewayConfig = z.object({
  gateway: z
    .enum(["http-xml", "http-json-base64", "sandbox"])
    .default("http-xml")
    .describe(
      "Adapter. http-xml: TDiep XML body, bearer login (Viettel-like; also `hoadon sandbox`). " +
        "http-json-base64: base64 TDiep in JSON, Basic auth, poll by transaction id (FPT-like; `hoadon sandbox` " +
        "serves it under /ftvan-hddt). sandbox: the local sandbox authority inside the daemon, no network (demo, " +
        "tests, benchmarks; same checks and replies as `hoadon sandbox`; it accepts username and password as its " +
        "one account; url only names the endpoint in attempt rows). Never for a shop: nothing reaches the tax " +
        "authority.",
    ),
  connectTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(10_000)
    .describe("Until the connection and TLS handshake are up; no connection in time is our side (no network)."),
  tls: z
    .object({
      ca: z
        .string()
        .optional()
        .describe(
          "PEM file with the CA certificate(s) of the T-VAN's server certificate, trusted besides the system's.",
        ),
      servername: z.string().optional().describe("TLS server name when it differs from the URL's host."),
    })
    .default({})
    .describe("TLS toward the T-VAN. Certificate checks are never switched off."),
  batchSignature: z
    .enum(["xmldsig", "xades"])
    .default("xmldsig")
    .describe(
      "[U] How the batch signature CKSNNT carries its signing time: XMLDSig SignatureProperties or XAdES-BES " +
        "SignedProperties (addendum §3; ask the T-VAN).",
    ),
  replyDeadlineMs: z
    .number()
    .int()
    .positive()
    .default(600_000)
    .describe(
      "[U] How long the authority's result (204) may take after the T-VAN took a batch; later polls count as the " +
        "authority's fault in `hoadon audit outages`.",
    ),
  leaseMs: z
    .number()
    .int()
    .positive()
    .default(300_000)
    .describe("How long one send or poll round may hold a batch; must outlast a few timeouts."),
  jsonBase64: z
    .object({
      submitPath: z.string().startsWith("/").default(FPT_PATHS.submitPath),
      pollPath: z.string().startsWith("/").default(FPT_PATHS.pollPath),
      pollParam: z.string().min(1).default(FPT_PATHS.pollParam),
      lookupParam: z
        .string()
        .min(1)
        .optional()
        .describe("[U] Query parameter to look a message up by MTDiep, when the T-VAN has one (sandbox: mtdiep)."),
    })
    .default({ ...FPT_PATHS })
    .describe("Paths of the http-json-base64 API (defaults: FPT T-VAN, addendum §7)."),
});

/** {@link GatewayConfig} after parsing. */
export type GatewayConfig = z.infer<typeof GatewayConfig>;

/** The authority settings the factory reads: the fragment plus the existing `authority:` fields it needs. */
export interface GatewaySettings extends Partial<GatewayConfig> {
  readonly url: string;
  readonly username: string;
  /** Whole exchange, per request. */
  readonly timeoutMs: number;
}

/** What the factory needs besides config. */
export interface GatewayDeps {
  /** The T-VAN password, already read from `passwordFile`/`passwordEnv`. */
  readonly password: string;
  readonly clock: Clock;
  /** Stopping the daemon aborts calls in flight. */
  readonly signal?: AbortSignal;
  /** Reads the CA file (tests). Default `fs.readFileSync(path, "utf8")`. */
  readonly readFile?: (path: string) => string;
  /** `gateway: sandbox`: the seller's certificate (PEM), so the in-process sandbox checks signatures too. */
  readonly trustedCertPem?: string | undefined;
}

const PEM_CERT_RE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/**
 * The gateway `authority.gateway` names, with its URL, timeouts and TLS trust. Throws `CONFIG_INVALID` when the
 * CA file cannot be read or holds no certificate (before anything is sent).
 */
export function createGatewayFromConfig(authority: GatewaySettings, deps: GatewayDeps): AuthorityGateway {
  let ca: string | undefined;
  const caFile = authority.tls?.ca;
  if (caFile !== undefined) {
    try {
      ca = (deps.readFile ?? ((p: string) => readFileSync(p, "utf8")))(caFile);
    } catch (cause) {
      throw new DaemonError(
        "CONFIG_INVALID",
        `Không đọc được tệp CA của T-VAN ${caFile} / cannot read authority.tls.ca`,
        { cause },
      );
    }
    if (!PEM_CERT_RE.test(ca))
      throw new DaemonError(
        "CONFIG_INVALID",
        `Tệp ${caFile} không chứa chứng thư PEM / authority.tls.ca holds no PEM certificate`,
      );
  }
  const common = {
    baseUrl: authority.url,
    username: authority.username,
    password: deps.password,
    timeoutMs: authority.timeoutMs,
    ...(authority.connectTimeoutMs !== undefined ? { connectTimeoutMs: authority.connectTimeoutMs } : {}),
    ca,
    servername: authority.tls?.servername,
    clock: deps.clock,
    ...(deps.signal ? { signal: deps.signal } : {}),
  };
  const kind = authority.gateway ?? "http-xml";
  switch (kind) {
    case "http-xml":
      return createHttpXmlGateway(common);
    case "http-json-base64":
      return createJsonBase64Gateway({ ...common, ...authority.jsonBase64 });
    case "sandbox":
      // Replies at once, every invoice checked in full, as `hoadon sandbox` does by default (but without its 1 s wait).
      return createSandboxGateway({
        baseUrl: authority.url,
        username: authority.username,
        password: deps.password,
        timeoutMs: authority.timeoutMs,
        replyDelayMs: 0,
        trustedCertPem: deps.trustedCertPem,
        clock: deps.clock,
        ...(deps.signal ? { signal: deps.signal } : {}),
      });
    default: {
      const never: never = kind;
      throw new DaemonError("CONFIG_INVALID", `Không có gateway "${String(never)}" / unknown gateway`);
    }
  }
}
