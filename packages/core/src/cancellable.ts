/**
 * Bridges to foreign promises (fetch, fs, timers, child processes), which are not cancel points.
 * `cancellable` parks the task until the foreign promise settles, but a cancellation wins at once: the
 * task moves on with `Cancelled` even if the foreign promise never settles, and the promise's late
 * rejection is handled (never reported as unhandled). The foreign operation itself is told through the
 * `AbortSignal` it was given.
 */
import { checkpoint } from "./checkpoint.js";
import { currentStatus } from "./current.js";
import { describe } from "./errors.js";
import type { Runtime } from "./runtime.js";
import { Abort, Waiter } from "./waiter.js";

class ForeignWaiter<T> extends Waiter<T> {
  private settled = false;
  constructor(private readonly rt: Runtime) {
    super("cancellable (foreign promise)");
    rt.foreignWaits++;
  }
  settle(failed: boolean, outcome: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.rt.foreignWaits--;
    if (this.isParked) this._reschedule(failed, outcome);
  }
  override _abort(): Abort {
    if (!this.settled) {
      this.settled = true;
      this.rt.foreignWaits--;
    }
    return Abort.SUCCEEDED;
  }
}

function noop(): void {}

/**
 * Awaits a foreign promise as a Quartet checkpoint. Given a function, calls it with the current
 * cancel signal (aborted when the calling code is cancelled) and awaits what it returns.
 *
 * @example
 * ```ts
 * const res = await cancellable((signal) => fetch(url, { signal }));
 * const text = await cancellable(fs.promises.readFile(path, "utf8"));
 * ```
 */
export function cancellable<T>(work: PromiseLike<T> | ((signal: AbortSignal) => PromiseLike<T> | T)): Promise<T> {
  const isFn = typeof work === "function";
  if (!isFn && (work === null || typeof work !== "object" || typeof (work as PromiseLike<T>).then !== "function")) {
    throw new TypeError(`cancellable: work must be a promise or a function (signal) => promise, got ${describe(work)}`);
  }
  const s = currentStatus();
  if (s.effective) {
    if (!isFn) Promise.resolve(work as PromiseLike<T>).then(undefined, noop);
    return checkpoint() as Promise<never>;
  }
  let p: PromiseLike<T>;
  if (isFn) {
    let r: PromiseLike<T> | T;
    try {
      r = (work as (signal: AbortSignal) => PromiseLike<T> | T)(s.signal());
    } catch (e) {
      return Promise.reject(e);
    }
    p = r !== null && typeof r === "object" && typeof (r as PromiseLike<T>).then === "function" ? (r as PromiseLike<T>) : Promise.resolve(r as T);
  } else {
    p = work as PromiseLike<T>;
  }
  const w = new ForeignWaiter<T>(s.runtime);
  const parked = w._park(s, null);
  Promise.resolve(p).then(
    (v) => w.settle(false, v),
    (e) => w.settle(true, e),
  );
  return parked;
}

/**
 * The `AbortSignal` of the current effective cancel status: it aborts (with the `Cancelled` as its
 * reason) when the calling code becomes cancelled. For APIs that take `{ signal }`.
 *
 * @example
 * ```ts
 * await moveOnAfter(1000, () => fetch(url, { signal: currentSignal() }));
 * ```
 */
export function currentSignal(): AbortSignal {
  return currentStatus().signal();
}
