/**
 * Nurseries: every task has a parent, and a nursery does not return until all of its children have
 * exited. A failing child (or body) cancels the nursery's scope, so its siblings and the body stop at
 * their next checkpoint; the nursery then raises every error in an `ExceptionGroup` (strict mode only:
 * even a single error is grouped), with its own `Cancelled`s stripped by its scope.
 *
 * The wait for children on exit is not a cancel point and cannot be cut short: a cancellation aimed at
 * the parent already reaches the children through the cancel-status tree.
 */
import { CancelScope } from "./cancel-scope.js";
import { CancelCause, type CancelStatus } from "./cancel-status.js";
import { cancelShieldedCheckpoint } from "./checkpoint.js";
import { runWithStatus } from "./context.js";
import { currentStatus } from "./current.js";
import { Cancelled, ExceptionGroup, RuntimeError, describe } from "./errors.js";
import { Task, type TaskExitTarget } from "./task.js";
import { requireFunction, requireName, requireOptions } from "./validate.js";
import { Abort, Waiter, rescheduleWaiter } from "./waiter.js";

/** Options of `startSoon`/`start`. */
export interface SpawnOptions {
  /** Task name, for introspection, instruments and deadlock reports. */
  name?: string;
}

/**
 * Handed to the function run by `nursery.start()`: call `started(value)` once the task is ready.
 *
 * @example
 * ```ts
 * const port = await nursery.start(async (status) => { const p = await listen(); status.started(p); await serve(); });
 * ```
 */
export interface TaskStatus<V = void> {
  started(value?: V): void;
}

/** A `TaskStatus` whose `started()` does nothing, so a `start`-able function can also be called directly. */
export const TASK_STATUS_IGNORED: TaskStatus<any> = Object.freeze({
  started(): void {},
});

const GROUP_MESSAGE = "Exceptions from Quartet nursery";
const abortFailed = (): Abort => Abort.FAILED;

/**
 * Where child tasks live. Obtain one with `openNursery`.
 */
export class Nursery implements TaskExitTarget {
  /** Cancelling it cancels the body and every child. */
  readonly cancelScope: CancelScope;
  /** @internal */ readonly _status: CancelStatus;
  /** @internal */ readonly _parentTask: Task;
  /** @internal */ _closed = false;
  /** @internal */ _bodyDone = false;
  /** @internal Children started and not yet exited (they are the Task children of `_status`). */
  _live = 0;
  /** @internal */ _pendingStarts = 0;
  /** @internal */ _errors: unknown[] | null = null;
  /**
   * @internal Run-length counts for `_errors`: index → how many times that same `Cancelled` arrived
   * in a row. Cancelling 100k children delivers one shared `Cancelled`; storing it once keeps the
   * common exit (the nursery's own scope strips them all) free of a 100k-entry array.
   */
  _repeats: Map<number, number> | null = null;
  /** @internal Errors that are not `Cancelled` (lets the common all-cancelled exit skip the group). */
  _nonCancelled = 0;
  /** @internal */ _exitWaiter: Waiter | null = null;

  /** @internal */
  constructor(scope: CancelScope, status: CancelStatus) {
    this.cancelScope = scope;
    this._status = status;
    this._parentTask = status.task;
  }

  /** The task that opened the nursery. */
  get parentTask(): Task {
    return this._parentTask;
  }

  /** A snapshot of the running children. */
  get childTasks(): ReadonlySet<Task> {
    const s = new Set<Task>();
    for (let c = this._status.firstChild; c !== null; c = c.nextSibling) if (c instanceof Task) s.add(c);
    return s;
  }

  /** True once the body and every child have finished: no new tasks are accepted. */
  get closed(): boolean {
    return this._closed;
  }

