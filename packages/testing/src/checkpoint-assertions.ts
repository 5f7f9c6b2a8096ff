/**
 * `assertCheckpoints` / `assertNoCheckpoints`: check that an operation is (or is not) a checkpoint
 * (Trio §4.4). Every task counts its *cancel points* (each park, `checkpoint`, `checkpointIfCancelled`)
 * and its *schedule points* (each yield to the scheduler); a full checkpoint moves both. The helpers
 * compare the counters of the calling task before and after `fn`, so work done by other tasks
 * meanwhile does not count.
 */
import { AssertionError } from "node:assert";
import { checkpointCounts, currentTask, type CheckpointCounts } from "@quartet/core/lowlevel";
import { requireFunction } from "./describe.js";

function delta(before: CheckpointCounts, after: CheckpointCounts): string {
  return `cancel points +${after.cancelPoints - before.cancelPoints}, schedule points +${after.schedulePoints - before.schedulePoints}`;
}

/**
 * Runs `fn` in the current task and, if it completes normally, asserts that it executed at least one
 * cancel point **and** at least one schedule point (a cancel point alone, like
 * `checkpointIfCancelled()` in an uncancelled scope, is not enough). If `fn` throws, its error passes
 * through unchecked (an operation that fails may or may not have checkpointed). Resolves with `fn`'s
 * value; on failure rejects with an `AssertionError` from `node:assert`.
 *
 * @example
 * ```ts
 * await assertCheckpoints(() => tx.send(1)); // a successful send is a full checkpoint
 * ```
 */
export function assertCheckpoints<T>(fn: () => Promise<T> | T): Promise<T> {
  requireFunction("assertCheckpoints", "fn", fn);
  const task = currentTask();
  const before = checkpointCounts(task);
  return expectYield(task, before, fn);
}

async function expectYield<T>(task: ReturnType<typeof currentTask>, before: CheckpointCounts, fn: () => Promise<T> | T): Promise<T> {
  const value = await fn();
  const after = checkpointCounts(task);
  if (after.cancelPoints === before.cancelPoints || after.schedulePoints === before.schedulePoints) {
    throw new AssertionError({
      message: `assertCheckpoints: the block did not yield! A checkpoint needs both a cancel point and a schedule point (${delta(before, after)})`,
      actual: delta(before, after),
      expected: "cancel points +1 or more, schedule points +1 or more",
      operator: "assertCheckpoints",
    });
  }
  return value;
}

/**
 * Runs `fn` in the current task and asserts that it executed neither a cancel point nor a schedule
 * point. Checked even when `fn` throws (then the `AssertionError` replaces the error, which becomes
 * its `cause`). Resolves with `fn`'s value.
 *
 * @example
 * ```ts
 * await assertNoCheckpoints(() => tx.sendNowait(1)); // sync operations never checkpoint
 * ```
 */
export function assertNoCheckpoints<T>(fn: () => Promise<T> | T): Promise<T> {
  requireFunction("assertNoCheckpoints", "fn", fn);
  const task = currentTask();
  const before = checkpointCounts(task);
  return expectNoYield(task, before, fn);
}

async function expectNoYield<T>(task: ReturnType<typeof currentTask>, before: CheckpointCounts, fn: () => Promise<T> | T): Promise<T> {
  let failed = false;
  let error: unknown;
  let value: T | undefined;
  try {
    value = await fn();
  } catch (e) {
    failed = true;
    error = e;
  }
  const after = checkpointCounts(task);
  if (after.cancelPoints !== before.cancelPoints || after.schedulePoints !== before.schedulePoints) {
    const err = new AssertionError({
      message: `assertNoCheckpoints: the block yielded! (${delta(before, after)})`,
      actual: delta(before, after),
      expected: "cancel points +0, schedule points +0",
      operator: "assertNoCheckpoints",
    });
    if (failed) (err as { cause?: unknown }).cause = error;
    throw err;
  }
  if (failed) throw error;
  return value as T;
}
