/**
 * Port I/O for registers: transports, the register session and capture files.
 */
export * from "./bridge-session.js";
export * from "./capture.js";
export * from "./connection.js";
export * from "./journal-sink.js";
export * from "./port-log.js";
export * from "./port-source.js";
export * from "./register-session.js";
export { type OpenSerialOptions, openSerialPort, safeBinding, serialPortSource } from "./serial-port.js";
export * from "./start-session.js";
export * from "./tcp.js";
