/** The driver registry seen through the narrow interface config loading needs. */
import { driverById, drivers } from "../drivers/index.js";
import type { DriverCatalogue } from "./config/load.js";

export const driverCatalogue: DriverCatalogue = {
  get: (id) => driverById(id),
  ids: () => drivers.map((d) => d.id),
};
