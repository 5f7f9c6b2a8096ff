/**
 * `quartetTest`: the one-line way to test Quartet code with vitest (or any runner whose test
 * functions may return a promise). The body runs as the main task of a fresh `run()` on a virtual
 * clock that autojumps by default, so timeouts and sleeps take no real time, a deadlocked test fails
 * with a `Deadlock:` report instead of hanging until the runner's timeout, and every test is isolated
 * from the others' tasks and deadlines. The async-generator guard of `@quartet/core` is installed in
 * `"throw"` mode for the test's duration, so resuming a generator across cancel scopes fails the test.
 */
import { installGeneratorGuard, run } from "@quartet/core";
import { describe, requireFunction, requireOptions } from "./describe.js";
import { MockClock } from "./mock-clock.js";

/** Which clock `quartetTest` runs the body on. */
export type QuartetTestClock = "autojump" | "mock" | MockClock;
/** Generator-guard mode for the test's duration; `"off"` leaves the guard alone. */
export type QuartetTestGuard = "throw" | "warn" | "off";

/** Options of `quartetTest`. */
export interface QuartetTestOptions {
  /**
   * `"autojump"` (default): a fresh `MockClock({ autojumpThreshold: 0 })` per run. `"mock"`: a fresh
   * `MockClock()` that moves only when you `jump`. A `MockClock`: that clock (shared by every run of
   * the test, so its time carries over between retries).
   */
  clock?: QuartetTestClock;
  /** Generator guard mode (default `"throw"`). */
  guard?: QuartetTestGuard;
}

function checkClock(clock: unknown): void {
  if (clock === undefined || clock instanceof MockClock) return;
  if (typeof clock === "string") {
    if (clock === "autojump" || clock === "mock") return;
    throw new RangeError(`quartetTest: opts.clock must be "autojump", "mock" or a MockClock, got ${describe(clock)}`);
  }
  throw new TypeError(`quartetTest: opts.clock must be "autojump", "mock" or a MockClock, got ${describe(clock)}`);
}

function checkGuard(guard: unknown): void {
  if (guard === undefined) return;
  if (typeof guard !== "string") {
    throw new TypeError(`quartetTest: opts.guard must be "throw", "warn" or "off", got ${describe(guard)}`);
  }
  if (guard !== "throw" && guard !== "warn" && guard !== "off") {
    throw new RangeError(`quartetTest: opts.guard must be "throw", "warn" or "off", got ${describe(guard)}`);
  }
}

/**
 * Wraps a test body: returns a function for `test(name, …)` that runs `fn(clock, context)` as the main
 * task of `run()` on a virtual clock, with the generator guard installed, and resolves or rejects as
 * `fn` does (errors come out bare, as from `run`). `clock` is the `MockClock` in use (jump it, or read
 * `clock.currentTime()`); `context` is whatever the runner passes its test functions (vitest's test
 * context). Options are checked when `quartetTest` is called, i.e. when the test is defined.
 *
 * The returned function declares no parameters, so it also works with vitest's `test.extend` fixtures
 * (vitest inspects a test function's first parameter to decide which fixtures to set up).
 *
 * @example
 * ```ts
 * import { test, expect } from "vitest";
 * import { failAfter, sleep, TooSlowError } from "@quartet/core";
 * import { quartetTest } from "@quartet/testing";
 *
 * test("gives up after 5 s", quartetTest(async (clock) => {
 *   await expect(failAfter(5000, () => sleep(60_000))).rejects.toBeInstanceOf(TooSlowError);
 *   expect(clock.currentTime()).toBe(5000); // no real time passed
 * }));
 * ```
 */
export function quartetTest<T, C = unknown>(
  fn: (clock: MockClock, context: C) => Promise<T> | T,
  opts?: QuartetTestOptions,
): (context?: C) => Promise<T> {
  requireFunction("quartetTest", "fn", fn);
  requireOptions("quartetTest", "opts", opts);
  const clockOpt = opts?.clock;
  const guard = opts?.guard ?? "throw";
  checkClock(clockOpt);
  checkGuard(guard);
  return function quartetTestBody(this: unknown): Promise<T> {
    // eslint-disable-next-line prefer-rest-params
    const context = arguments[0] as C;
    const clock =
      clockOpt instanceof MockClock ? clockOpt : new MockClock(clockOpt === "mock" ? undefined : { autojumpThreshold: 0 });
    const uninstall = guard === "off" ? undefined : installGeneratorGuard({ mode: guard as "warn" | "throw" });
    let p: Promise<T>;
    try {
      p = run(() => fn(clock, context), { clock });
    } catch (e) {
      uninstall?.();
      throw e;
    }
    if (uninstall === undefined) return p;
    return p.finally(uninstall);
  } as (context?: C) => Promise<T>;
}
