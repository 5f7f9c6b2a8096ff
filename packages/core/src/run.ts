/**
 * `run(main)`: a fresh runtime with `main` as its root task. Needed only for a custom clock, instruments,
 * an abort signal, or isolation; every primitive also works outside `run` on the implicit runtime.
 */
import { CancelScope } from "./cancel-scope.js";
import { CancelCause } from "./cancel-status.js";
import { SystemClock, type Clock } from "./clock.js";
import { getStatus } from "./context.js";
import { currentStatus } from "./current.js";
import { RuntimeError, describe } from "./errors.js";
import { InstrumentSet, type Instrument } from "./instrument.js";
import { Runtime } from "./runtime.js";
import { Task, type TaskExitTarget } from "./task.js";
import { requireFunction, requireOptions } from "./validate.js";

/** Options of `run`. */
export interface RunOptions {
  /** The clock (default: the system clock). `MockClock` from `@quartet/testing` gives virtual time. */
  clock?: Clock;
  /** Scheduler observers, installed before `main` starts. */
  instruments?: Instrument[];
  /** Aborting it cancels the whole run; `run` then rejects with `signal.reason`. */
  signal?: AbortSignal;
}

interface MainArg<T> {
  main: () => Promise<T> | T;
  scope: CancelScope;
  signal: AbortSignal | undefined;
}

/**
 * Runs `main` as the root task of a fresh runtime; resolves with its value or rejects with its error
 * (bare, never grouped). A `run` inside a `run` rejects with `RuntimeError`.
 *
 * @example
 * ```ts
 * await run(async () => {
 *   await openNursery(async (n) => {
 *     n.startSoon(() => sleep(100));
 *   });
 * }, { signal: AbortSignal.timeout(5000) });
 * ```
 */
export function run<T>(main: () => Promise<T> | T, opts?: RunOptions): Promise<T> {
  requireFunction("run", "main", main);
  requireOptions("run", "opts", opts);
  const clock = opts?.clock;
  const instruments = opts?.instruments;
  const signal = opts?.signal;
  if (clock !== undefined) {
    if (clock === null || typeof clock !== "object" || typeof clock.currentTime !== "function" || typeof clock.deadlineToSleepTime !== "function") {
      throw new TypeError(`run: opts.clock must implement currentTime() and deadlineToSleepTime(), got ${describe(clock)}`);
    }
  }
  if (instruments !== undefined && !Array.isArray(instruments)) {
    throw new TypeError(`run: opts.instruments must be an array, got ${describe(instruments)}`);
  }
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`run: opts.signal must be an AbortSignal, got ${describe(signal)}`);
  }
  const outer = getStatus();
  if (outer !== undefined && !outer.runtime.implicit) {
    return Promise.reject(new RuntimeError("run() was called inside another run(): open a nursery instead"));
  }
  return new Promise<T>((resolve, reject) => {
    const rt = new Runtime(clock ?? new SystemClock(), false);
    if (instruments !== undefined && instruments.length > 0) {
      const set = new InstrumentSet(() => {
        rt.instruments = null;
      });
      for (const i of instruments) set.add(i);
      rt.instruments = set;
    }
    const scope = CancelScope._make(Infinity, NaN, false);
    const state = new RunState<T>(rt, resolve, reject, signal);
    const arg: MainArg<T> = { main, scope, signal };
    const task = new Task(rt, null, "main", runMain as (a: unknown) => unknown, arg, state);
    rt.root = task;
    rt.tasksLiving++;
    rt.onDeadlock = (err) => state.finish(true, err);
    state.scope = scope;
    if (signal !== undefined) {
      if (signal.aborted) state.onAbort();
      else signal.addEventListener("abort", state.onAbort, { once: true });
    }
    const ins = rt.instruments;
    if (ins !== null) {
      ins.call("beforeRun");
      ins.call("taskSpawned", task);
      ins.call("taskScheduled", task);
    }
    rt.enqueue(task);
  });
}

async function runMain<T>(arg: MainArg<T>): Promise<T> {
  const scope = arg.scope;
  const value = await scope._body(scope._enter(currentStatus()), arg.main as (s: CancelScope) => Promise<T> | T);
  if (scope.cancelledCaught) throw arg.signal!.reason;
  return value as T;
}

class RunState<T> implements TaskExitTarget {
  scope: CancelScope | null = null;
  private done = false;

  constructor(
    private readonly rt: Runtime,
    private readonly resolve: (v: T) => void,
    private readonly reject: (e: unknown) => void,
    private readonly signal: AbortSignal | undefined,
  ) {}

  readonly onAbort = (): void => {
    const reason = this.signal?.reason;
    const text = typeof reason === "string" ? reason : reason instanceof Error ? reason.message : undefined;
    this.scope!._cancelInternal(new CancelCause("abort", text, undefined));
  };

  _taskExited(_task: Task, failed: boolean, result: unknown): void {
    this.finish(failed, result);
  }

  finish(failed: boolean, result: unknown): void {
    if (this.done) return;
    this.done = true;
    this.signal?.removeEventListener("abort", this.onAbort);
    const ins = this.rt.instruments;
    if (ins !== null) ins.call("afterRun");
    this.rt.onDeadlock = null;
    this.rt.close();
    if (failed) this.reject(result);
    else this.resolve(result as T);
  }
}
