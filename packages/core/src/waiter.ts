/**
 * The blocking primitive. Every Quartet wait parks a `Waiter` through `waitTaskRescheduled(abort)`;
 * someone later calls `reschedule(waiter, outcome)` exactly once. If the task is (or becomes)
 * effectively cancelled while parked, the runtime calls `abort` **once per wait**: `Abort.SUCCEEDED`
 * means the wait is withdrawn and rejects with `Cancelled`; `Abort.FAILED` means the operation is
 * committed, the task stays parked until rescheduled, and later cancellations leave it alone.
 * A reschedule clears the abort, so a value handed over can no longer be taken back. Channel, lock and
 * sleep atomicity all follow from this handshake (Trio §0).
 *
 * Waiters rather than tasks are the unit, because one task can wait in several places at once
 * (`Promise.all` of two receives); `reschedule(task)` still works when the task has exactly one wait.
 */
import type { CancelStatus, Abortable } from "./cancel-status.js";
import { RuntimeError, describe } from "./errors.js";
import type { Runnable } from "./runtime.js";
import { currentStatus } from "./current.js";
import { Task } from "./task.js";

/** What an abort function answers. */
export const Abort = Object.freeze({ SUCCEEDED: "succeeded", FAILED: "failed" } as const);
/** @see Abort */
export type Abort = (typeof Abort)[keyof typeof Abort];

/**
 * Called at most once per wait, when the waiting task is cancelled. Withdraw the wait and return
 * `Abort.SUCCEEDED`, or return `Abort.FAILED` if the operation can no longer be withdrawn (then you
 * must `reschedule` the waiter yourself; `raiseCancel()` throws the `Cancelled` to deliver if you want to).
 */
export type AbortFn = (raiseCancel: () => never, waiter: Waiter<any>) => Abort;

/** How a parked wait ends: with a value, or with an error. */
export type Outcome<T = unknown> = { readonly value: T } | { readonly error: unknown };

const IDLE = 0;
const PARKED = 1;
const SCHEDULED = 2;
const DONE = 3;

/**
 * One parked wait. Create one yourself when you need a handle to reschedule before parking (to put it
 * in a queue), or let `waitTaskRescheduled` create it.
 *
 * @example
 * ```ts
 * const w = new Waiter("my queue");
 * queue.push(w);
 * const v = await waitTaskRescheduled(() => { queue.delete(w); return Abort.SUCCEEDED; }, w);
 * // elsewhere: reschedule(w, { value: 42 });
 * ```
 */
export class Waiter<T = unknown> implements Abortable, Runnable {
  /** Shown in deadlock reports: what the task waits for. */
  what: string;
  /** A free slot for the code that parks (e.g. the value a blocked sender carries). */
  data: unknown;
  /** @internal */ task: Task | null = null;
  /** @internal */ status: CancelStatus | null = null;
  /** @internal */ abortFn: AbortFn | null = null;
  /** @internal */ state = IDLE;
  /** @internal */ abortTried = false;
  /** @internal */ failed = false;
  /** @internal */ outcome: unknown = undefined;
  /** @internal */ resolve: ((v: any) => void) | null = null;
  /** @internal */ reject: ((e: unknown) => void) | null = null;
  /** @internal */ sPrev: Abortable | null = null;
  /** @internal */ sNext: Abortable | null = null;

  constructor(what = "waitTaskRescheduled", data?: unknown) {
    this.what = what;
    this.data = data;
  }

  /** The task this waiter is parked for (`null` before parking). */
  get parkedTask(): Task | null {
    return this.task;
  }

  /** True while parked (not yet rescheduled or aborted). */
  get isParked(): boolean {
    return this.state === PARKED;
  }

  /** @internal Parks in `status`; resolves when rescheduled. */
  _park(status: CancelStatus, abortFn: AbortFn | null): Promise<T> {
    if (this.state !== IDLE) throw new RuntimeError("this Waiter was already used for a wait; create a new one per wait");
    const task = status.task;
    const rt = status.runtime;
    this.state = PARKED;
    this.task = task;
    this.status = status;
    this.abortFn = abortFn;
    status.addWaiter(this);
    if (task._parked++ === 0) rt.parkedTasks++;
    task._cancelPoints++;
    task._schedulePoints++;
    rt.waitersParked++;
    rt.steps++;
    if (rt.instruments !== null) rt.instruments.call("afterTaskStep", task);
    const p = new Promise<T>((res, rej) => {
      this.resolve = res;
      this.reject = rej;
    });
    // Trio attempts delivery of a pending cancel as the task parks, before any other task runs (so
    // nobody can hand a value to a wait that was cancelled before it began). Callers register the
    // waiter (in a queue, the deadline heap, …) before parking, so the abort can undo that.
    if (status.effective) this._attemptAbort();
    return p;
  }

  /** @internal Override point: what cancellation does. */
  _abort(raiseCancel: () => never): Abort {
    return this.abortFn!(raiseCancel, this);
  }

