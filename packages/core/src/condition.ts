/**
 * `Condition` (Trio §1.5): a `Lock` plus a queue of tasks waiting for "something changed".
 *
 * `notify` does not wake anyone directly: it *moves* waiters from the condition's lot onto the lock's
 * lot (`repark`), keeping their order. The notified tasks then get the lock by ordinary FIFO hand-off,
 * so each one wakes up already holding it, and a notifier cannot be overtaken by a task that was not
 * waiting.
 */
import { CancelScope } from "./cancel-scope.js";
import { currentTask } from "./current.js";
import { RuntimeError, describe } from "./errors.js";
import { Lock, brokenLockError, type LockStatistics } from "./lock.js";
import { ParkingLot } from "./parking-lot.js";
import { requireCount, requireFunction } from "./validate.js";

/** Statistics of a `Condition`. */
export interface ConditionStatistics {
  /** Tasks parked in `wait()` that have not been notified yet. */
  tasksWaiting: number;
  /** The underlying lock's statistics (notified tasks queue there). */
  lockStatistics: LockStatistics;
}

/**
 * A condition variable: wait, holding a lock, until another task notifies. Always re-check the
 * predicate in a loop after `wait()` returns.
 *
 * @example
 * ```ts
 * const cond = new Condition();
 * const queue: string[] = [];
 * // consumer
 * await cond.withLock(async () => {
 *   while (queue.length === 0) await cond.wait();
 *   handle(queue.shift()!);
 * });
 * // producer
 * await cond.withLock(() => { queue.push("job"); cond.notify(); });
 * ```
 */
export class Condition {
  private readonly lock: Lock;
  private readonly lot = new ParkingLot("Condition");

  /**
   * @param lock The lock to use: exactly a `Lock` (a `StrictFIFOLock` or `Semaphore` → `TypeError`).
   * Default (`undefined` or `null`, like Python's `None`): a new `Lock`.
   */
  constructor(lock?: Lock | null) {
    if (lock === undefined || lock === null) lock = new Lock();
    else if (!(lock instanceof Lock)) throw new TypeError(`Condition: lock must be a Lock, got ${describe(lock)}`);
    this.lock = lock;
  }

  /** Whether the underlying lock is held. */
  locked(): boolean {
    return this.lock.locked();
  }

  /** Takes the underlying lock without blocking (`Lock.acquireNowait`). */
  acquireNowait(): void {
    this.lock.acquireNowait();
  }

  /** Takes the underlying lock (`Lock.acquire`, a checkpoint). */
  acquire(): Promise<void> {
    return this.lock.acquire();
  }

  /** Releases the underlying lock (`Lock.release`). */
  release(): void {
    this.lock.release();
  }

  /**
   * Runs `fn` holding the underlying lock (`Lock.withLock`).
   *
   * @example
   * ```ts
   * await cond.withLock(() => { ready = true; cond.notifyAll(); });
   * ```
   */
  withLock<T>(fn: () => Promise<T> | T): Promise<T> {
    requireFunction("Condition.withLock", "fn", fn);
    return this.lock.withLock(fn);
  }

  /**
   * Releases the lock, waits to be notified, and returns holding the lock again. The caller must hold
   * the lock (`RuntimeError` otherwise). If the wait is cancelled, the lock is still re-acquired
   * (shielded from the cancellation) before the `Cancelled` propagates, so code after a failed `wait()`
   * can rely on holding the lock, e.g. in a `finally`.
   */
  wait(): Promise<void> {
    if (currentTask() !== this.lock._owner) return Promise.reject(new RuntimeError("must hold the lock to wait"));
    this.lock.release();
    return waitNotified(this.lock, this.lot);
  }

  /**
   * Wakes up to `n` waiters (longest-waiting first) by moving them onto the lock's queue; each will
   * return from `wait()` holding the lock. The caller must hold the lock (`RuntimeError` otherwise).
   * `n` is an integer ≥ 0 or `Infinity`.
   */
  notify(n = 1): void {
    requireCount("Condition.notify", "n", n, true);
    this.requireOwner();
    this.lot.repark(this.lock._lot, n);
  }

  /** Wakes every waiter (see `notify`). The caller must hold the lock. */
  notifyAll(): void {
    this.requireOwner();
    this.lot.reparkAll(this.lock._lot);
  }

  /** `{ tasksWaiting, lockStatistics }`. */
  statistics(): ConditionStatistics {
    return { tasksWaiting: this.lot.size, lockStatistics: this.lock.statistics() };
  }

  private requireOwner(): void {
    if (currentTask() !== this.lock._owner) throw new RuntimeError("must hold the lock to notify");
  }
}

/**
 * Parks on the condition's lot; a notify moves the wait onto the lock's lot, and the lock's release
 * wakes it as the new owner. Any failure (cancelled, or the lock broken) re-acquires the lock, shielded,
 * before rethrowing, unless the task already owns it.
 */
async function waitNotified(lock: Lock, lot: ParkingLot): Promise<void> {
  try {
    await lot.park();
  } catch (e) {
    // A wait woken with an error never became the owner (only a successful hand-off sets the owner).
    await new CancelScope({ shield: true }).run(() => lock.acquire());
    throw brokenLockError(lock, e);
  }
}
