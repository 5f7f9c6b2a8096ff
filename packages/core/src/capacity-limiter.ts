/**
 * `CapacityLimiter` (Trio §1.5): "at most N at once", with accountability. Each token is lent to a
 * *borrower* (the current task, or any object you name with `…OnBehalfOf`), a borrower holds at most
 * one token, and only the borrower can give it back, so a double release or a leaked token shows up as
 * an error instead of silently widening the limit.
 *
 * Each queued acquire is its own `Waiter` carrying its borrower, so a cancelled acquire disappears with
 * its waiter: there is no separate table of pending borrowers to clean up (Trio #548), and one task
 * may queue several acquires on behalf of different borrowers (`Promise.all`).
 */
import { cancelShieldedCheckpoint, checkCancelled, checkpoint } from "./checkpoint.js";
import { currentStatus, currentTask } from "./current.js";
import { RuntimeError, WouldBlock } from "./errors.js";
import { requireCount, requireFunction } from "./validate.js";
import { Abort, Waiter, rescheduleWaiter } from "./waiter.js";

/** Statistics of a `CapacityLimiter`. */
export interface CapacityLimiterStatistics {
  /** Tokens lent out now. */
  borrowedTokens: number;
  /** The limit. */
  totalTokens: number;
  /** Who holds the tokens (tasks or the objects passed to `…OnBehalfOf`), in the order they got them. */
  borrowers: unknown[];
  /** Acquires queued. */
  tasksWaiting: number;
}

/** A queued acquire and the borrower it is for. Overrides `_abort` so a wait costs no closure. */
class LimiterWait extends Waiter<void> {
  constructor(
    readonly limiter: CapacityLimiter,
    readonly borrower: unknown,
  ) {
    super("CapacityLimiter.acquire()");
  }
  override _abort(): Abort {
    this.limiter._waiters.delete(this);
    return Abort.SUCCEEDED;
  }
}

const ALREADY_HOLDING = "this borrower is already holding one of this CapacityLimiter's tokens";

/**
 * Limits how many tasks (or other borrowers) may be inside a section at once. FIFO-fair: a freed token
 * goes to the longest waiter, and `acquireNowait` fails while anyone is queued. `totalTokens` can be
 * changed at any time: raising it admits waiters at once; lowering it below `borrowedTokens` lets the
 * current holders finish and admits nobody new until usage drops below the new limit.
 *
 * @example
 * ```ts
 * const limiter = new CapacityLimiter(10);
 * await openNursery(async (n) => {
 *   for (const url of urls) n.startSoon(() => limiter.run(() => download(url)));
 * }); // at most 10 downloads run at any moment
 * ```
 */
export class CapacityLimiter {
  /** @internal Queued acquires, in arrival order. */
  readonly _waiters = new Set<LimiterWait>();
  private readonly borrowers = new Set<unknown>();
  private total = 0;

  /** @param totalTokens The limit: an integer ≥ 0, or `Infinity` (`TypeError`/`RangeError` otherwise). */
  constructor(totalTokens: number) {
    requireCount("CapacityLimiter", "totalTokens", totalTokens, true);
    this.total = totalTokens;
  }

  /** The limit. Setting it validates like the constructor; raising it wakes waiters at once. */
  get totalTokens(): number {
    return this.total;
  }

  set totalTokens(value: number) {
    requireCount("CapacityLimiter.totalTokens", "value", value, true);
    this.total = value;
    this.wakeWaiters();
  }

  /** Tokens lent out now. */
  get borrowedTokens(): number {
    return this.borrowers.size;
  }

  /** `totalTokens - borrowedTokens` (negative after the limit was lowered below current use). */
  get availableTokens(): number {
    return this.total - this.borrowers.size;
  }

  /** `acquireOnBehalfOfNowait(currentTask())`. */
  acquireNowait(): void {
    this.acquireOnBehalfOfNowait(currentTask());
  }

  /**
   * Lends a token to `borrower` without blocking (never a checkpoint).
   * @throws `RuntimeError` if `borrower` already holds one; `WouldBlock` if none is free or others are queued.
   */
  acquireOnBehalfOfNowait(borrower: unknown): void {
    if (!this.tryAcquire(borrower)) throw new WouldBlock("CapacityLimiter has no tokens available");
  }

