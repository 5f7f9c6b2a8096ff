/**
 * A task: an async function started by a nursery (or the root of `run`). The `Task` object is also the
 * task's root node in the cancel-status tree, which saves one allocation per task: a parked task costs
 * its `Task`, the frames of its async functions and its waiter, and nothing else.
 */
import { CancelStatus } from "./cancel-status.js";
import { enterStatus, getStatus } from "./context.js";
import type { Runtime, Runnable } from "./runtime.js";

/** @internal Whoever owns a task's outcome: its nursery, a pending `start`, or `run`. */
export interface TaskExitTarget {
  _taskExited(task: Task, failed: boolean, result: unknown): void;
  /** A pending `start`'s target nursery (see `Task.eventualParentNursery`). */
  readonly _eventualParent?: NurseryLike;
}

/** @internal Something a task breaks when it exits (a lock it owns). */
export interface TaskBreaker {
  _breakFromExitedTask(task: Task): void;
}

/** The public view of a nursery, as seen from a task (avoids importing the nursery module here). */
export interface NurseryLike {
  readonly cancelScope: unknown;
}

/**
 * A running (or finished) task. Obtain it with `currentTask()`; `nursery.childTasks` lists a
 * nursery's children.
 *
 * @example
 * ```ts
 * await openNursery(async (n) => {
 *   n.startSoon(async () => console.log(currentTask().name), { name: "worker" });
 * });
 * ```
 */
export class Task extends CancelStatus implements Runnable {
  /** @internal Explicit name, or `null` to use the function's name (looked up only when asked). */
  _name: string | null;
  /** @internal */ _fn: (arg: unknown) => unknown;
  /** @internal */ _arg: unknown;
  /** @internal */ _exitTarget: TaskExitTarget | null;
  /** @internal */ _parentNursery: NurseryLike | null = null;
  /** @internal */ _childNurseries: NurseryLike[] | null = null;
  /** @internal Number of waits this task has parked right now. */
  _parked = 0;
  /** @internal Cancel points / schedule points passed (for `assertCheckpoints`). */
  _cancelPoints = 0;
  /** @internal */ _schedulePoints = 0;
  /** @internal */ _breakers: TaskBreaker[] | null = null;

  /** @internal */
  constructor(
    runtime: Runtime,
    parent: CancelStatus | null,
    name: string | null,
    fn: (arg: unknown) => unknown,
    arg: unknown,
    exitTarget: TaskExitTarget | null,
  ) {
    super(null, null, runtime, parent);
    this.task = this;
    this._name = name;
    this._fn = fn;
    this._arg = arg;
    this._exitTarget = exitTarget;
  }

  /** The name given to `startSoon`/`start`, or else the function's name. */
  get name(): string {
    return this._name ?? (this._name = this._fn.name || "<anonymous>");
  }

  /** The nursery this task belongs to; `null` for the root task and for a `start`ed task before `started()`. */
  get parentNursery(): NurseryLike | null {
    return this._parentNursery;
  }

  /** While `nursery.start()` waits for this task's `started()`: the nursery it will join. */
  get eventualParentNursery(): NurseryLike | null {
    // Only a pending start's exit target knows one (kept there: one field less on every task).
    return this._exitTarget?._eventualParent ?? null;
  }

  /** Nurseries currently open in this task, outermost first. */
  get childNurseries(): ReadonlyArray<NurseryLike> {
    return this._childNurseries === null ? [] : this._childNurseries.slice();
  }

  toString(): string {
    return `<Task ${this.name}>`;
  }

  /**
   * @internal Scheduler entry point: starts the task's function in its own context. It enters the
   * task's context for the rest of the scheduler's batch instead of `runWithStatus`: on Node 24 every
   * enter allocates a context frame, and `run` enters twice (in and back out). The scheduler restores
   * its own context once after the batch.
   */
  _run(): void {
    const rt = this.runtime;
    if (rt.instruments !== null) rt.instruments.call("beforeTaskStep", this);
    enterStatus(this);
    startTask(this);
  }

  /** @internal */
  _addChildNursery(n: NurseryLike): void {
    (this._childNurseries ??= []).push(n);
  }

  /** @internal */
  _removeChildNursery(n: NurseryLike): void {
    const list = this._childNurseries;
    if (list === null) return;
    const i = list.lastIndexOf(n);
    if (i >= 0) list.splice(i, 1);
  }
}

/**
 * Runs in the task's context. The settle handlers are shared module-level functions: a promise
 * reaction runs in the async context current when `.then` was called, so `getStatus()` inside them
 * is this task. That saves an async wrapper frame and its promises per task.
 */
function startTask(task: Task): void {
  let r: unknown;
  try {
    r = task._fn(task._arg);
  } catch (e) {
    finishTask(task, true, e);
    return;
  }
  if (r instanceof Promise) r.then(taskFulfilled, taskRejected);
  else if (r !== null && (typeof r === "object" || typeof r === "function") && typeof (r as PromiseLike<unknown>).then === "function") {
    Promise.resolve(r).then(taskFulfilled, taskRejected);
  } else finishTask(task, false, r);
}

function taskFulfilled(value: unknown): void {
  finishTask(getStatus() as Task, false, value);
}

function taskRejected(error: unknown): void {
  finishTask(getStatus() as Task, true, error);
}

function finishTask(task: Task, failed: boolean, result: unknown): void {
  task._arg = undefined;
  const breakers = task._breakers;
  if (breakers !== null) {
    task._breakers = null;
    for (const b of breakers) b._breakFromExitedTask(task);
  }
  task.detach();
  const rt = task.runtime;
  rt.tasksLiving--;
  const target = task._exitTarget;
  task._exitTarget = null;
  const ins = rt.instruments;
  // The root's exit target is `run` itself, which calls `afterRun`: the root's last hooks go first.
  // Any other task's hooks come after its nursery has let go of it (Trio §4.6).
  const root = task === rt.root;
  if (root && ins !== null) {
    ins.call("taskExited", task);
    ins.call("afterTaskStep", task);
  }
  target?._taskExited(task, failed, result);
  if (!root && ins !== null) {
    ins.call("taskExited", task);
    ins.call("afterTaskStep", task);
  }
}
