/**
 * `ParkingLot`: a FIFO queue of parked waits, the building block for locks, conditions and
 * semaphores. Parking is cancellable and leaves no trace when cancelled; unparking wakes the longest
 * waiter first; `repark` moves waiters to another lot keeping their order; a broken lot fails every
 * present and future `park` with `BrokenResourceError`.
 */
import { currentTask } from "./current.js";
import { BrokenResourceError, describe } from "./errors.js";
import type { Task, TaskBreaker } from "./task.js";
import { Abort, Waiter, rescheduleWaiter, waitTaskRescheduled } from "./waiter.js";

/** Statistics of a `ParkingLot`. */
export interface ParkingLotStatistics {
  tasksWaiting: number;
}

function abortLot(_raise: () => never, w: Waiter): Abort {
  (w.data as ParkingLot)._remove(w);
  return Abort.SUCCEEDED;
}

function requireLotCount(where: string, count: unknown): number {
  if (typeof count !== "number" || (!Number.isInteger(count) && count !== Infinity)) {
    throw new TypeError(`${where}: count must be an integer or Infinity, got ${describe(count)}`);
  }
  if (count < 0) throw new RangeError(`${where}: count must be >= 0, got ${count}`);
  return count;
}

/**
 * A fair queue of parked tasks.
 *
 * @example
 * ```ts
 * const lot = new ParkingLot("my event");
 * n.startSoon(() => lot.park());   // waits
 * lot.unparkAll();                  // wakes it
 * ```
 */
export class ParkingLot implements TaskBreaker {
  private readonly waiters = new Set<Waiter>();
  private brokenBy: Task | null = null;
  /** Shown in deadlock reports. */
  readonly name: string;

  constructor(name = "ParkingLot") {
    if (typeof name !== "string") throw new TypeError(`ParkingLot: name must be a string, got ${describe(name)}`);
    this.name = name;
  }

  /** Number of parked waits. */
  get size(): number {
    return this.waiters.size;
  }

  /** Parks the current task until unparked; resolves with the value given to `unpark`. */
  park(): Promise<unknown> {
    if (this.brokenBy !== null) {
      return Promise.reject(new BrokenResourceError(`parking lot ${this.name} was broken by task ${this.brokenBy.name}`));
    }
    const w = new Waiter(`${this.name}.park()`, this);
    this.waiters.add(w);
    return waitTaskRescheduled(abortLot, w);
  }

  /** Wakes up to `count` waiters, longest-waiting first; returns their tasks. */
  unpark(count = 1): Task[] {
    requireLotCount("ParkingLot.unpark", count);
    const woken: Task[] = [];
    for (const w of this.waiters) {
      if (woken.length >= count) break;
      this.waiters.delete(w);
      woken.push(w.parkedTask!);
      rescheduleWaiter(w, undefined);
    }
    return woken;
  }

  /** Wakes every waiter. */
  unparkAll(): Task[] {
    return this.unpark(Infinity);
  }

  /** Moves up to `count` waiters (longest-waiting first) to `newLot`, keeping their order. */
  repark(newLot: ParkingLot, count = 1): void {
    if (!(newLot instanceof ParkingLot)) throw new TypeError(`ParkingLot.repark: newLot must be a ParkingLot, got ${describe(newLot)}`);
    requireLotCount("ParkingLot.repark", count);
    let moved = 0;
    for (const w of this.waiters) {
      if (moved >= count) break;
      moved++;
      this.waiters.delete(w);
      newLot._adopt(w);
    }
  }

  /** Moves every waiter to `newLot`. */
  reparkAll(newLot: ParkingLot): void {
    this.repark(newLot, Infinity);
  }

  /**
   * Breaks the lot: every parked and future `park()` fails with `BrokenResourceError`. `task` is named
   * in the error (default: the current task).
   */
  breakLot(task?: Task): void {
    const by = task ?? currentTask();
    if (this.brokenBy === null) this.brokenBy = by;
    for (const w of this.waiters) {
      this.waiters.delete(w);
      rescheduleWaiter(w, { error: new BrokenResourceError(`parking lot ${this.name} was broken by task ${by.name}`) });
    }
  }

  statistics(): ParkingLotStatistics {
    return { tasksWaiting: this.waiters.size };
  }

  /** @internal */
  _remove(w: Waiter): void {
    this.waiters.delete(w);
  }

  /** @internal */
  _adopt(w: Waiter): void {
    if (this.brokenBy !== null) {
      rescheduleWaiter(w, { error: new BrokenResourceError(`parking lot ${this.name} was broken by task ${this.brokenBy.name}`) });
      return;
    }
    w.data = this;
    this.waiters.add(w);
  }

  /** @internal TaskBreaker */
  _breakFromExitedTask(task: Task): void {
    this.breakLot(task);
  }
}

/**
 * Breaks `lot` when `task` exits (e.g. a lock's owner exiting without releasing it).
 *
 * @example
 * ```ts
 * addParkingLotBreaker(currentTask(), lot);
 * ```
 */
export function addParkingLotBreaker(task: Task, lot: ParkingLot): void {
  if (!(lot instanceof ParkingLot)) throw new TypeError(`addParkingLotBreaker: lot must be a ParkingLot, got ${describe(lot)}`);
  (task._breakers ??= []).push(lot);
}

/** Undoes `addParkingLotBreaker`. Throws `RangeError` if it was not registered. */
export function removeParkingLotBreaker(task: Task, lot: ParkingLot): void {
  const list = task._breakers;
  const i = list === null ? -1 : list.indexOf(lot);
  if (i < 0) throw new RangeError("removeParkingLotBreaker: this lot is not registered as a breaker for this task");
  list!.splice(i, 1);
}
