import { defineConfig } from "vitest/config";

// PKCS#11 state is per process (one C_Initialize, one login), so every test file gets its own fork.
export default defineConfig({
  test: {
    pool: "forks",
    include: ["test/**/*.test.ts"],
    setupFiles: ["test/helpers/setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
