/**
 * The explicit driver registry (style.md §3.1): no filesystem scanning, so renaming a folder breaks the build, not
 * production. test/drivers.test.ts checks that every folder under drivers/ is listed here.
 */
import type { Driver } from "../src/driver-api/index.js";
import { datecsIsl } from "./datecs-isl/index.js";
import { escposTap } from "./escpos-tap/index.js";
import { ndjson } from "./ndjson/index.js";

/** Every driver hoadon ships, in the order `hoadon` lists them. */
export const drivers = [ndjson, datecsIsl, escposTap] as const satisfies readonly Driver<unknown>[];

/** Any registered driver. */
export type AnyDriver = (typeof drivers)[number];

/** The driver with this id, or `undefined`. */
export function driverById(id: string): AnyDriver | undefined {
  return drivers.find((d) => d.id === id);
}
