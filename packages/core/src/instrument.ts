/**
 * Instruments observe the scheduler (Trio §1.6/§4.6). Hooks are captured when an instrument is added,
 * so patching an instrument later has no effect until it is removed and added again. A hook that
 * throws disables its instrument (reported once through `process.emitWarning`); the run goes on.
 */
import { getStatus, runWithStatus } from "./context.js";
import { RuntimeError, describe } from "./errors.js";
import type { Task } from "./task.js";

function callHooks(a: { set: InstrumentSet; name: HookName; arg: unknown }): void {
  a.set.callHooks(a.name, a.arg);
}

/**
 * Scheduler observer. Every hook is optional.
 *
 * @example
 * ```ts
 * const log: string[] = [];
 * await run(main, { instruments: [{ taskExited: (t) => log.push(`exit ${t.name}`) }] });
 * ```
 */
export interface Instrument {
  beforeRun?(): void;
  afterRun?(): void;
  taskSpawned?(task: Task): void;
  taskScheduled?(task: Task): void;
  beforeTaskStep?(task: Task): void;
  afterTaskStep?(task: Task): void;
  taskExited?(task: Task): void;
  beforeIoWait?(timeoutMs: number): void;
  afterIoWait?(timeoutMs: number): void;
}

/** @internal */
export type HookName = keyof Instrument;

const HOOKS: readonly HookName[] = [
  "beforeRun",
  "afterRun",
  "taskSpawned",
  "taskScheduled",
  "beforeTaskStep",
  "afterTaskStep",
  "taskExited",
  "beforeIoWait",
  "afterIoWait",
];

interface Entry {
  instrument: Instrument;
  hooks: Map<HookName, (arg?: unknown) => void>;
}

/** @internal The instruments of one runtime. */
export class InstrumentSet {
  private entries: Entry[] = [];

  /** `onEmpty` runs when the last instrument goes, so the runtime can drop back to its fast paths. */
  constructor(private readonly onEmpty: () => void) {}

  get size(): number {
    return this.entries.length;
  }

  add(instrument: Instrument): void {
    if (instrument === null || typeof instrument !== "object") {
      throw new TypeError(`addInstrument: instrument must be an object, got ${describe(instrument)}`);
    }
    if (this.entries.some((e) => e.instrument === instrument)) return;
    const hooks = new Map<HookName, (arg?: unknown) => void>();
    for (const name of HOOKS) {
      const h = (instrument as Record<string, unknown>)[name];
      if (typeof h === "function") hooks.set(name, h as (arg?: unknown) => void);
    }
    this.entries.push({ instrument, hooks });
  }

  remove(instrument: Instrument): void {
    const i = this.entries.findIndex((e) => e.instrument === instrument);
    if (i < 0) throw new RuntimeError("removeInstrument: this instrument is not installed");
    this.entries.splice(i, 1);
    if (this.entries.length === 0) this.onEmpty();
  }

  call(name: HookName, arg?: unknown): void {
    // Trio runs the task-step hooks with `currentTask()` being that task. The scheduler calls
    // `beforeTaskStep` from its own batch, whose async context belongs to whoever scheduled it.
    if (
      (name === "beforeTaskStep" || name === "afterTaskStep" || name === "taskExited") &&
      getStatus()?.task !== arg
    ) {
      runWithStatus(arg as Task, callHooks, { set: this, name, arg });
      return;
    }
    this.callHooks(name, arg);
  }

  /** @internal */
  callHooks(name: HookName, arg?: unknown): void {
    // Copy: a hook may add or remove instruments.
    const entries = this.entries.slice();
    for (const e of entries) {
      const h = e.hooks.get(name);
      if (h === undefined) continue;
      try {
        h.call(e.instrument, arg);
      } catch (err) {
        const i = this.entries.indexOf(e);
        if (i >= 0) this.entries.splice(i, 1);
        if (this.entries.length === 0) this.onEmpty();
        process.emitWarning(
          `Quartet instrument hook ${name} threw and the instrument has been disabled: ${String(err)}`,
          { code: "QUARTET_INSTRUMENT_ERROR" },
        );
      }
    }
  }
}
