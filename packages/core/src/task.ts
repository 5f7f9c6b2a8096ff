/**
 * A task: an async function started by a nursery (or the root of `run`). The `Task` object is also the
 * task's root node in the cancel-status tree, which saves one allocation per task: a parked task costs
 * its `Task`, the frames of its async functions and its waiter, and nothing else.
 */
import { CancelStatus } from "./cancel-status.js";
import { runWithStatus } from "./context.js";
import type { Runtime, Runnable } from "./runtime.js";

/** @internal Whoever owns a task's outcome: its nursery, a pending `start`, or `run`. */
export interface TaskExitTarget {
  _taskExited(task: Task, failed: boolean, result: unknown): void;
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
  /** The name given to `startSoon`/`start` (or the function's name). */
  readonly name: string;
  /** @internal */ _fn: (arg: unknown) => unknown;
  /** @internal */ _arg: unknown;
  /** @internal */ _exitTarget: TaskExitTarget | null;
  /** @internal */ _parentNursery: NurseryLike | null = null;
  /** @internal */ _eventualParentNursery: NurseryLike | null = null;
  /** @internal */ _childNurseries: NurseryLike[] | null = null;
  /** @internal Links in the parent nursery's list of children. */
  _nPrev: Task | null = null;
  /** @internal */ _nNext: Task | null = null;
  /** @internal Number of waits this task has parked right now. */
  _parked = 0;
  /** @internal The most recently parked waiter (for `reschedule(task)`). */
  _lastWaiter: unknown = null;
  /** @internal Cancel points / schedule points passed (for `assertCheckpoints`). */
  _cancelPoints = 0;
  /** @internal */ _schedulePoints = 0;
  /** @internal */ _breakers: TaskBreaker[] | null = null;
  /** @internal */ _exited = false;

  /** @internal */
  constructor(
    runtime: Runtime,
    parent: CancelStatus | null,
    name: string,
    fn: (arg: unknown) => unknown,
    arg: unknown,
    exitTarget: TaskExitTarget | null,
  ) {
    super(null, null, runtime, parent);
    this.task = this;
    this.name = name;
    this._fn = fn;
    this._arg = arg;
    this._exitTarget = exitTarget;
  }

  /** The nursery this task belongs to; `null` for the root task and for a `start`ed task before `started()`. */
  get parentNursery(): NurseryLike | null {
    return this._parentNursery;
  }

  /** While `nursery.start()` waits for this task's `started()`: the nursery it will join. */
  get eventualParentNursery(): NurseryLike | null {
    return this._eventualParentNursery;
  }

  /** Nurseries currently open in this task, outermost first. */
  get childNurseries(): ReadonlyArray<NurseryLike> {
    return this._childNurseries === null ? [] : this._childNurseries.slice();
  }

  toString(): string {
    return `<Task ${this.name}>`;
  }

  /** @internal Scheduler entry point: starts the task's function in its own context. */
  _run(): void {
    const rt = this.runtime;
    if (rt.instruments !== null) rt.instruments.call("beforeTaskStep", this);
    void runWithStatus(this, taskMain, this);
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

async function taskMain(task: Task): Promise<void> {
  let failed = false;
  let result: unknown;
  try {
    result = await task._fn(task._arg);
  } catch (e) {
    failed = true;
    result = e;
  }
  finishTask(task, failed, result);
}

function finishTask(task: Task, failed: boolean, result: unknown): void {
  task._exited = true;
  task._fn = noop;
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
  target?._taskExited(task, failed, result);
  const ins = rt.instruments;
  if (ins !== null) {
    ins.call("taskExited", task);
    ins.call("afterTaskStep", task);
  }
}

function noop(): void {}
