/**
 * `hoadon status` per register, against the real daemon: whether hoadon runs (a clean stop and a kill -9 told
 * apart), a serial port that cannot be opened, then connected once the simulator's cable is there, the sales of the
 * day, and a tap's printer that is not there.
 */
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it, vi } from "vitest";
import { identityPins } from "../../src/store/journal.js";
import { runHoadon, spawnHoadon } from "../support/cli.js";
import { startDaemon } from "../support/daemon.js";
import { freePort } from "../support/net.js";

interface Status {
  daemon: { state: string; run?: { pid: number } };
  registers: {
    id: string;
    ports: { side: string; state: string; error?: string }[];
    today: number;
    last?: { receiptId: string };
    held: number;
  }[];
}

async function status(file: string): Promise<Status> {
  const run = await runHoadon(["status", "--config", file, "--json"]);
  expect(run.code, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Status;
}

describe("hoadon status per register", () => {
  it("says when a serial port cannot be opened, then that it is connected, and the day's sales", {
    timeout: 120_000,
  }, async () => {
    const link = (dir: string) => join(dir, "quay1");
    const { dir, file, daemon, stop } = await startDaemon("ndjson-v1", undefined, undefined, link);
    try {
      // No cable yet: hoadon keeps trying, and status says why it cannot.
      await vi.waitFor(
        async () => {
          const s = await status(file);
          expect(s.daemon.state).toBe("running");
          expect(s.registers[0]!.ports).toEqual([expect.objectContaining({ side: "register", state: "failing" })]);
          expect(s.registers[0]!.ports[0]!.error).toMatch(/ENOENT|No such file/);
        },
        { timeout: 20_000, interval: 300 },
      );
      const text = await runHoadon(["status", "--config", file]);
      expect(text.stdout).toContain("hoadon: đang chạy");
      expect(text.stdout).toContain("CANNOT OPEN THE PORT since");
      // The simulator brings the cable and sells; its cable stays until it ends.
      const sim = await runHoadon([
        "simulate",
        "register",
        "--port",
        `pty:${link(dir)}`,
        "--count",
        "3",
        "--seed",
        "9",
      ]);
      expect(sim.code, sim.stderr).toBe(0);
      const after = await status(file);
      expect(after.registers[0]).toMatchObject({ id: "quay-1", today: 3, held: 0 });
      expect(after.registers[0]!.last?.receiptId).toBeDefined();
      // The simulator took its cable away when it ended: down (or failing again, once hoadon tried to reopen it).
      expect(["down", "failing"]).toContain(after.registers[0]!.ports[0]!.state);
      // A register that sells slowly (9600 baud): connected while it does.
      const during = spawnHoadon([
        ...["simulate", "register", "--port", `pty:${link(dir)}`, "--count", "40", "--seed", "10", "--baud", "19200"],
      ]);
      await vi.waitFor(
        async () => {
          const s = await status(file);
          expect(s.registers[0]!.ports[0]!.state).toBe("up");
          expect(s.registers[0]!.today).toBeGreaterThan(3);
        },
        { timeout: 20_000, interval: 100 },
      );
      expect((await runHoadon(["status", "--config", file])).stdout).toContain("connected since");
      during.kill("SIGTERM");
      await during.done;
      daemon.kill("SIGTERM");
      await daemon.done;
      const stopped = await status(file);
      expect(stopped.daemon.state).toBe("stopped");
      expect(stopped.registers[0]!.ports).toEqual([]);
      expect((await runHoadon(["status", "--config", file])).stdout).toContain("hoadon: đã dừng lúc");
      // The register's device as it reported itself, pinned as the daemon pins it; then swapped an hour ago.
      const w = new Database(join(dir, "hoadon.sqlite"));
      const pin = identityPins(w);
      pin("quay-1", { model: "FP-700", serial: "DT000001", firmware: "1.0" }, Date.now() - 86_400_000);
      pin("quay-1", { model: "FP-700", serial: "DT000099", firmware: "1.0" }, Date.now() - 3_600_000);
      w.close();
      const swapped = await runHoadon(["status", "--config", file]);
      expect(swapped.stdout).toMatch(
        /máy \/ device: FP-700 · S\/N DT000099 · firmware 1\.0 · từ \/ since .* · ĐÃ ĐỔI \/ CHANGED \(serial\) .*, trước đó \/ before: FP-700 · S\/N DT000001 · firmware 1\.0/,
      );
      expect((await status(file)).registers[0]).toMatchObject({
        identity: { serial: "DT000099", changed: { fields: ["serial"], previous: { serial: "DT000001" } } },
      });
    } finally {
      await stop();
    }
  });

  it("tells a kill -9 (or a power cut) from a clean stop, and the audit report names the gap", {
    timeout: 60_000,
  }, async () => {
    const { dir, file, sandbox, daemon } = await startDaemon("ndjson-v1");
    try {
      await vi.waitFor(async () => expect((await status(file)).daemon.state).toBe("running"), {
        timeout: 20_000,
        interval: 200,
      });
      // Its register listens on TCP and nobody has connected: status says it waits.
      await vi.waitFor(
        async () =>
          expect((await runHoadon(["status", "--config", file])).stdout).toContain("waiting for it to connect"),
        { timeout: 10_000, interval: 200 },
      );
      // One daemon per store: a second one on the same config is refused, and the first goes on.
      const second = await runHoadon(["run", "--config", file]);
      expect(second.code, second.stderr).toBe(75);
      expect(second.stderr).toContain("Another hoadon is already running");
      expect((await status(file)).daemon).toMatchObject({ state: "running", run: { pid: daemon.pid } });
      daemon.kill("SIGKILL");
      await daemon.done;
      const s = await status(file);
      expect(s.daemon.state).toBe("stopped-unclean");
      expect((await runHoadon(["status", "--config", file])).stdout).toContain("stopped without closing");
      // Started again: the auditor's outage report names the gap, from the last sign of life to the new start.
      const again = spawnHoadon(["run", "--config", file]);
      try {
        await vi.waitFor(async () => expect((await status(file)).daemon.state).toBe("running"), {
          timeout: 20_000,
          interval: 200,
        });
      } finally {
        again.kill("SIGTERM");
        await again.done;
      }
      const db = join(dir, "hoadon.sqlite");
      const report = await runHoadon(["audit", "outages", "--db", db, "--json"]);
      expect(report.code, report.stderr).toBe(0);
      const kinds = (JSON.parse(report.stdout) as { lines: { outages: { kind: string }[] } }).lines.outages.map(
        (o) => o.kind,
      );
      expect(kinds).toEqual(["hoadon-not-closed", "hoadon-stopped"]);
      const txt = (await runHoadon(["audit", "outages", "--db", db])).stdout;
      expect(txt).toContain("hoadon stopped without closing");
    } finally {
      await sandbox.close();
    }
  });

  it("shows a tap's printer that is not there, beside its register", { timeout: 60_000 }, async () => {
    const nobody = await freePort();
    const { file, stop } = await startDaemon("datecs-isl-v1", { role: "tap" }, `tcp://127.0.0.1:${nobody}`);
    try {
      await vi.waitFor(
        async () => {
          const s = await status(file);
          expect(s.registers[0]!.ports).toEqual([
            expect.objectContaining({ side: "register", state: "listening" }),
            expect.objectContaining({ side: "device", state: "failing", error: expect.stringMatching(/ECONNREFUSED/) }),
          ]);
        },
        { timeout: 20_000, interval: 300 },
      );
      const text = (await runHoadon(["status", "--config", file])).stdout;
      expect(text).toMatch(/thiết bị \/ device \(tcp:\/\/127\.0\.0\.1:\d+\): KHÔNG MỞ ĐƯỢC CỔNG/);
      // The register side listens and nobody has connected yet.
      expect(text).toMatch(/quay-1 \(tcp-listen:\/\/127\.0\.0\.1:\d+\): đang chờ máy kết nối/);
    } finally {
      await stop();
    }
  });
});
