// Test helpers shared by every package's tests: runs that check their runtime is quiet at the end,
// an after-each leak check, virtual-clock runs, checkpoint assertions and a seeded PRNG.
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

/**
 * Registers before/after-each hooks: after each test, the implicit runtime is quiet, holds no host
 * timer, and the process holds no more timers or immediates than before the test.
 */
export function installLeakCheck(): void {
  let before: Map<string, number>;
  beforeEach(() => {
    before = count(process.getActiveResourcesInfo());
  });
  afterEach(async () => {
    await settleMacrotasks();
    expectQuiet(currentStatistics());
    expect(currentStatistics().hostTimerActive, "the implicit runtime still holds its host timer").toBe(false);
    // vitest's own RPC to the main process can hold a Timeout for a moment on a loaded machine, so
    // give foreign handles up to ~250 ms to go; a leaked Quartet timer would still be there.
    const over = (): string[] => {
      const after = count(process.getActiveResourcesInfo());
      return ["Timeout", "Immediate"].filter((kind) => (after.get(kind) ?? 0) > (before.get(kind) ?? 0));
    };
    for (let i = 0; i < 25 && over().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(over(), "handles left behind").toEqual([]);
  });
}

/**
 * `run(main)` that also checks, when `main` succeeds, that its runtime is quiet at the end (only the
 * main task alive, nothing parked, no deadline pending).
 */
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

/** `qrun` on a mock clock that only moves when jumped. */
export function mock<T>(main: (clock: MockClock) => Promise<T>): Promise<T> {
  const clock = new MockClock();
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

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence on every run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
