/** Replaying a capture's register side: only `<` chunks, one write each, in order, the line dropped where noted. */
import { describe, expect, it } from "vitest";
import { parseCapture } from "../../src/ingest/capture.js";
import { createMemoryLink, type PortConnection } from "../../src/ingest/connection.js";
import { replayRegisterSide } from "../../src/simulator/replay.js";

const CAPTURE = `# register: quay-1
+0     < 01 02
+5     > 06
+5     <d 99
+5     < 03
# disconnected: closed
# connected: tcp 127.0.0.1:5000
+20    < 04 05
`;

describe("replayRegisterSide", () => {
  it("writes the register's chunks as they were read, and connects again after a noted drop", async () => {
    const lines: number[][][] = [];
    const connect = async (): Promise<PortConnection> => {
      const { a, b } = createMemoryLink();
      const got: number[][] = [];
      lines.push(got);
      b.onData((bytes) => {
        got.push([...bytes]);
        void b.write(Uint8Array.of(0x06)); // hoadon answers each chunk
      });
      return a;
    };
    const report = await replayRegisterSide(parseCapture(CAPTURE), connect, { maxGapMs: 20 });
    expect(lines).toEqual([[[1, 2], [3]], [[4, 5]]]);
    expect(report).toMatchObject({ chunks: 3, bytes: 5, reconnects: 1, stoppedBy: "done" });
    expect(report.answered).toBe(3);
  });

  it("stops when the other side closes the line", async () => {
    const connect = async (): Promise<PortConnection> => {
      const { a, b } = createMemoryLink();
      b.onData(() => void b.close());
      return a;
    };
    const report = await replayRegisterSide(parseCapture(CAPTURE), connect, { maxGapMs: 5 });
    expect(report.stoppedBy).toBe("closed");
    expect(report.chunks).toBe(1);
  });
});
