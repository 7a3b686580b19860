import { Worker } from "node:worker_threads";
import { afterEach, describe, expect, it } from "vitest";
import { createHttpXmlGateway } from "../../src/forward/gateway.js";

let worker: Worker | undefined;
afterEach(async () => {
  await worker?.terminate();
  worker = undefined;
});

describe("the sandbox on its own thread (bench/drain.ts)", () => {
  it("listens, says where, and serves the same API until terminated", async () => {
    // Workers run compiled JavaScript: the build in test/global-setup.ts puts it in dist/.
    worker = new Worker(new URL("../../dist/src/sandbox/worker.js", import.meta.url), {
      workerData: { credentials: { username: "u", password: "p" }, replyDelayMs: 0, checkEvery: 20 },
    });
    const url = await new Promise<string>((resolve, reject) => {
      worker?.once("message", (m: { url: string }) => resolve(m.url));
      worker?.once("error", reject);
    });
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const gw = createHttpXmlGateway({ baseUrl: url, username: "u", password: "p" });
    expect((await gw.replies(`0100000099${"B".repeat(32)}`)).kind).toBe("unknown");
  });
});
