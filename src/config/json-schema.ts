import { z } from "zod";
import { Config } from "./schema.js";

/** The JSON Schema of the config file, generated from the zod schema (the single source). */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(Config, { io: "input", unrepresentable: "any" });
}
