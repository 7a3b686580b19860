/**
 * The writer's part of the config: plain data, so it crosses to the writer thread as it is. Kept apart from
 * src/writer/core.ts so the ports' thread does not load the store side (signing, XML, forwarder) it never runs.
 */
import type { Config } from "../config/schema.js";

/** The parts of the config the writer uses (all plain data, so they cross to the writer thread as they are). */
export type WriterConfig = Pick<
  Config,
  "signing" | "store" | "journal" | "authority" | "seller" | "invoice" | "log"
> & {
  readonly registers: readonly Pick<Config["registers"][number], "id" | "symbolSuffix">[];
};

/** The writer's part of a config (drops the registers' driver options, which the writer never reads). */
export function writerConfig(config: Config): WriterConfig {
  const { signing, store, journal, authority, seller, invoice, log } = config;
  return {
    signing,
    store,
    journal,
    authority,
    seller,
    invoice,
    log,
    registers: config.registers.map((r) => ({ id: r.id, ...(r.symbolSuffix ? { symbolSuffix: r.symbolSuffix } : {}) })),
  };
}
