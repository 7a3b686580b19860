/** `hoadon check-config` and `hoadon config-schema`. */
import { driverCatalogue } from "../catalogue.js";
import type { CommandContext } from "../cli.js";
import { configJsonSchema } from "../config/json-schema.js";
import { ConfigInvalidError, loadConfig } from "../config/load.js";
import { msg } from "../shared/i18n.js";

export async function checkConfigCommand(
  file: string,
  values: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): Promise<number> {
  try {
    const config = loadConfig(file, driverCatalogue);
    if (values.json) ctx.out(JSON.stringify({ ok: true, file, registers: config.registers.map((r) => r.id) }));
    else ctx.out(msg(ctx.lang, "config.ok", { file }));
    return 0;
  } catch (e) {
    if (values.json && e instanceof ConfigInvalidError) {
      ctx.out(JSON.stringify({ ok: false, file, issues: e.issues }));
      return e.exitCode;
    }
    throw e;
  }
}

export async function configSchemaCommand(ctx: CommandContext): Promise<number> {
  ctx.out(JSON.stringify(configJsonSchema(), null, 2));
  return 0;
}
