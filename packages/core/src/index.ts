/**
 * @quartet/core: structured concurrency for TypeScript. Nurseries, cancel scopes, timeouts and
 * checkpoints, in the style of Trio.
 *
 * @example
 * ```ts
 * import { openNursery, moveOnAfter, sleep } from "@quartet/core";
 * await openNursery(async (n) => {
 *   n.startSoon(() => sleep(100));
 *   await moveOnAfter(50, () => sleep(1000));
 * });
 * ```
 * @module @quartet/core
 */
export { run, type RunOptions } from "./run.js";
export { CancelScope, type CancelScopeOptions } from "./cancel-scope.js";
export { moveOnAfter, moveOnAt, failAfter, failAt, type TimeoutOptions } from "./timeouts.js";
export { sleep, sleepUntil, sleepForever } from "./sleep.js";
export { checkpoint } from "./checkpoint.js";
export { currentTime, currentEffectiveDeadline, currentTask } from "./current.js";
export { cancellable, currentSignal } from "./cancellable.js";
export { openNursery, Nursery, TASK_STATUS_IGNORED, type TaskStatus, type SpawnOptions } from "./nursery.js";
export { Task } from "./task.js";
export {
  Cancelled,
  TooSlowError,
  ExceptionGroup,
  RuntimeError,
  WouldBlock,
  ClosedResourceError,
  BrokenResourceError,
  EndOfChannel,
  BusyResourceError,
  isCancelled,
  type CancelSource,
  type ErrorMatcher,
} from "./errors.js";
export type { Clock, ClockHost } from "./clock.js";
export type { Instrument } from "./instrument.js";
export { Event, type EventStatistics } from "./event.js";
export { Lock, StrictFIFOLock, type LockBase, type LockStatistics } from "./lock.js";
export { Semaphore, type SemaphoreOptions, type SemaphoreStatistics } from "./semaphore.js";
export { CapacityLimiter, type CapacityLimiterStatistics } from "./capacity-limiter.js";
export { Condition, type ConditionStatistics } from "./condition.js";
export {
  installGeneratorGuard,
  GeneratorGuardError,
  type GuardViolation,
  type GeneratorGuardOptions,
} from "./generator-guard.js";
