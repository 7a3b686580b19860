import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { type Sandbox, type SandboxOptions, startSandbox } from "../../src/sandbox/index.js";
import { createTestIdentity, type TestIdentity } from "../../src/sign/index.js";

/**
 * Write config/demo.yaml into `dir` with a test identity and secrets beside it, the way `hoadon demo` does, with
 * optional overrides (authority URL, registers …). Returns the config file path and the certificate.
 */
export function writeDemoConfig(
  dir: string,
  over: {
    identity?: TestIdentity;
    authorityUrl?: string;
    registers?: unknown[];
    sandboxPassword?: string;
    log?: { level: string };
    /** `store.writer` (the store path stays the demo's). */
    writer?: "auto" | "thread" | "inline";
    /** The `journal` section (e.g. `{ keepDays: 1 }`). */
    journal?: Record<string, unknown>;
  } = {},
): { file: string; certPem: string } {
  const raw = parse(readFileSync("config/demo.yaml", "utf8")) as Record<string, Record<string, unknown>>;
  const id = over.identity ?? createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
  writeFileSync(join(dir, "test-only-seller.p12"), id.pfx, { mode: 0o600 });
  writeFileSync(join(dir, "test-only-seller.pass"), id.password, { mode: 0o600 });
  writeFileSync(join(dir, "test-only-seller.cert.pem"), id.certPem);
  writeFileSync(join(dir, "sandbox.pass"), over.sandboxPassword ?? "pw", { mode: 0o600 });
  if (over.authorityUrl) (raw.authority as Record<string, unknown>).url = over.authorityUrl;
  if (over.registers) (raw as Record<string, unknown>).registers = over.registers;
  if (over.log) (raw as Record<string, unknown>).log = over.log;
  if (over.writer) (raw.store as Record<string, unknown>).writer = over.writer;
  if (over.journal) (raw as Record<string, unknown>).journal = over.journal;
  const file = join(dir, "hoadon.yaml");
  writeFileSync(file, stringify(raw));
  return { file, certPem: id.certPem };
}

/**
 * A loopback sandbox that takes the demo config's login (user `demo`, {@link writeDemoConfig}'s default sandbox
 * password) and trusts `identity`'s signatures; `options` add to or override that.
 */
export function startDemoSandbox(identity: TestIdentity, options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  return startSandbox({
    port: 0,
    trustedCertPem: identity.certPem,
    credentials: { username: "demo", password: "pw" },
    ...options,
  });
}
