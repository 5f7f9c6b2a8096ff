/**
 * Sleeping. A sleep is one waiter that is also a deadline-heap entry: no cancel scope, no timer of its
 * own. That keeps a parked sleeper small (the task, its frames, this waiter) and lets 100k sleepers
 * share the runtime's single host timer.
 */
import { checkpoint } from "./checkpoint.js";
import { currentStatus } from "./current.js";
import type { DeadlineEntry } from "./deadline-heap.js";
import { RuntimeError } from "./errors.js";
import { requireDeadline, requireDuration } from "./validate.js";
import { Abort, Waiter } from "./waiter.js";

class SleepWaiter extends Waiter<void> implements DeadlineEntry {
  deadline: number;
  heapIndex = -1;
  heapSeq = 0;
  constructor(deadline: number) {
    super("sleep");
    this.deadline = deadline;
  }
  override _abort(): Abort {
    this.task!.runtime.removeDeadline(this);
    return Abort.SUCCEEDED;
  }
  expireDeadline(): void {
    if (this.isParked) this._reschedule(false, undefined);
  }
}

class ForeverWaiter extends Waiter<never> {
  constructor() {
    super("sleepForever");
  }
  override _abort(): Abort {
    return Abort.SUCCEEDED;
  }
  override _run(): void {
    if (!this.failed) {
      this.failed = true;
      this.outcome = new RuntimeError("sleepForever() was woken by reschedule(); only cancellation may end it");
    }
    super._run();
  }
}

/**
 * Sleeps for `ms` milliseconds of runtime-clock time. `sleep(0)` is exactly `checkpoint()`.
 * Raises `Cancelled` if cancelled meanwhile.
 *
 * @example
 * ```ts
 * await sleep(250);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  requireDuration("sleep", "ms", ms);
  if (ms === 0) return checkpoint();
  const s = currentStatus();
  return sleepIn(s, s.runtime.clock.currentTime() + ms);
}

/**
 * Sleeps until the runtime clock reaches `deadline` (absolute ms, see `currentTime()`). A deadline in
 * the past is just a checkpoint.
 *
 * @example
 * ```ts
 * await sleepUntil(currentTime() + 1000);
 * ```
 */
export function sleepUntil(deadline: number): Promise<void> {
  requireDeadline("sleepUntil", "deadline", deadline);
  const s = currentStatus();
  if (deadline <= s.runtime.clock.currentTime()) return checkpoint();
  return sleepIn(s, deadline);
}

function sleepIn(s: ReturnType<typeof currentStatus>, deadline: number): Promise<void> {
  if (deadline === Infinity) return sleepForever();
  const w = new SleepWaiter(deadline);
  const p = w._park(s, null);
  if (w.isParked) s.runtime.addDeadline(w);
  return p;
}

/**
 * Parks until cancelled; never returns normally.
 *
 * @example
 * ```ts
 * await moveOnAfter(1000, () => sleepForever());
 * ```
 */
export function sleepForever(): Promise<never> {
  return new ForeverWaiter()._park(currentStatus(), null);
}
