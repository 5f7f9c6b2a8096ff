/**
 * `Event`: a one-shot flag that tasks can wait for (Trio §1.5). There is deliberately no `clear()`:
 * an event happens once, and resetting one races with the tasks it just woke. Make a new `Event` for
 * the next occurrence.
 */
import { checkpoint } from "./checkpoint.js";
import { currentStatus } from "./current.js";
import { Abort, Waiter, rescheduleWaiter } from "./waiter.js";

/** Statistics of an `Event`. */
export interface EventStatistics {
  /** Tasks parked in `wait()`. */
  tasksWaiting: number;
}

/** A parked `wait()`. Overrides `_abort` so a wait costs no closure. */
class EventWait extends Waiter<void> {
  constructor(readonly event: Event) {
    super("Event.wait()");
  }
  override _abort(): Abort {
    this.event._waiters.delete(this);
    return Abort.SUCCEEDED;
  }
}

/**
 * A flag that starts unset and can be set once; `wait()` parks until it is set.
 *
 * @example
 * ```ts
 * const ready = new Event();
 * await openNursery(async (n) => {
 *   n.startSoon(async () => { await ready.wait(); console.log("go"); });
 *   await sleep(10);
 *   ready.set();
 * });
 * ```
 */
export class Event {
  /** @internal Parked waits, in arrival order. */
  readonly _waiters = new Set<EventWait>();
  private flag = false;

  /** True once `set()` has been called. */
  isSet(): boolean {
    return this.flag;
  }

  /** Sets the flag and wakes every waiting task. Idempotent; never a checkpoint. */
  set(): void {
    if (this.flag) return;
    this.flag = true;
    const waiters = this._waiters;
    for (const w of waiters) rescheduleWaiter(w, undefined);
    waiters.clear();
  }

  /**
   * Waits until the event is set. A checkpoint when it is already set; otherwise parks (cancellable,
   * and a cancelled wait leaves nothing behind).
   */
  wait(): Promise<void> {
    if (this.flag) return checkpoint();
    const w = new EventWait(this);
    this._waiters.add(w);
    return w._park(currentStatus(), null);
  }

  /** `{ tasksWaiting }`: how many waits are parked. */
  statistics(): EventStatistics {
    return { tasksWaiting: this._waiters.size };
  }
}
