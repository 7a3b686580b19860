import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "drivers/**/*.test.ts"],
    // Integration tests open real ptys, sockets and SQLite files; keep files serial so they do not fight
    // over ports and CPU on the 2-core machines.
    fileParallelism: false,
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
