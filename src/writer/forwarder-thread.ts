/**
 * The forwarder thread's entry: the forwarder of src/writer/core.ts over a store connection of its own, so building
 * and signing a batch for the T-VAN, and its commits, never delay a receipt. The writer thread wakes it after each
 * commit of new invoices; otherwise it polls. Started once the writer has migrated the store.
 */
import { parentPort, workerData } from "node:worker_threads";
import { systemClock } from "../shared/clock.js";
import { isDaemonError } from "../shared/errors.js";
import { createLogger } from "../shared/log.js";
import { type Db, openStore } from "../store/db.js";
import { type Forwarding, openKeys, startForwarding } from "./core.js";
import type { ForwarderThreadData, FromForwarder, ThreadError, ToForwarder } from "./protocol.js";

const port = parentPort;
if (!port) throw new Error("src/writer/forwarder-thread.ts runs only as a worker thread");
const data = workerData as ForwarderThreadData;
const log = createLogger({ level: data.config.log.level }).child({ thread: "forward" });
const post = (message: FromForwarder): void => port.postMessage(message);
const describe = (error: unknown): ThreadError =>
  isDaemonError(error)
    ? { code: error.code, message: error.message }
    : { message: error instanceof Error ? error.message : String(error) };

let db: Db | undefined;
let forwarding: Forwarding | undefined;
try {
  const keys = openKeys(data.config, data.env, log);
  db = openStore(data.config.store.path);
  // The checkpoint thread and the writer's safety net keep the WAL short; this connection never checkpoints itself.
  db.pragma("wal_autocheckpoint = 0");
  forwarding = startForwarding({
    config: data.config,
    db,
    keys,
    clock: systemClock,
    log,
    ...(data.forwarderEvents ? { onEvent: (event) => post({ t: "forwarder", event }) } : {}),
  });
} catch (error) {
  db?.close();
  post({ t: "fatal", error: describe(error) });
  data.kicks.close();
  port.close();
}

if (forwarding && db) {
  const f = forwarding;
  const store = db;
  data.kicks.on("message", () => f.kick());
  post({ t: "ready" });
  port.on("message", (m: ToForwarder) => {
    if (m.t !== "stop") return;
    data.kicks.close();
    void f
      .stop()
      .catch((error: unknown) => log.error({ err: error }, "forwarder stop failed"))
      .finally(() => {
        store.close();
        post({ t: "stopped" });
        port.close();
      });
  });
}
