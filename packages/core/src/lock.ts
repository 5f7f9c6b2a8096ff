/**
 * `Lock` and `StrictFIFOLock` (Trio §1.5): a single-owner, non-re-entrant mutex with FIFO hand-off.
 *
 * Fairness comes from passing ownership *directly* to the longest waiter on `release()`: the lock never
 * looks free while tasks are queued, so a releasing task that loops back to `acquire` queues behind
 * them instead of barging in. The cost is a task switch per hand-off; that is the point of a fair lock.
 *
 * The owner is `currentTask()`, and the lock registers itself with the owner so that an owner exiting
 * without releasing breaks it (every queued and future acquirer gets `BrokenResourceError`) instead of
 * leaving the other tasks deadlocked.
 */
import { cancelShieldedCheckpoint, checkCancelled, checkpoint } from "./checkpoint.js";
import { currentTask } from "./current.js";
import { BrokenResourceError, RuntimeError, WouldBlock } from "./errors.js";
import { ParkingLot, addParkingLotBreaker, removeParkingLotBreaker } from "./parking-lot.js";
import type { Task } from "./task.js";
import { requireFunction } from "./validate.js";

/** Statistics of a `Lock` or `StrictFIFOLock`. */
export interface LockStatistics {
  /** Whether some task owns the lock. */
  locked: boolean;
  /** The owning task, or `null`. After the owner exited holding the lock, still that task. */
  owner: Task | null;
  /** Tasks queued in `acquire()`. */
  tasksWaiting: number;
}

/** What `tryAcquire` found. */
const ACQUIRED = true;
const MUST_WAIT = false;

/**
 * The shared implementation of `Lock` and `StrictFIFOLock` (exported for the type declarations only).
 * The two public classes are siblings rather than one extending the other, so `Condition` can accept
 * exactly a `Lock`, as Trio does.
 */
export abstract class LockBase {
  /** @internal FIFO of tasks waiting for ownership; `Condition` reparks its waiters here. */
  readonly _lot: ParkingLot;
  /** @internal The owner; stays set to the exited task when the lock is broken. */
  _owner: Task | null = null;
  /** @internal The class name, for messages. */
  readonly _kind: string;

  /**
   * @internal Rejection handler of a parked `acquire()`; one per lock rather than a closure per wait.
   * The lot only knows that it was broken; this says what that means for a lock.
   */
  private readonly _onParkError: (e: unknown) => never;

  /** @internal */
  constructor(kind: string) {
    this._kind = kind;
    this._lot = new ParkingLot(kind);
    this._onParkError = (e) => {
      throw brokenLockError(this, e);
    };
  }

  /** Whether some task holds the lock. */
  locked(): boolean {
    return this._owner !== null;
  }

  /**
   * Takes the lock without blocking (never a checkpoint).
   * @throws `RuntimeError` if the current task already holds it; `WouldBlock` if another task holds it
   * or tasks are queued for it.
   */
  acquireNowait(): void {
    if (!this.tryAcquire(currentTask())) throw new WouldBlock(`${this._kind} is held by another task`);
  }

  /**
   * Waits for the lock and takes it. Always a full checkpoint when it succeeds; a cancelled acquire
   * leaves no queue entry. Rejects with `RuntimeError` if the current task already holds it, and with
   * `BrokenResourceError` if a previous owner exited without releasing it.
   */
  acquire(): Promise<void> {
    if (checkCancelled()) return checkpoint();
    let acquired: boolean;
    try {
      acquired = this.tryAcquire(currentTask());
    } catch (e) {
      return Promise.reject(e);
    }
    if (acquired) return cancelShieldedCheckpoint();
    return this._lot.park().then(undefined, this._onParkError) as Promise<void>;
  }

