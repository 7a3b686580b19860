/**
 * ndjson-v1: hoadon's own line protocol for POS software (README.md). One JSON object per `\n`-terminated line,
 * answered with an ack/nak line once the receipt is committed.
 */
import { z } from "zod";
import { type Decoder, defineDriver } from "../../src/driver-api/index.js";
import { createNdjsonDecoder } from "./decode.js";

/** Per-register options of ndjson-v1. */
export const ndjsonOptions = z.object({
  /** The longest line accepted, in bytes before the `\n`; longer lines are refused with a TOO_LONG nak. */
  maxLineBytes: z
    .number()
    .int()
    .min(256)
    .max(16 * 1024 * 1024)
    .default(65_536)
    .describe("Longest accepted line in bytes (before the newline)"),
  /** Refuse lines without the `*<crc32>` integrity trailer (useful on noisy serial links). */
  requireCrc: z.boolean().default(false).describe("Refuse lines without the *<crc32> trailer"),
});

/** Validated options of ndjson-v1. */
export type NdjsonOptions = z.infer<typeof ndjsonOptions>;

/** The ndjson-v1 driver. */
export const ndjson = defineDriver<NdjsonOptions>({
  id: "ndjson-v1",
  title: "NDJSON dòng JSON (giao thức hoadon v1) / NDJSON lines (hoadon line protocol v1)",
  serial: { baudRate: 115_200, dataBits: 8, parity: "none", stopBits: 1 },
  options: ndjsonOptions,
  createDecoder: (options: NdjsonOptions): Decoder => createNdjsonDecoder(options),
});

export { createNdjsonDecoder, receiptFromWire, receiptReply } from "./decode.js";
export {
  type DayClose,
  encodeDayClose,
  encodeMessage,
  encodePing,
  encodeReceipt,
  type NdjsonReply,
  parseReply,
  receiptToWire,
} from "./encode.js";
