/**
 * "Where am I?": the current cancel-status node, task and runtime. Outside any `run()` every primitive
 * still works, on an implicit runtime using the system clock that is created on first use.
 */
import { CancelStatus } from "./cancel-status.js";
import { SystemClock } from "./clock.js";
import { enterStatus, getStatus } from "./context.js";
import { Runtime } from "./runtime.js";
import { Task } from "./task.js";

let implicit: Runtime | null = null;

function noop(): void {}

/** @internal The implicit runtime (created on first use). */
export function implicitRuntime(): Runtime {
  if (implicit === null) {
    const rt = new Runtime(new SystemClock(), true);
    rt.root = new Task(rt, null, "<implicit>", noop, undefined, null);
    implicit = rt;
  }
  return implicit;
}

/** @internal The node the running code is in. */
export function currentStatus(): CancelStatus {
  const s = getStatus();
  return s !== undefined ? s : implicitRuntime().root;
}

/**
 * The task running this code. Outside any task (a script's top level, an HTTP handler outside `run`)
 * the calling async chain is given its own implicit task the first time it asks, so that locks and
 * capacity limiters can tell concurrent callers apart.
 *
 * @example
 * ```ts
 * n.startSoon(async () => console.log(currentTask().name), { name: "worker" });
 * ```
 */
export function currentTask(): Task {
  const s = getStatus();
  if (s !== undefined) return s.task;
  const rt = implicitRuntime();
  // Not attached to the implicit root: that root is never cancelled, and attaching every request's
  // implicit task would grow its child list forever.
  const t = new Task(rt, null, "<implicit>", noop, undefined, null);
  enterStatus(t);
  return t;
}

/**
 * The current time on the runtime's clock, in ms. Deadlines (`moveOnAt`, `scope.deadline`) use it.
 *
 * @example
 * ```ts
 * await moveOnAt(currentTime() + 100, work);
 * ```
 */
export function currentTime(): number {
  return currentStatus().runtime.clock.currentTime();
}

/**
 * The deadline that currently applies to the running code: `-Infinity` if it is already cancelled,
 * `Infinity` if none; otherwise the earliest deadline of the enclosing scopes up to the first shield.
 *
 * @example
 * ```ts
 * const budget = currentEffectiveDeadline() - currentTime();
 * ```
 */
export function currentEffectiveDeadline(): number {
  let n: CancelStatus | null = currentStatus();
  if (n.effective) return -Infinity;
  let d = Infinity;
  for (; n !== null; n = n.parent) {
    const s = n.scope;
    if (s === null) continue;
    if (s._deadline < d) d = s._deadline;
    if (s._shield) break;
  }
  return d;
}