  /**
   * Releases the lock (never a checkpoint). If tasks are queued, the longest-waiting one becomes the
   * owner at once.
   * @throws `RuntimeError` if the current task does not own the lock.
   */
  release(): void {
    const task = currentTask();
    const owner = this._owner;
    if (owner !== task) throw new RuntimeError(`can't release a ${this._kind} you don't own`);
    removeParkingLotBreaker(owner, this._lot);
    if (this._lot.size > 0) {
      const next = this._lot.unpark(1)[0]!;
      this._owner = next;
      addParkingLotBreaker(next, this._lot);
    } else {
      this._owner = null;
    }
  }

  /**
   * Runs `fn` holding the lock: acquires (a checkpoint), runs `fn`, and releases when `fn` settles,
   * whatever the outcome. Replaces Python's `async with lock:`.
   *
   * @example
   * ```ts
   * const total = await lock.withLock(async () => { balance += 10; return balance; });
   * ```
   */
  withLock<T>(fn: () => Promise<T> | T): Promise<T> {
    requireFunction(`${this._kind}.withLock`, "fn", fn);
    return holding(this, fn);
  }

  /** `{ locked, owner, tasksWaiting }`. */
  statistics(): LockStatistics {
    return { locked: this._owner !== null, owner: this._owner, tasksWaiting: this._lot.size };
  }

  /** Takes the lock for `task` if it is free and nobody is queued; throws on re-acquisition. */
  private tryAcquire(task: Task): boolean {
    const owner = this._owner;
    if (owner === task) throw new RuntimeError(`attempt to re-acquire an already held ${this._kind}`);
    if (owner !== null || this._lot.size > 0) return MUST_WAIT;
    this._owner = task;
    addParkingLotBreaker(task, this._lot);
    return ACQUIRED;
  }
}

/**
 * @internal The lot only knows that it was broken; say what that means for a lock. Used by `Condition`
 * too, whose waiters wake on the lock's lot.
 */
export function brokenLockError(lock: { readonly _owner: Task | null }, e: unknown): unknown {
  if (!(e instanceof BrokenResourceError)) return e;
  return new BrokenResourceError(`Owner of this lock exited without releasing: ${String(lock._owner)}`);
}

/**
 * Releases after `fn` failed. If the release fails too (`fn` released the lock itself, or a
 * `Condition.wait` ended without the lock because its owner exited), `fn`'s error is the one worth
 * reporting, as with `await using`, where the release error would only be the suppressed one.
 */
function releaseAfterFailure(lock: LockBase): void {
  try {
    lock.release();
  } catch {
    // fn's error wins.
  }
}

async function holding<T>(lock: LockBase, fn: () => Promise<T> | T): Promise<T> {
  await lock.acquire();
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    releaseAfterFailure(lock);
    throw e;
  }
  lock.release();
  return result;
}

/**
 * A mutual-exclusion lock owned by one task at a time; not re-entrant. Fair: `release()` hands the
 * lock straight to the longest-waiting task. If the owning task exits without releasing it, the lock
 * is broken and every queued and later `acquire()` rejects with `BrokenResourceError`.
 *
 * @example
 * ```ts
 * const lock = new Lock();
 * await openNursery(async (n) => {
 *   for (let i = 0; i < 3; i++) {
 *     n.startSoon(() => lock.withLock(async () => { await writeRecord(i); }));
 *   }
 * });
 * ```
 */
export class Lock extends LockBase {
  constructor() {
    super("Lock");
  }
}

/**
 * A `Lock` whose first-in-first-out hand-off is a documented promise rather than an implementation
 * detail: use it when correctness depends on the order (e.g. writes to a stream that must not
 * interleave and must keep the callers' order). Behaves exactly like `Lock`; `Condition` does not
 * accept it.
 *
 * @example
 * ```ts
 * const sendLock = new StrictFIFOLock();
 * await sendLock.withLock(() => socket.write(frame));
 * ```
 */
export class StrictFIFOLock extends LockBase {
  constructor() {
    super("StrictFIFOLock");
  }
}
