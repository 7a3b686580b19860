/**
 * The writer thread's entry: the store side of src/writer/core.ts (write path and forwarder) in a worker thread, behind
 * the messages of src/writer/protocol.ts. Logs to stderr itself, with the daemon's level.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { ForwarderEvent } from "../forward/index.js";
import { systemClock } from "../shared/clock.js";
import { isDaemonError } from "../shared/errors.js";
import { createLogger } from "../shared/log.js";
import { openKeys, startWriter, type Writer } from "./core.js";
import type { FromWriter, ThreadError, ToWriter, WriterThreadData } from "./protocol.js";

const port = parentPort;
if (!port) throw new Error("src/writer/thread.ts runs only as a worker thread");
const data = workerData as WriterThreadData;
const log = createLogger({ level: data.config.log.level }).child({ thread: "writer" });
const post = (message: FromWriter): void => port.postMessage(message);
const describe = (error: unknown): ThreadError =>
  isDaemonError(error)
    ? { code: error.code, message: error.message }
    : { message: error instanceof Error ? error.message : String(error) };

let writer: Writer | undefined;
try {
  writer = startWriter({
    config: data.config,
    keys: openKeys(data.config, data.env, log),
    clock: systemClock,
    log,
    ...(data.forwarderEvents ? { onForwarderEvent: (event: ForwarderEvent) => post({ t: "forwarder", event }) } : {}),
  });
} catch (error) {
  post({ t: "fatal", error: describe(error) });
  port.close();
}

if (writer) {
  const w = writer;
  post({ t: "ready", heads: w.heads(data.streams) });
  port.on("message", (m: ToWriter) => {
    switch (m.t) {
      case "chunks":
        w.adoptChunks(m.chunks);
        return;
      case "record":
        w.record(m.input).then(
          (outcome) => post({ t: "outcome", id: m.id, outcome }),
          (error: unknown) => post({ t: "threw", id: m.id, error: describe(error) }),
        );
        return;
      case "quarantine":
        try {
          w.quarantine(m.q);
        } catch (error) {
          log.error({ err: error, code: m.q.code, bytes: m.q.raw.length }, "quarantine failed");
        }
        return;
      case "port":
        w.portEvent(m.entry);
        return;
      case "identity":
        try {
          post({ t: "identity", id: m.id, observation: w.identity(m.registerId, m.identity, m.at) });
        } catch (error) {
          post({ t: "identity-failed", id: m.id, error: describe(error) });
        }
        return;
      case "stop":
        void w.stop().then(
          () => {
            post({ t: "stopped" });
            port.close();
          },
          (error: unknown) => {
            log.error({ err: error }, "writer stop failed");
            post({ t: "stopped" });
            port.close();
          },
        );
        return;
    }
  });
}
