/** `hoadon decode --driver ID [--options JSON] FILE`: a capture file → one JSON event per line. */
import { readFileSync } from "node:fs";
import { driverCatalogue } from "../catalogue.js";
import type { CommandContext } from "../cli.js";
import type { Driver } from "../driver-api/index.js";
import { eventToJson, replayCapture } from "../ingest/index.js";
import { DaemonError } from "../shared/errors.js";

export async function decodeCommand(
  file: string,
  v: Record<string, string | boolean | undefined>,
  ctx: CommandContext,
): Promise<number> {
  const id = typeof v.driver === "string" ? v.driver : undefined;
  if (!id) throw new DaemonError("USAGE", "thiếu --driver / --driver is required");
  // The command line first (a wrong driver or option says so before any file is read).
  const { driver, options } = driverWith(id, typeof v.options === "string" ? optionsJson(v.options) : {});
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new DaemonError("INPUT_UNREADABLE", `Không đọc được ${file} / cannot read the capture`, { cause });
  }
  for (const event of replayCapture(driver, options, text)) ctx.out(JSON.stringify(eventToJson(event)));
  return 0;
}

/** A driver by id with its options checked by its own schema (DRIVER_UNKNOWN, CONFIG_INVALID otherwise). */
export function driverWith(id: string, rawOptions: unknown): { driver: Driver<unknown>; options: unknown } {
  const driver = driverCatalogue.get(id);
  if (!driver)
    throw new DaemonError(
      "DRIVER_UNKNOWN",
      `không có driver "${id}"; có / known: ${driverCatalogue.ids().join(", ")} / unknown driver`,
    );
  const options = driver.options.safeParse(rawOptions ?? {});
  if (!options.success)
    throw new DaemonError(
      "CONFIG_INVALID",
      options.error.issues.map((i) => `options.${i.path.join(".")}: ${i.message}`).join("\n"),
    );
  return { driver: driver as Driver<unknown>, options: options.data };
}

/** `--options JSON`. */
export function optionsJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new DaemonError("USAGE", "--options phải là JSON / --options must be JSON", { cause });
  }
}
