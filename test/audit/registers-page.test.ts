/**
 * The audit page's Registers view says whether hoadon runs from the store's daemon lock only: it may read a copy of
 * the store on an auditor's machine, where the recorded pid means nothing, so a run with no recorded stop is said
 * with that doubt rather than as a crash.
 */
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { startAuditHttp } from "../../src/audit/http.js";
import { openStore, openStoreReadOnly } from "../../src/store/db.js";
import { ingestStore } from "../../src/store/ingest.js";
import { holder } from "../support/lock-holder.js";
import { tempDir } from "../support/tmp.js";

/** A store whose last run started (with this test's own pid: alive) and had quay-1 connected, and no stop. */
function storeOfARun(dir: string): string {
  const path = join(dir, "hoadon.sqlite");
  const db = openStore(path);
  const store = ingestStore(db);
  store.event(Date.now() - 60_000, "daemon-start", null, { pid: process.pid, registers: ["quay-1"] });
  store.event(Date.now() - 59_000, "port-up", "quay-1", { side: "register", port: "/dev/ttyUSB0" });
  db.close();
  return path;
}

async function registersPage(path: string): Promise<string> {
  const db = openStoreReadOnly(path);
  const web = await startAuditHttp({ db, port: 0 });
  try {
    return await (await fetch(`${web.url}/registers?lang=en`)).text();
  } finally {
    await web.close();
    db.close();
  }
}

describe("audit page: is hoadon running", () => {
  it("running while a daemon holds the store's lock", async () => {
    const path = storeOfARun(tempDir());
    await holder(path);
    const html = await registersPage(path);
    expect(html).toMatch(/<p id="run">.*<span class="ok">running<\/span>/);
    expect(html).toContain("connected");
  });

  it("a copy taken while hoadon ran: no stop recorded, said with the doubt, its ports as last seen", async () => {
    const live = storeOfARun(tempDir());
    const copy = join(tempDir(), "hoadon.sqlite");
    copyFileSync(live, copy);
    const html = await registersPage(copy);
    // The recorded pid is alive here (this process), and still not taken for hoadon running.
    expect(html).not.toContain(">running<");
    expect(html).toContain("no stop recorded: stopped without closing (power cut, crash?), or this is a copy");
    expect(html).toMatch(/connected.* since /);
  });
});
