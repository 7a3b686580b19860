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
  createSandboxGateway,
  inProcessClient,
  type SandboxGateway,
  type SandboxGatewayOptions,
} from "./in-process.js";
export {
  createSandboxCore,
  type Sandbox,
  type SandboxCore,
  type SandboxFault,
  type SandboxOptions,
  type SandboxRequest,
  type SandboxResult,
  type SandboxRoute,
  type SandboxStats,
  startSandbox,
} from "./server.js";