  /**
   * Starts `fn` as a child task (on the next scheduler pass). Sync; throws `RuntimeError` if the
   * nursery is closed.
   *
   * @example
   * ```ts
   * await openNursery(async (n) => { n.startSoon(() => worker(1)); n.startSoon(() => worker(2)); });
   * ```
   */
  startSoon(fn: () => unknown, opts?: SpawnOptions): void {
    requireFunction("Nursery.startSoon", "fn", fn);
    requireOptions("Nursery.startSoon", "opts", opts);
    const name = opts?.name;
    requireName("Nursery.startSoon", name);
    if (this._closed) throw new RuntimeError("Nursery is closed to new arrivals");
    const rt = this._status.runtime;
    const task = new Task(rt, this._status, name ?? null, fn as (a: unknown) => unknown, undefined, this);
    task._parentNursery = this;
    this._live++;
    rt.tasksLiving++;
    const ins = rt.instruments;
    if (ins !== null) {
      ins.call("taskSpawned", task);
      ins.call("taskScheduled", task);
    }
    rt.enqueue(task);
  }

  /**
   * Starts `fn(status)` and waits until it calls `status.started(value)`; resolves with `value`. Until
   * then the child runs under the caller's cancel scopes, and an error it raises rejects `start`
   * itself (bare, not grouped). Returning without `started()` rejects with `RuntimeError`.
   *
   * @example
   * ```ts
   * const server = await nursery.start(async (status) => {
   *   const s = await listen(0);
   *   status.started(s);
   *   await s.serveForever();
   * });
   * ```
   */
  start<V = void>(fn: (status: TaskStatus<V>) => unknown, opts?: SpawnOptions): Promise<V> {
    requireFunction("Nursery.start", "fn", fn);
    requireOptions("Nursery.start", "opts", opts);
    const name = opts?.name;
    requireName("Nursery.start", name);
    if (this._closed) return Promise.reject(new RuntimeError("Nursery is closed to new arrivals"));
    const caller = currentStatus();
    const rt = caller.runtime;
    this._pendingStarts++;
    const st = new StartStatus<V>(this);
    const task = new Task(rt, caller, name ?? null, fn as (a: unknown) => unknown, st, st);
    st.task = task;
    rt.tasksLiving++;
    const ins = rt.instruments;
    if (ins !== null) {
      ins.call("taskSpawned", task);
      ins.call("taskScheduled", task);
    }
    rt.enqueue(task);
    return st.waiter._park(caller, abortFailed) as Promise<V>;
  }

  /** @internal TaskExitTarget */
  _taskExited(task: Task, failed: boolean, result: unknown): void {
    this._live--;
    if (failed) this._addError(result, "child task", task.name);
    this._checkClosed();
  }

  /** @internal Records an error and cancels the nursery (first reason wins). */
  _addError(error: unknown, who: "child task" | "code block inside nursery", taskName: string): void {
    const errors = (this._errors ??= []);
    const last = errors.length - 1;
    if (error instanceof Cancelled) {
      if (last >= 0 && errors[last] === error) {
        const r = (this._repeats ??= new Map());
        r.set(last, (r.get(last) ?? 1) + 1);
      } else errors.push(error);
    } else {
      errors.push(error);
      this._nonCancelled++;
    }
    const scope = this.cancelScope;
    if (!scope._cancelled) {
      scope._cancelInternal(new CancelCause("nursery", `${who} raised exception ${errorRepr(error)}`, taskName));
    }
  }

  /** @internal Closes the nursery once the body and all children (and pending starts) are done. */
  _checkClosed(): void {
    if (this._closed || !this._bodyDone || this._live > 0 || this._pendingStarts > 0) return;
    this._closed = true;
    const w = this._exitWaiter;
    if (w !== null) {
      this._exitWaiter = null;
      rescheduleWaiter(w, undefined);
    }
  }
}

/** The `TaskStatus` of a `start`ed task, and the owner of its outcome until `started()`. */
class StartStatus<V> implements TaskStatus<V>, TaskExitTarget {
  task!: Task;
  readonly waiter = new Waiter<V>("nursery.start (waiting for started())");
  private called = false;
  private value: V | undefined = undefined;

