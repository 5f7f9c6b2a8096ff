import { defineConfig } from "vitest/config";

// Tests, like examples and the type-check, import @quartet/* from their
// TypeScript sources through the package exports condition "quartet-source".
// With Vite >= 6 the tests run in Vite's "ssr" environment, whose conditions
// come from `ssr.resolve.conditions` (top-level `resolve.conditions` only
// reaches the client environment); vitest also passes them to its workers as
// `--conditions`. Both lists are added to the defaults (node,
// development|production), not substituted for them.
const conditions = ["quartet-source"];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  // Transform target for test files and sources: Node 20 is the oldest Node we
  // support, and it cannot parse `using` / `await using`; at this target the
  // transform (oxc, in Vite 8) lowers them, so tests may use them.
  oxc: { target: "node20" },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/**/*.test.ts", "test/**/*.test.ts"],
    testTimeout: 20_000,
    // Unhandled errors and rejections fail the run: vitest's default, which
    // `dangerouslyIgnoreUnhandledErrors` would turn off. Do not set it.
    reporters: ["default", "json"],
    outputFile: {
      json: process.env.QUARTET_TEST_REPORT ?? "test-results/vitest.json",
    },
  },
});
