/**
 * The register simulator core (design.md "src/simulator"), importable without ports: receipts, the ndjson sender,
 * and simulated registers over socat ptys or TCP. `hoadon demo` and `hoadon simulate register` wrap these.
 */
export { type GenerateOptions, generateReceipts } from "./generate.js";
export {
  type SimulatedRegister,
  type SimulatedRegisterOptions,
  startSimulatedRegister,
} from "./register.js";
export { ndjsonSender, type SenderOptions, type SenderReport, type SendResult } from "./sender.js";
export { hasSocat, type SocatOptions, type SocatPair, startSocatPair } from "./socat.js";
