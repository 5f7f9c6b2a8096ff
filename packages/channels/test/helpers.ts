// Shared test helpers for @quartet/channels (the same patterns as core's test helpers): runs with leak
// checks, an after-each check that nothing Quartet-owned outlives a test, and checkpoint assertions.
import { afterEach, beforeEach, expect } from "vitest";
import { run, type RunOptions } from "@quartet/core";
import { checkpointCounts, currentStatistics, type RuntimeStatistics } from "@quartet/core/lowlevel";
import { MockClock } from "@quartet/testing";

/** Lets pending immediates (the runtime's check phase, stream callbacks) run. */
export async function settleMacrotasks(turns = 2): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
}

function count(list: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of list) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

/** Asserts a runtime's statistics show nothing left behind. `tasks` is how many tasks may still live. */
export function expectQuiet(stats: RuntimeStatistics, tasks = 0): void {
  expect({
    tasksLiving: stats.tasksLiving,
    waitersParked: stats.waitersParked,
    pendingDeadlines: stats.pendingDeadlines,
    foreignWaits: stats.foreignWaits,
    idleWaiters: stats.idleWaiters,
  }).toEqual({ tasksLiving: tasks, waitersParked: 0, pendingDeadlines: 0, foreignWaits: 0, idleWaiters: 0 });
}

/** After each test: the implicit runtime is quiet and no timers or immediates were left behind. */
export function installLeakCheck(): void {
  let before: Map<string, number>;
  beforeEach(() => {
    before = count(process.getActiveResourcesInfo());
  });
  afterEach(async () => {
    await settleMacrotasks();
    expectQuiet(currentStatistics());
    expect(currentStatistics().hostTimerActive, "the implicit runtime still holds its host timer").toBe(false);
    // vitest's own RPC to the main process can hold a Timeout for a moment on a loaded machine (as in
    // core's helpers): give foreign handles up to ~250 ms to go; a leaked timer would still be there.
    const over = (): string[] => {
      const after = count(process.getActiveResourcesInfo());
      return ["Timeout", "Immediate"].filter((kind) => (after.get(kind) ?? 0) > (before.get(kind) ?? 0));
    };
    for (let i = 0; i < 25 && over().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(over(), "handles left behind").toEqual([]);
  });
}

/** `run(main)` that also checks, when `main` succeeds, that its runtime is quiet at the end. */
export function qrun<T>(main: () => Promise<T>, opts?: RunOptions): Promise<T> {
  return run(async () => {
    const v = await main();
    expectQuiet(currentStatistics(), 1);
    return v;
  }, opts);
}

/** `qrun` on a mock clock that autojumps as soon as every task is blocked. */
export function autojump<T>(main: (clock: MockClock) => Promise<T>): Promise<T> {
  const clock = new MockClock({ autojumpThreshold: 0 });
  return qrun(() => main(clock), { clock });
}

/** Resolves with the rejection reason of `p` (fails if `p` fulfils). */
export async function rejection(p: PromiseLike<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error("expected a rejection, but the promise fulfilled");
}

/** Asserts that `fn` passed at least one cancel point and one schedule point (Trio's assert_checkpoints). */
export async function expectCheckpoints<T>(fn: () => Promise<T>): Promise<T> {
  const before = checkpointCounts();
  const v = await fn();
  const after = checkpointCounts();
  expect(after.cancelPoints, "cancel points").toBeGreaterThan(before.cancelPoints);
  expect(after.schedulePoints, "schedule points").toBeGreaterThan(before.schedulePoints);
  return v;
}

/** Asserts that `fn` passed no checkpoint at all (Trio's assert_no_checkpoints). */
export function expectNoCheckpoints<T>(fn: () => T): T {
  const before = checkpointCounts();
  const v = fn();
  expect(checkpointCounts()).toEqual(before);
  return v;
}
