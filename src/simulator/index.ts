/**
 * The register simulator core (design.md "src/simulator"), importable without ports: receipts, the ndjson sender,
 * and simulated registers over socat ptys or TCP. `hoadon demo` and `hoadon simulate register` wrap these.
 */

export type { DayClose } from "../../drivers/ndjson/encode.js";
export * as datecs from "./datecs.js";
export {
  type EscposFaults,
  type EscposJob,
  type EscposPosOptions,
  type EscposPosReport,
  type EscposPosRun,
  type EscposSimCodePage,
  escposJobs,
  escposPos,
  type PrintedPage,
  type PrinterEmulator,
  type PrinterEmulatorOptions,
  printedFields,
  startPrinterEmulator,
} from "./escpos.js";
export { type EscposSimulateArgs, runEscposSimulator } from "./escpos-cli.js";
export { type EscposRig, startEscposRig } from "./escpos-rig.js";
export { dayCloseOf, type GenerateOptions, generateReceipts, withVoids } from "./generate.js";
export { writePaced } from "./pacing.js";
export {
  type SimulatedRegister,
  type SimulatedRegisterOptions,
  startSimulatedRegister,
} from "./register.js";
export {
  ndjsonSendDayClose,
  ndjsonSender,
  type SenderOptions,
  type SenderReport,
  type SendResult,
} from "./sender.js";
export { hasSocat, type SocatOptions, type SocatPair, startSocatPair } from "./socat.js";
