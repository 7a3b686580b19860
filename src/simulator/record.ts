/**
 * `hoadon simulate register --record FILE.cap`: what went over the register's line, as a capture file (style.md
 * Part 4) — `<` what the simulated register wrote (after `--faults`: what was really on the wire), `>` what hoadon
 * answered — with a note where the line dropped and came back. `hoadon decode`, `--replay` and the tests read it.
 */
import { writeFileSync } from "node:fs";
import { formatCaptureChunk } from "../ingest/capture.js";
import type { PortConnection } from "../ingest/connection.js";

export interface LineRecorder {
  /** The same connection, its writes and reads recorded (a new connection after the first notes a drop). */
  wrap(conn: PortConnection): PortConnection;
  /** Write the capture file. */
  save(): void;
}

export function lineRecorder(file: string, headers: Readonly<Record<string, string>>): LineRecorder {
  let text = Object.entries(headers)
    .map(([k, v]) => `# ${k}: ${v}\n`)
    .join("");
  let last: number | undefined;
  let connections = 0;
  const chunk = (direction: "in" | "out", bytes: Uint8Array): void => {
    if (bytes.length === 0) return;
    const now = performance.now();
    text += formatCaptureChunk(last === undefined ? 0 : now - last, direction, bytes, 16);
    last = now;
  };
  return {
    wrap(conn) {
      if (connections++ > 0) text += "# disconnected: unplugged\n";
      text += `# connected: ${conn.description}\n`;
      const write = async (bytes: Uint8Array): Promise<void> => {
        chunk("in", bytes);
        return conn.write(bytes);
      };
      // Recorded through the register's own listener (one at a time: the sender, then a day close …), so bytes that
      // came before anyone listened still go to the register.
      let recording: object | undefined;
      const onData = (listener: (bytes: Uint8Array) => void): (() => void) => {
        const token = {};
        recording ??= token;
        const stop = conn.onData((bytes) => {
          if (recording === token) chunk("out", bytes);
          listener(bytes);
        });
        return () => {
          stop();
          if (recording === token) recording = undefined;
        };
      };
      // The same connection in all else (its getters keep reading the real one).
      return Object.create(conn, { write: { value: write }, onData: { value: onData } }) as PortConnection;
    },
    save() {
      writeFileSync(file, text);
    },
  };
}
