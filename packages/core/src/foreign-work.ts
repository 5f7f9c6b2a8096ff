/**
 * `ForeignWork`: how code outside the runtime's view (a stream read, a socket callback) tells the
 * deadlock detector that a parked task may still be woken from outside.
 */
import { currentStatus } from "./current.js";
import type { Runtime } from "./runtime.js";

/**
 * Declares foreign work that may still wake Quartet tasks from outside the runtime (a pending stream
 * read, a socket a callback listens on), for code that waits on it without a task parked in
 * `cancellable`. While held it counts in `currentStatistics().foreignWaits`, so an autojump clock's
 * deadlock detector does not report a run as stuck. Bound to the runtime current at construction;
 * `hold` and `release` are idempotent. The stream adapters of `@quartet/channels` use it.
 *
 * @example
 * ```ts
 * const work = new ForeignWork();
 * work.hold();                                  // a read is pending
 * readable.once("readable", () => { work.release(); deliver(); });
 * ```
 */
export class ForeignWork {
  readonly #runtime: Runtime;
  #held = false;

  constructor() {
    this.#runtime = currentStatus().runtime;
  }

  /** Whether this work is currently counted as outstanding. */
  get held(): boolean {
    return this.#held;
  }

  /** Marks the work outstanding (no-op if already held). */
  hold(): void {
    if (this.#held) return;
    this.#held = true;
    this.#runtime.foreignWaits++;
  }

  /** Marks the work finished (no-op if not held). */
  release(): void {
    if (!this.#held) return;
    this.#held = false;
    this.#runtime.foreignWaits--;
  }
}
