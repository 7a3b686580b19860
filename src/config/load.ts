/**
 * Load → parse → validate, listing every problem with its path before anything is opened (style.md §2.5).
 */
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { DaemonError } from "../shared/errors.js";
import { Config } from "./schema.js";

/** What the loader needs to know about drivers (kept as a parameter so config does not import drivers/). */
export interface DriverCatalogue {
  get(id: string): { readonly options: z.ZodType; portsFor?(options: never): 1 | 2 } | undefined;
  ids(): readonly string[];
}

export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

const pathOf = (p: readonly PropertyKey[]): string =>
  p.length === 0
    ? "(gốc / root)"
    : p.reduce<string>(
        (acc, k) => (typeof k === "number" ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)),
        "",
      );

/**
 * Validate an already-parsed config object. Returns every issue found (empty when valid) and the config.
 * Relative file paths are resolved against `baseDir`.
 */
export function validateConfig(
  raw: unknown,
  drivers: DriverCatalogue,
  baseDir: string,
): { config?: Config; issues: ConfigIssue[] } {
  const parsed = Config.safeParse(raw);
  if (!parsed.success) {
    return { issues: parsed.error.issues.map((i) => ({ path: pathOf(i.path), message: i.message })) };
  }
  const config = parsed.data;
  const issues: ConfigIssue[] = [];
  const seenIds = new Set<string>();
  const seenPorts = new Set<string>();
  const registers = config.registers.map((reg, i) => {
    if (seenIds.has(reg.id))
      issues.push({ path: `registers[${i}].id`, message: `trùng id "${reg.id}" / duplicate id` });
    seenIds.add(reg.id);
    // Port 0 asks the OS for a free port, so several registers may say it.
    if (seenPorts.has(reg.port) && !reg.port.endsWith(":0"))
      issues.push({ path: `registers[${i}].port`, message: `hai máy dùng chung cổng ${reg.port} / port used twice` });
    seenPorts.add(reg.port);
    const driver = drivers.get(reg.driver);
    if (!driver) {
      issues.push({
        path: `registers[${i}].driver`,
        message: `không có driver "${reg.driver}" / unknown driver; có / known: ${drivers.ids().join(", ")}`,
      });
      return reg;
    }
    const opts = driver.options.safeParse(reg.options ?? {});
    if (!opts.success) {
      for (const iss of opts.error.issues)
        issues.push({ path: pathOf(["registers", i, "options", ...iss.path]), message: iss.message });
      return reg;
    }
    // A bridge or tap sits between two ports; every other role uses one.
    const ports = driver.portsFor?.(opts.data as never) ?? 1;
    if (ports === 2 && reg.devicePort === undefined)
      issues.push({
        path: `registers[${i}].devicePort`,
        message: "vai trò này cần cổng máy in / this role needs devicePort (the printer's port)",
      });
    if (ports === 1 && reg.devicePort !== undefined)
      issues.push({
        path: `registers[${i}].devicePort`,
        message: "vai trò này chỉ dùng một cổng / this role uses one port: remove devicePort",
      });
    return { ...reg, options: opts.data };
  });
  if (issues.length > 0) return { issues };
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  return {
    issues,
    config: {
      ...config,
      registers,
      signing: {
        ...config.signing,
        keystore: abs(config.signing.keystore),
        ...(config.signing.passwordFile ? { passwordFile: abs(config.signing.passwordFile) } : {}),
      },
      store: { ...config.store, path: abs(config.store.path) },
      authority: {
        ...config.authority,
        ...(config.authority.passwordFile ? { passwordFile: abs(config.authority.passwordFile) } : {}),
        ...(config.authority.tls.ca ? { tls: { ...config.authority.tls, ca: abs(config.authority.tls.ca) } } : {}),
      },
      capture: { ...config.capture, ...(config.capture.dir ? { dir: abs(config.capture.dir) } : {}) },
    },
  };
}

/** Read and validate a config file; throws DaemonError CONFIG_UNREADABLE / CONFIG_INVALID listing every issue. */
export function loadConfig(file: string, drivers: DriverCatalogue): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    throw new DaemonError("CONFIG_UNREADABLE", `Không đọc được tệp cấu hình ${file} / cannot read the config file`, {
      cause,
    });
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (cause) {
    const detail = cause instanceof Error ? cause.message : String(cause);
    throw new DaemonError(
      "CONFIG_INVALID",
      `Tệp cấu hình ${file} không phải YAML hợp lệ / not valid YAML:\n  ${detail}`,
      {
        cause,
      },
    );
  }
  const { config, issues } = validateConfig(raw, drivers, dirname(resolve(file)));
  if (!config) throw new ConfigInvalidError(file, issues);
  return config;
}

/** CONFIG_INVALID with the issues kept, so `check-config --json` can print them. */
export class ConfigInvalidError extends DaemonError {
  constructor(
    readonly file: string,
    readonly issues: readonly ConfigIssue[],
  ) {
    super(
      "CONFIG_INVALID",
      `Cấu hình ${file} có ${issues.length} lỗi / the config has ${issues.length} problem(s):\n${issues
        .map((i) => `  - ${i.path}: ${i.message}`)
        .join("\n")}`,
    );
  }
}
