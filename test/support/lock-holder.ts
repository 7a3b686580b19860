/** Another process holding a store's daemon lock, as a running `hoadon run` does (tests of the lock and of status). */
import { type ChildProcess, spawn } from "node:child_process";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach } from "vitest";

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

/** Another process that takes the lock of `store` (built code, as `hoadon run` does) and keeps it until killed. */
export async function holder(store: string): Promise<{ child: ChildProcess; said: string }> {
  const module = pathToFileURL(resolve("dist/src/store/daemon-lock.js")).href;
  const child = spawn(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { takeDaemonLock } from ${JSON.stringify(module)};
       console.log(takeDaemonLock(process.argv[1]) ? "held" : "busy");
       setInterval(() => {}, 60_000);`,
      store,
    ],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  children.push(child);
  const said = await new Promise<string>((done, fail) => {
    child.stdout!.once("data", (b: Buffer) => done(b.toString("utf8").trim()));
    child.once("exit", (code) => fail(new Error(`holder exited ${code}`)));
  });
  return { child, said };
}

export const killed = (child: ChildProcess): Promise<void> =>
  new Promise((done) => {
    child.once("exit", () => done());
    child.kill("SIGKILL");
  });
