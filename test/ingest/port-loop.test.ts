/**
 * The port loop's backoff, read from what it reports (`openFailed`'s retry time), with the jitter fixed: a line that
 * works between drops comes back at the shortest wait; one that drops with nothing on it backs off further.
 */
import { describe, expect, it } from "vitest";
import { createMemoryLink, type PortConnection, type PortSource } from "../../src/ingest/connection.js";
import { runPortLoop } from "../../src/ingest/port-loop.js";
import { systemClock } from "../../src/shared/clock.js";
import { silent } from "./helpers.js";

/** Opens alternate: a connection (which `use` handles, then it closes), then one refused open. */
function flappingSource(use: (peer: PortConnection) => Promise<void>): PortSource {
  let n = 0;
  return {
    description: "flapping",
    open(signal: AbortSignal): Promise<PortConnection> {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (n++ % 2 === 1) return Promise.reject(new Error("ECONNREFUSED"));
      const { a, b } = createMemoryLink();
      void use(b).then(() => b.close());
      return Promise.resolve(a);
    },
    close: (): Promise<void> => Promise.resolve(),
  };
}

async function retries(use: (peer: PortConnection) => Promise<void>, rounds: number): Promise<number[]> {
  const abort = new AbortController();
  const waits: number[] = [];
  await runPortLoop({
    source: flappingSource(use),
    signal: abort.signal,
    clock: systemClock,
    log: silent,
    backoff: { minMs: 2, maxMs: 1_000, random: () => 0.5 },
    openFailed: (_message, retryInMs) => {
      waits.push(retryInMs);
      if (waits.length === rounds) abort.abort();
    },
    serve: (conn) =>
      new Promise((resolve) => {
        conn.onData(() => {});
        conn.onClose(resolve);
      }),
    down: () => {},
  });
  return waits;
}

describe("port loop backoff", () => {
  it("starts over after a connection that carried bytes, however short it was", async () => {
    const waits = await retries((peer) => peer.write(Uint8Array.of(0x01)), 6);
    expect(waits).toEqual([4, 4, 4, 4, 4, 4]); // one drop (2 ms) then this refusal (4 ms), every time
  });

  it("keeps growing after connections that drop at once with nothing on them", async () => {
    const waits = await retries(() => Promise.resolve(), 5);
    expect(waits).toEqual([4, 16, 64, 256, 1_000]);
  });
});
