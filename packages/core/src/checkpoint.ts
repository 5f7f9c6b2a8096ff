/**
 * Checkpoints: a *schedule point* (let other tasks run) and a *cancel point* (raise `Cancelled` if the
 * running code is effectively cancelled).
 *
 * `checkpoint()` must sustain millions per second, and a promise round trip through the run queue costs
 * ~3× an `await` of a plain value. So its fast path yields one microtask (everything already runnable
 * gets its turn, FIFO). When a scheduler batch is pending, that batch runs during the yield and may
 * cancel the task (a deadline expired by a mock-clock jump, a sibling's failure), so it returns a
 * preallocated thenable whose `then` performs the cancel check *after* the yield, as Trio's "schedule
 * point, then cancel check" demands. Otherwise nothing of the runtime can run before the continuation,
 * and checking first, then awaiting a resolved promise, is the same cancel point at half the cost.
 * The slow path (run queue) is taken when instruments are installed, or when the adaptive clock
 * budget says a macrotask yield is due.
 */
import { currentStatus } from "./current.js";
import { getStatus } from "./context.js";
import type { CancelStatus } from "./cancel-status.js";
import type { Runnable } from "./runtime.js";

const RESOLVED: Promise<void> = Promise.resolve();

/**
 * The fast-path result of `checkpoint()` while a scheduler batch is pending. Calling `then` directly (rather than awaiting) runs the cancel
 * check synchronously; `catch`/`finally` behave like a promise's.
 */
const FAST_CHECKPOINT = {
  then(onOk?: (() => unknown) | null, onErr?: ((e: unknown) => unknown) | null): unknown {
    const s = getStatus() ?? currentStatus();
    s.runtime.steps++;
    if (s.effective) {
      const e = s.cause!.error();
      if (typeof onErr === "function") return onErr(e);
      return Promise.reject(e);
    }
    if (typeof onOk === "function") return onOk();
    return undefined;
  },
  catch(onErr: (e: unknown) => unknown): Promise<unknown> {
    return Promise.resolve(this as unknown as PromiseLike<void>).catch(onErr);
  },
  finally(fn: () => void): Promise<void> {
    return Promise.resolve(this as unknown as PromiseLike<void>).finally(fn);
  },
  [Symbol.toStringTag]: "Checkpoint",
};

/** A checkpoint that went through the run queue. */
class QueuedCheckpoint<T> implements Runnable {
  resolve!: (v: T) => void;
  reject!: (e: unknown) => void;
  constructor(
    private readonly status: CancelStatus,
    private readonly cancellable: boolean,
    private readonly value: T,
  ) {}
  _run(): void {
    const s = this.status;
    const ins = s.runtime.instruments;
    if (ins !== null) ins.call("beforeTaskStep", s.task);
    if (this.cancellable && s.effective) this.reject(s.cause!.error());
    else this.resolve(this.value);
  }
}

function queued<T>(s: CancelStatus, cancellable: boolean, value: T): Promise<T> {
  const rt = s.runtime;
  if (rt.budget <= 0) rt.readClock();
  const q = new QueuedCheckpoint<T>(s, cancellable, value);
  const p = new Promise<T>((res, rej) => {
    q.resolve = res;
    q.reject = rej;
  });
  const ins = rt.instruments;
  if (ins !== null) {
    ins.call("taskScheduled", s.task);
    ins.call("afterTaskStep", s.task);
  }
  rt.enqueue(q);
  return p;
}

/**
 * A schedule point, then a cancel check: lets every other runnable task run, then raises `Cancelled`
 * if the calling code is inside an effectively cancelled scope. Put one in long CPU loops.
 *
 * @example
 * ```ts
 * for (const item of hugeList) { process(item); await checkpoint(); }
 * ```
 */
export function checkpoint(): Promise<void> {
  const s = getStatus() ?? currentStatus();
  const rt = s.runtime;
  const task = s.task;
  task._cancelPoints++;
  task._schedulePoints++;
  if (rt.instruments === null && !rt.yieldDue && --rt.budget > 0) {
    // A scheduler batch is pending (rescheduled tasks, deadlines to expire after a clock jump): it
    // runs during our yield and may cancel us, so check after the yield.
    if (rt.drainScheduled) return FAST_CHECKPOINT as unknown as Promise<void>;
    // Nothing of the runtime's runs before our continuation: checking now and awaiting a resolved
    // promise is the same cancel point, at half the cost of the thenable round trip.
    rt.steps++;
    if (s.effective) return Promise.reject(s.cause!.error());
    return RESOLVED;
  }
  return queued(s, true, undefined);
}

/**
 * A cancel point only: raises (after a full checkpoint) if the calling code is cancelled, otherwise
 * returns without letting other tasks run.
 *
 * @example
 * ```ts
 * await checkpointIfCancelled(); // cheap early exit before expensive work
 * ```
 */
export function checkpointIfCancelled(): Promise<void> {
  const s = getStatus() ?? currentStatus();
  if (s.effective) return checkpoint();
  s.task._cancelPoints++;
  return RESOLVED;
}

/**
 * A schedule point only: lets other tasks run and never raises `Cancelled`; resolves with `value`.
 * Used after an operation has already happened (a successful non-blocking send or receive), so the
 * call stays a full checkpoint without a late cancellation undoing it.
 *
 * @example
 * ```ts
 * if (checkCancelled()) return checkpoint();   // cancel point
 * const item = buffer.shift();
 * return cancelShieldedCheckpoint(item);      // schedule point, resolves with the item
 * ```
 */
export function cancelShieldedCheckpoint(): Promise<void>;
export function cancelShieldedCheckpoint<T>(value: T): Promise<T>;
export function cancelShieldedCheckpoint<T>(value?: T): Promise<T | undefined> {
  const s = getStatus() ?? currentStatus();
  const rt = s.runtime;
  s.task._schedulePoints++;
  if (rt.instruments === null && !rt.yieldDue && --rt.budget > 0) {
    rt.steps++;
    return value === undefined ? (RESOLVED as Promise<undefined>) : Promise.resolve(value);
  }
  return queued(s, false, value);
}

/**
 * A cancel point that never yields: counts as one (for `assertCheckpoints`) and returns `true` if the
 * calling code is effectively cancelled, in which case follow it with `checkpoint()` (which raises).
 * Lets an operation that can complete without blocking skip a promise round trip:
 *
 * @example
 * ```ts
 * send(v: T): Promise<void> {
 *   if (checkCancelled()) return checkpoint();
 *   this.sendNowait(v);
 *   return cancelShieldedCheckpoint();
 * }
 * ```
 */
export function checkCancelled(): boolean {
  const s = getStatus() ?? currentStatus();
  if (s.effective) return true;
  s.task._cancelPoints++;
  return false;
}
