/**
 * `waitAllTasksBlocked`: parks until every other task has been blocked for `cushionMs` real
 * milliseconds. The runtime's idle detector serves it before autojumping a mock clock (Trio §4.2).
 */
import { currentStatus } from "./current.js";
import type { IdleWaiter } from "./runtime.js";
import { requireDuration } from "./validate.js";
import { Abort, Waiter } from "./waiter.js";

class IdleWait extends Waiter<void> implements IdleWaiter {
  constructor(readonly cushion: number) {
    super("waitAllTasksBlocked");
  }
  override _abort(): Abort {
    this.task!.runtime.removeIdleWaiter(this);
    return Abort.SUCCEEDED;
  }
  _wakeIdle(): void {
    if (this.isParked) this._reschedule(false, undefined);
  }
}

/**
 * Waits until all other tasks are blocked (parked or awaiting foreign work) and nothing has run for
 * `cushionMs` real milliseconds. Waiters with the smallest cushion wake first, together. Cancellable.
 *
 * @example
 * ```ts
 * n.startSoon(() => tx.send(1));
 * await waitAllTasksBlocked();
 * expect(tx.statistics().tasksWaitingSend).toBe(1);
 * ```
 */
export function waitAllTasksBlocked(cushionMs = 0): Promise<void> {
  requireDuration("waitAllTasksBlocked", "cushionMs", cushionMs);
  const s = currentStatus();
  const w = new IdleWait(cushionMs);
  const p = w._park(s, null);
  if (w.isParked) s.runtime.addIdleWaiter(w);
  return p;
}
