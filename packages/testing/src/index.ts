/**
 * @quartet/testing: virtual time and helpers for testing concurrent code.
 *
 * @example
 * ```ts
 * import { test, expect } from "vitest";
 * import { moveOnAfter, sleep, currentTime } from "@quartet/core";
 * import { quartetTest } from "@quartet/testing";
 *
 * test("a minute passes instantly", quartetTest(async () => {
 *   await moveOnAfter(60_000, () => sleep(3_600_000));
 *   expect(currentTime()).toBe(60_000);
 * }));
 * ```
 * @module @quartet/testing
 */
export { MockClock, type MockClockOptions } from "./mock-clock.js";
export { waitAllTasksBlocked } from "@quartet/core/lowlevel";
export { Sequencer } from "./sequencer.js";
export { assertCheckpoints, assertNoCheckpoints } from "./checkpoint-assertions.js";
export {
  expectGroup,
  matchesGroup,
  type GroupShape,
  type GroupShapeItem,
  type ErrorClass,
  type ErrorPredicate,
} from "./group-matchers.js";
export {
  quartetTest,
  type QuartetTestOptions,
  type QuartetTestClock,
  type QuartetTestGuard,
} from "./quartet-test.js";