  constructor(private readonly nursery: Nursery) {}

  /** The nursery the task will join (until it exits under `start`). */
  get _eventualParent(): Nursery {
    return this.nursery;
  }

  started(value?: V): void {
    if (this.called) throw new RuntimeError("started() was called twice on the same task status");
    const task = this.task;
    if (task._exitTarget !== this) throw new RuntimeError("started() was called after the task exited");
    this.called = true;
    this.value = value;
    // The caller's scope is cancelled: stay put. The child keeps running under start(), and start()
    // reports whatever it ends with (Trio: moving it could strand a propagating Cancelled).
    if (task.parent !== null && task.parent.effective) return;
    const target = this.nursery;
    target._pendingStarts--;
    target._live++;
    task._parentNursery = target;
    task._exitTarget = target;
    task.reparent(target._status);
    rescheduleWaiter(this.waiter as Waiter, { value });
  }

  _taskExited(task: Task, failed: boolean, result: unknown): void {
    const target = this.nursery;
    target._pendingStarts--;
    target._checkClosed();
    if (failed) rescheduleWaiter(this.waiter as Waiter, { error: result });
    else if (this.called) rescheduleWaiter(this.waiter as Waiter, { value: this.value });
    else {
      rescheduleWaiter(this.waiter as Waiter, {
        error: new RuntimeError(`child task ${task.name} exited without calling started()`),
      });
    }
  }
}

/**
 * Opens a nursery, runs `body(nursery)`, then waits for every child. Resolves with the body's value.
 * Any failure of the body or a child rejects with an `ExceptionGroup` of every such error, in arrival
 * order.
 *
 * @example
 * ```ts
 * await openNursery(async (n) => {
 *   n.startSoon(() => fetchUser(1));
 *   n.startSoon(() => fetchUser(2));
 * });
 * ```
 */
export function openNursery<T>(body: (nursery: Nursery) => Promise<T> | T): Promise<T> {
  requireFunction("openNursery", "body", body);
  const parent = currentStatus();
  const scope = CancelScope._make(Infinity, NaN, false);
  const node = scope._enter(parent);
  const nursery = new Nursery(scope, node);
  parent.task._addChildNursery(nursery);
  return nurseryMain(nursery, body);
}

async function nurseryMain<T>(n: Nursery, body: (nursery: Nursery) => Promise<T> | T): Promise<T> {
  let value: T | undefined;
  let bodyFailed = false;
  try {
    value = await runWithStatus(n._status, body, n);
  } catch (e) {
    bodyFailed = true;
    n._addError(e, "code block inside nursery", n._parentTask.name);
  }
  n._bodyDone = true;
  n._checkClosed();
  if (!n._closed) {
    const w = new Waiter<void>(`nursery exit (waiting for ${n._live} child task(s))`);
    n._exitWaiter = w;
    await w._park(n._status.parent!, abortFailed);
  } else {
    await cancelShieldedCheckpoint();
  }
  n._parentTask._removeChildNursery(n);
  const scope = n.cancelScope;
  const errors = n._errors;
  if (errors === null) {
    scope._exit();
    return value as T;
  }
  n._errors = null;
  if (n._nonCancelled === 0 && scope._wouldCatch()) {
    scope._exitCaught();
  } else {
    scope._exitWithError(new ExceptionGroup(GROUP_MESSAGE, expandRepeats(errors, n._repeats)));
  }
  return (bodyFailed ? undefined : value) as T;
}

function expandRepeats(errors: unknown[], repeats: Map<number, number> | null): unknown[] {
  if (repeats === null) return errors;
  const out: unknown[] = [];
  for (let i = 0; i < errors.length; i++) {
    const times = repeats.get(i) ?? 1;
    for (let k = 0; k < times; k++) out.push(errors[i]);
  }
  return out;
}

function errorRepr(e: unknown): string {
  if (e instanceof Error) return `${e.name}(${e.message === "" ? "" : JSON.stringify(e.message)})`;
  return describe(e);
}