  /** `acquireOnBehalfOf(currentTask())`. */
  acquire(): Promise<void> {
    if (checkCancelled()) return checkpoint();
    return this.acquireChecked(currentTask());
  }

  /**
   * Lends a token to `borrower`, waiting in FIFO order while none is free. A full checkpoint when it
   * succeeds; a cancelled acquire leaves no trace. Rejects with `RuntimeError` if `borrower` already
   * holds a token (checked again when a queued acquire reaches the front).
   *
   * @example
   * ```ts
   * const job = { id: 7 };
   * await limiter.acquireOnBehalfOf(job);
   * n.startSoon(async () => { try { await runJob(job); } finally { limiter.releaseOnBehalfOf(job); } });
   * ```
   */
  acquireOnBehalfOf(borrower: unknown): Promise<void> {
    if (checkCancelled()) return checkpoint();
    return this.acquireChecked(borrower);
  }

  /**
   * Gives back the current task's token (never a checkpoint).
   * @throws `RuntimeError` if the current task holds none.
   */
  release(): void {
    this.releaseOnBehalfOf(currentTask());
  }

  /**
   * Gives back `borrower`'s token (never a checkpoint); the longest waiter, if any, gets it.
   * @throws `RuntimeError` if `borrower` holds none.
   */
  releaseOnBehalfOf(borrower: unknown): void {
    if (!this.borrowers.delete(borrower)) {
      throw new RuntimeError("this borrower isn't holding any of this CapacityLimiter's tokens");
    }
    this.wakeWaiters();
  }

  /**
   * Runs `fn` holding a token borrowed by the current task: acquires (a checkpoint), runs `fn`, releases
   * when `fn` settles. Replaces Python's `async with limiter:`. Because the borrower is the task, one task
   * cannot hold two tokens at once: run each unit of work in its own task (a nursery child).
   *
   * @example
   * ```ts
   * n.startSoon(() => limiter.run(() => processItem(item)));
   * ```
   */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    requireFunction("CapacityLimiter.run", "fn", fn);
    return holding(this, fn);
  }

  /** `{ borrowedTokens, totalTokens, borrowers, tasksWaiting }`; `borrowers` is a fresh array. */
  statistics(): CapacityLimiterStatistics {
    return {
      borrowedTokens: this.borrowers.size,
      totalTokens: this.total,
      borrowers: Array.from(this.borrowers),
      tasksWaiting: this._waiters.size,
    };
  }

  private tryAcquire(borrower: unknown): boolean {
    if (this.borrowers.has(borrower)) throw new RuntimeError(ALREADY_HOLDING);
    if (this.borrowers.size >= this.total || this._waiters.size > 0) return false;
    this.borrowers.add(borrower);
    return true;
  }

  private acquireChecked(borrower: unknown): Promise<void> {
    let acquired: boolean;
    try {
      acquired = this.tryAcquire(borrower);
    } catch (e) {
      return Promise.reject(e);
    }
    if (acquired) return cancelShieldedCheckpoint();
    const w = new LimiterWait(this, borrower);
    this._waiters.add(w);
    return w._park(currentStatus(), null);
  }

  /** Hands free tokens to queued acquires, longest-waiting first. */
  private wakeWaiters(): void {
    if (this._waiters.size === 0) return;
    const borrowers = this.borrowers;
    for (const w of this._waiters) {
      if (borrowers.size >= this.total) return;
      this._waiters.delete(w);
      if (borrowers.has(w.borrower)) {
        // Two acquires queued for one borrower: the second must not count the same token twice.
        rescheduleWaiter(w, { error: new RuntimeError(ALREADY_HOLDING) });
        continue;
      }
      borrowers.add(w.borrower);
      rescheduleWaiter(w, undefined);
    }
  }
}

async function holding<T>(limiter: CapacityLimiter, fn: () => Promise<T> | T): Promise<T> {
  const task = currentTask();
  await limiter.acquireOnBehalfOf(task);
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    try {
      limiter.releaseOnBehalfOf(task);
    } catch {
      // fn's error is the one worth reporting (see releaseAfterFailure in lock.ts).
    }
    throw e;
  }
  limiter.releaseOnBehalfOf(task);
  return result;
}