  /** @internal Called by the cancel-status tree (at most once effective per wait). */
  _attemptAbort(): void {
    if (this.state !== PARKED || this.abortTried) return;
    this.abortTried = true;
    const cause = this.status!.cause!;
    let r: Abort;
    try {
      r = this._abort(cause.raiseCancel());
    } catch (e) {
      if (this.state === PARKED) this._reschedule(true, e);
      return;
    }
    if (r === Abort.SUCCEEDED) {
      if (this.state === PARKED) this._reschedule(true, cause.sharedError());
    } else if (r !== Abort.FAILED && this.state === PARKED) {
      this._reschedule(true, new TypeError(`abort function must return Abort.SUCCEEDED or Abort.FAILED, got ${describe(r)}`));
    }
  }

  /** @internal */
  _reschedule(failed: boolean, outcome: unknown): void {
    const status = this.status!;
    const task = this.task!;
    const rt = status.runtime;
    status.removeWaiter(this);
    if (--task._parked === 0) rt.parkedTasks--;
    rt.waitersParked--;
    this.state = SCHEDULED;
    this.failed = failed;
    this.outcome = outcome;
    this.abortFn = null;
    rt.enqueue(this);
    if (rt.instruments !== null) rt.instruments.call("taskScheduled", task);
  }

  /** @internal Run queue: settle the parked promise. */
  _run(): void {
    this.state = DONE;
    const task = this.task!;
    const rt = task.runtime;
    if (rt.instruments !== null) rt.instruments.call("beforeTaskStep", task);
    const outcome = this.outcome;
    this.outcome = undefined;
    this.status = null;
    if (this.failed) this.reject!(outcome);
    else this.resolve!(outcome as T);
    this.resolve = this.reject = null;
  }
}

/** @internal Validates an outcome and reschedules. */
export function rescheduleWaiter(w: Waiter, outcome: Outcome | undefined): void {
  if (w.state !== PARKED) {
    throw new RuntimeError(
      w.state === IDLE ? "reschedule(): this waiter is not parked" : "reschedule(): this wait was already rescheduled or aborted",
    );
  }
  if (outcome === undefined) {
    w._reschedule(false, undefined);
    return;
  }
  if (outcome === null || typeof outcome !== "object") {
    throw new TypeError(`reschedule(): outcome must be { value } or { error }, got ${describe(outcome)}`);
  }
  if ("error" in outcome) w._reschedule(true, outcome.error);
  else if ("value" in outcome) w._reschedule(false, outcome.value);
  else throw new TypeError("reschedule(): outcome must have a `value` or an `error` property");
}


/**
 * Parks the current task until someone calls `reschedule(waiter or task, outcome)`; resolves with the
 * outcome's value or rejects with its error. If the task is (or becomes) cancelled while parked, `abort`
 * is called once (see `AbortFn`). Pass your own `waiter` to get a handle before parking.
 *
 * @example
 * ```ts
 * const task = currentTask();
 * setTimeout(() => reschedule(task, { value: "done" }), 10);
 * const v = await waitTaskRescheduled(() => Abort.SUCCEEDED);
 * ```
 */
export function waitTaskRescheduled<T = unknown>(abort: AbortFn, waiter?: Waiter<T>): Promise<T> {
  if (typeof abort !== "function") {
    throw new TypeError(`waitTaskRescheduled: abort must be a function, got ${describe(abort)}`);
  }
  if (waiter !== undefined && !(waiter instanceof Waiter)) {
    throw new TypeError(`waitTaskRescheduled: waiter must be a Waiter, got ${describe(waiter)}`);
  }
  return (waiter ?? new Waiter<T>())._park(currentStatus(), abort);
}

/**
 * Wakes a parked wait with `outcome` (default `{ value: undefined }`). `target` is the `Waiter`, or a
 * task that has exactly one parked wait. Throws `RuntimeError` if it is not parked.
 *
 * @example
 * ```ts
 * reschedule(waiter, { error: new BrokenResourceError() });
 * ```
 */
export function reschedule(target: Task | Waiter, outcome?: Outcome): void {
  if (target instanceof Waiter) {
    rescheduleWaiter(target, outcome);
    return;
  }
  if (target instanceof Task) {
    if (target._parked === 0) throw new RuntimeError(`reschedule(): task ${target.name} is not parked`);
    if (target._parked > 1) {
      throw new RuntimeError(
        `reschedule(): task ${target.name} has ${target._parked} parked waits; reschedule the Waiter instead`,
      );
    }
    rescheduleWaiter(parkedWaiterOf(target), outcome);
    return;
  }
  throw new TypeError(`reschedule(): target must be a Task or a Waiter, got ${describe(target)}`);
}

/**
 * The one wait `task` has parked: in its own node or a scope node below it (not in another task's).
 * Found by a walk rather than stored, which would cost a field per task and a store per park for a
 * call that Trio-style code makes rarely.
 */
function parkedWaiterOf(task: Task): Waiter {
  const stack: CancelStatus[] = [task];
  while (stack.length > 0) {
    const n = stack.pop()!;
    for (let w = n.firstWaiter; w !== null; w = w.sNext) if (w instanceof Waiter && w.task === task) return w;
    for (let c = n.firstChild; c !== null; c = c.nextSibling) if (!(c instanceof Task)) stack.push(c);
  }
  throw new RuntimeError(`reschedule(): the parked wait of task ${task.name} is not under its own cancel status`);
}
