import { createTestIdentity } from "../../src/sign/index.js";
import { spawnHoadon } from "./cli.js";
import { startDemoSandbox, writeDemoConfig } from "./demo-config.js";
import { freePort } from "./net.js";
import { tempDir } from "./tmp.js";

/**
 * The sandbox and `hoadon run` with one register `quay-1` of `driver` (with `options`, and `devicePort` for a
 * two-port role) listening on a free TCP port (or reading `registerPort`), in a new temp dir holding the config
 * (`file`) and the store (`hoadon.sqlite`). `stop()` ends both.
 */
export async function startDaemon(
  driver = "datecs-isl-v1",
  options?: Record<string, unknown>,
  devicePort?: string,
  registerPort?: (dir: string) => string,
) {
  const dir = tempDir();
  const port = await freePort();
  const identity = createTestIdentity({ commonName: "Quán thử", taxCode: "0100000001" });
  const sandbox = await startDemoSandbox(identity, { replyDelayMs: 50 });
  const { file } = writeDemoConfig(dir, {
    identity,
    authorityUrl: sandbox.url,
    registers: [
      {
        id: "quay-1",
        driver,
        port: registerPort ? registerPort(dir) : `tcp-listen://127.0.0.1:${port}`,
        ...(devicePort ? { devicePort } : {}),
        ...(options ? { options } : {}),
      },
    ],
  });
  const daemon = spawnHoadon(["run", "--config", file]);
  /** Stop the daemon (SIGTERM, awaited) and the sandbox: each test's teardown. */
  const stop = async (): Promise<void> => {
    daemon.kill("SIGTERM");
    await daemon.done;
    await sandbox.close();
  };
  return { dir, port, file, sandbox, daemon, stop };
}
