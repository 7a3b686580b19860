/** The local tax-authority sandbox (a T-VAN-like HTTP API) for the demo, tests and benchmarks. */
export { type Examination, examine, MTDIEP_RE } from "./authority.js";
export { type RunSandboxOptions, runSandbox } from "./cli-main.js";
export {
  type Sandbox,
  type SandboxFault,
  type SandboxOptions,
  type SandboxRoute,
  type SandboxStats,
  startSandbox,
} from "./server.js";
