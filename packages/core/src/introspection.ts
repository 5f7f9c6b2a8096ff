/**
 * Low-level access to the runtime: statistics, instruments, checkpoint counters.
 */
import type { Clock } from "./clock.js";
import { currentStatus, currentTask } from "./current.js";
import { describe } from "./errors.js";
import { InstrumentSet, type Instrument } from "./instrument.js";
import type { RuntimeStatistics } from "./runtime.js";
import { Task } from "./task.js";

/** The public face of a runtime. */
export interface QuartetRuntime {
  /** The clock this runtime runs on. */
  readonly clock: Clock;
  /** True for the implicit runtime used outside `run()`. */
  readonly implicit: boolean;
  statistics(): RuntimeStatistics;
}

/**
 * The runtime the calling code runs on (the implicit one outside `run`).
 *
 * @example
 * ```ts
 * const { clock } = currentRuntime();
 * ```
 */
export function currentRuntime(): QuartetRuntime {
  return currentStatus().runtime;
}

/**
 * Counters of the current runtime: living tasks, parked waits, pending deadlines, foreign waits.
 *
 * @example
 * ```ts
 * expect(currentStatistics().waitersParked).toBe(0);
 * ```
 */
export function currentStatistics(): RuntimeStatistics {
  return currentStatus().runtime.statistics();
}

/**
 * Installs an instrument on the current runtime (no-op if already installed). Hooks are captured now.
 *
 * @example
 * ```ts
 * addInstrument({ taskExited: (t) => console.log("exited", t.name) });
 * ```
 */
export function addInstrument(instrument: Instrument): void {
  if (instrument === null || typeof instrument !== "object") {
    throw new TypeError(`addInstrument: instrument must be an object, got ${describe(instrument)}`);
  }
  const rt = currentStatus().runtime;
  if (rt.instruments === null) {
    rt.instruments = new InstrumentSet(() => {
      rt.instruments = null;
    });
  }
  rt.instruments.add(instrument);
}

/**
 * Removes an instrument from the current runtime; `RuntimeError` if it is not installed.
 *
 * @example
 * ```ts
 * removeInstrument(myInstrument);
 * ```
 */
export function removeInstrument(instrument: Instrument): void {
  const rt = currentStatus().runtime;
  if (rt.instruments === null) {
    // Delegate to an empty set for the uniform error.
    new InstrumentSet(() => {}).remove(instrument);
    return;
  }
  rt.instruments.remove(instrument);
}

/** How many cancel points and schedule points a task has passed. */
export interface CheckpointCounts {
  cancelPoints: number;
  schedulePoints: number;
}

/**
 * Checkpoint counters of `task` (default: the current task), for `assertCheckpoints`-style tests.
 *
 * @example
 * ```ts
 * const before = checkpointCounts(); await work(); const after = checkpointCounts();
 * ```
 */
export function checkpointCounts(task?: Task): CheckpointCounts {
  if (task !== undefined && !(task instanceof Task)) {
    throw new TypeError(`checkpointCounts: task must be a Task, got ${describe(task)}`);
  }
  const t = task ?? currentTask();
  return { cancelPoints: t._cancelPoints, schedulePoints: t._schedulePoints };
}
