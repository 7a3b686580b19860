/**
 * The sandbox on its own thread (bench/drain.ts): the T-VAN it stands for runs on another machine, so a benchmark
 * gives it its own core instead of sharing the daemon's event loop. Started as a worker with the plain-data
 * {@link SandboxOptions} as `workerData`; posts `{ url }` once it listens and serves until the worker is terminated.
 */
import { isMainThread, parentPort, workerData } from "node:worker_threads";
import { type SandboxOptions, startSandbox } from "./server.js";

if (!isMainThread && parentPort) {
  const port = parentPort;
  const sandbox = await startSandbox(workerData as SandboxOptions);
  port.postMessage({ url: sandbox.url });
}
