/** The local tax-authority sandbox (a T-VAN-like HTTP API) for the demo, tests and benchmarks. */
export { type Examination, examine, MTDIEP_RE } from "./authority.js";
export { type RunSandboxOptions, runSandbox } from "./cli-main.js";
export {
  createFaultEngine,
  describeFaults,
  type FaultPlan,
  type FaultRoute,
  type FaultRule,
  type FaultWindow,
  NO_FAULTS,
  parseDuration,
  parseFaults,
} from "./faults.js";
export {
  type Sandbox,
  type SandboxFault,
  type SandboxOptions,
  type SandboxRoute,
  type SandboxStats,
  startSandbox,
} from "./server.js";
