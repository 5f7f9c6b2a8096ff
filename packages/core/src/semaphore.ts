/**
 * `Semaphore` (Trio §1.5): a counter of free units with a FIFO queue of waiters. Unlike a lock it has no
 * owner: any task may release. A release with tasks queued hands its unit straight to the first one, so
 * `value` stays 0 and nobody can barge in between.
 */
import { cancelShieldedCheckpoint, checkCancelled, checkpoint } from "./checkpoint.js";
import { currentStatus } from "./current.js";
import { WouldBlock, describe } from "./errors.js";
import { requireCount, requireFunction, requireOptions } from "./validate.js";
import { Abort, Waiter, rescheduleWaiter } from "./waiter.js";

/** Options of `new Semaphore(initial, opts)`. */
export interface SemaphoreOptions {
  /** Upper bound on `value`; releasing beyond it is an error. `null`/absent: unbounded. */
  max?: number | null;
}

/** Statistics of a `Semaphore`. */
export interface SemaphoreStatistics {
  /** Tasks queued in `acquire()`. */
  tasksWaiting: number;
}

/** A queued `acquire()`. Overrides `_abort` so a wait costs no closure. */
class SemaphoreWait extends Waiter<void> {
  constructor(readonly semaphore: Semaphore) {
    super("Semaphore.acquire()");
  }
  override _abort(): Abort {
    this.semaphore._waiters.delete(this);
    return Abort.SUCCEEDED;
  }
}

/**
 * A counting semaphore. `acquire()` takes a unit (waiting, FIFO, while there is none); `release()`
 * gives one back. With `max`, it is a bounded semaphore that refuses to be released too many times.
 * For "at most N at once" prefer `CapacityLimiter`, which also checks that whoever releases did acquire.
 *
 * @example
 * ```ts
 * const connections = new Semaphore(4);
 * await connections.run(async () => {
 *   await query("SELECT 1");
 * });
 * ```
 */
export class Semaphore {
  /** @internal Queued acquires, in arrival order. */
  readonly _waiters = new Set<SemaphoreWait>();
  private _value: number;
  private readonly _max: number | null;

  /**
   * @param initial Units available at the start: an integer ≥ 0 (`TypeError`/`RangeError` otherwise).
   * @param opts.max Optional bound, an integer ≥ `initial`.
   */
  constructor(initial: number, opts?: SemaphoreOptions) {
    requireCount("Semaphore", "initial", initial, false);
    requireOptions("Semaphore", "opts", opts);
    const max = opts?.max ?? null;
    if (max !== null) {
      requireCount("Semaphore", "opts.max", max, false);
      if (max < initial) {
        throw new RangeError(`Semaphore: opts.max must be >= initial (${initial}), got ${describe(max)}`);
      }
    }
    this._value = initial;
    this._max = max;
  }

  /** Units available now. */
  get value(): number {
    return this._value;
  }

  /** The bound given to the constructor, or `null` when unbounded. */
  get max(): number | null {
    return this._max;
  }

  /**
   * Takes a unit without blocking (never a checkpoint).
   * @throws `WouldBlock` when `value` is 0.
   */
  acquireNowait(): void {
    if (this._value === 0) throw new WouldBlock("Semaphore has no units available");
    this._value--;
  }

  /** Takes a unit, waiting in FIFO order while there is none. A full checkpoint when it succeeds. */
  acquire(): Promise<void> {
    if (checkCancelled()) return checkpoint();
    if (this._value > 0) {
      this._value--;
      return cancelShieldedCheckpoint();
    }
    const w = new SemaphoreWait(this);
    this._waiters.add(w);
    return w._park(currentStatus(), null);
  }

  /**
   * Gives a unit back (any task may; never a checkpoint). With tasks queued, the first one gets the
   * unit and `value` stays 0.
   * @throws `RangeError("semaphore released too many times")` when `value` is already `max`.
   */
  release(): void {
    if (this._max !== null && this._value === this._max) {
      throw new RangeError("semaphore released too many times");
    }
    if (this._waiters.size > 0) {
      const w = this._waiters.values().next().value!;
      this._waiters.delete(w);
      rescheduleWaiter(w, undefined);
      return;
    }
    this._value++;
  }

  /**
   * Runs `fn` holding a unit: acquires (a checkpoint), runs `fn`, releases when `fn` settles. Replaces
   * Python's `async with semaphore:`.
   *
   * @example
   * ```ts
   * const body = await downloads.run(() => fetchText(url));
   * ```
   */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    requireFunction("Semaphore.run", "fn", fn);
    return holding(this, fn);
  }

  /** `{ tasksWaiting }`. */
  statistics(): SemaphoreStatistics {
    return { tasksWaiting: this._waiters.size };
  }
}

/** Releases after `fn` failed; `fn`'s error wins over a release error (see `Lock.withLock`). */
function releaseAfterFailure(sem: Semaphore): void {
  try {
    sem.release();
  } catch {
    // fn's error wins.
  }
}

async function holding<T>(sem: Semaphore, fn: () => Promise<T> | T): Promise<T> {
  await sem.acquire();
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    releaseAfterFailure(sem);
    throw e;
  }
  sem.release();
  return result;
}
