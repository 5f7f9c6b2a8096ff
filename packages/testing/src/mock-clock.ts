/**
 * `MockClock`: virtual time for tests. Time starts at 0 and moves only by `jump()`, by `rate` (virtual
 * ms per real ms) or by autojump: once the runtime has been idle for `autojumpThreshold` real ms, the
 * runtime jumps the clock to the next pending deadline. With threshold 0, a test that sleeps for a
 * simulated hour finishes in milliseconds.
 *
 * The time model is Trio's: `virtual = virtualBase + rate * (real - realBase)`. Changing `rate`
 * re-bases first, so virtual time stays continuous. The idle detection itself lives in the runtime
 * (it alone knows when every task is blocked); the clock only says how long to wait (`autojumpThreshold`)
 * and where to go (`autojump(deadline)`), and tells its runtime when any of that changed.
 */
import type { Clock, ClockHost } from "@quartet/core";
import { describe, requireOptions } from "./describe.js";

/** Options of `new MockClock(opts)`. */
export interface MockClockOptions {
  /** Virtual ms per real ms (default 0: time moves only by jumps and autojump). */
  rate?: number;
  /** Real ms of idleness before jumping to the next deadline (default `Infinity`: never; 0: at once). */
  autojumpThreshold?: number;
  /**
   * The real-time source, in ms (default `performance.now`). Only `rate > 0` reads it; inject a fake
   * to test rate arithmetic exactly. Autojump and `waitAllTasksBlocked` cushions always use the real
   * clock of the runtime, not this one.
   */
  realTime?: () => number;
}

function check(where: string, name: string, v: unknown, allowInfinity: boolean): number {
  if (typeof v !== "number") throw new TypeError(`${where}: ${name} must be a number, got ${describe(v)}`);
  if (!(v >= 0) || (!allowInfinity && v === Infinity)) {
    throw new RangeError(`${where}: ${name} must be a non-negative${allowInfinity ? "" : " finite"} number, got ${describe(v)}`);
  }
  return v;
}

const defaultRealTime = (): number => performance.now();

/**
 * A clock whose time you control. Pass it to `run(main, { clock })` (or let `quartetTest` do it).
 * The usual set-ups are `new MockClock()` (time moves only when you `jump`) and
 * `new MockClock({ autojumpThreshold: 0 })` (time skips to the next deadline as soon as every task
 * is blocked).
 *
 * @example
 * ```ts
 * const clock = new MockClock({ autojumpThreshold: 0 });
 * await run(async () => {
 *   await sleep(3_600_000); // a simulated hour, instantly
 *   console.log(currentTime()); // 3600000
 * }, { clock });
 * ```
 */
export class MockClock implements Clock {
  #rate: number;
  #threshold: number;
  #virtualBase = 0;
  readonly #realTime: () => number;
  #realBase: number;
  #host: ClockHost | null = null;

  constructor(opts?: MockClockOptions) {
    requireOptions("MockClock", "opts", opts);
    const realTime = opts?.realTime ?? defaultRealTime;
    if (typeof realTime !== "function") {
      throw new TypeError(`MockClock: opts.realTime must be a function returning ms, got ${describe(realTime)}`);
    }
    this.#rate = check("MockClock", "opts.rate", opts?.rate ?? 0, false);
    this.#threshold = check("MockClock", "opts.autojumpThreshold", opts?.autojumpThreshold ?? Infinity, true);
    this.#realTime = realTime;
    this.#realBase = realTime();
  }

  /** Virtual ms per real ms (≥ 0, finite). Setting it keeps the current virtual time. */
  get rate(): number {
    return this.#rate;
  }

  set rate(value: number) {
    check("MockClock.rate", "value", value, false);
    this.#rebase();
    this.#rate = value;
    this.#host?.clockChanged();
  }

  /**
   * Real ms the runtime must have been idle (every task blocked) before the clock jumps to the next
   * deadline; `Infinity` turns autojump off, 0 jumps as soon as every task is blocked. Takes effect
   * immediately, even while the runtime is already idle. Setting it on a clock that no run uses has no
   * effect on any run.
   */
  get autojumpThreshold(): number {
    return this.#threshold;
  }

  set autojumpThreshold(value: number) {
    check("MockClock.autojumpThreshold", "value", value, true);
    this.#threshold = value;
    this.#host?.clockChanged();
  }

  /** The virtual time in ms; starts at 0. */
  currentTime(): number {
    if (this.#rate === 0) return this.#virtualBase;
    return this.#virtualBase + this.#rate * (this.#realTime() - this.#realBase);
  }

  /**
   * Real ms until `deadline` is reached by the passing of real time alone: 0 if already reached,
   * `(deadline - now) / rate` if `rate > 0`, `Infinity` for a stopped clock.
   */
  deadlineToSleepTime(deadline: number): number {
    const now = this.currentTime();
    if (deadline <= now) return 0;
    if (this.#rate > 0) return (deadline - now) / this.#rate;
    return Infinity;
  }

  /**
   * Moves virtual time forward by `ms` (finite, ≥ 0; negative or NaN → `RangeError`, and the time is
   * unchanged). May be called from inside tasks: deadlines that expire fire on the next scheduler pass,
   * so the caller keeps running until its next checkpoint.
   *
   * @example
   * ```ts
   * clock.jump(5000);
   * await checkpoint(); // a 5 s timeout around this code fires here
   * ```
   */
  jump(ms: number): void {
    check("MockClock.jump", "ms", ms, false);
    this.#virtualBase += ms;
    this.#host?.clockChanged();
  }

  /** @internal Clock hook. */
  startClock(host: ClockHost): void {
    this.#rebase();
    this.#host = host;
  }

  /** @internal Clock hook. */
  stopClock(host: ClockHost): void {
    if (this.#host === host) this.#host = null;
  }

  /**
   * @internal Clock hook: jump exactly to a future, finite deadline (never backwards). Sets the time
   * rather than adding `deadline - now`, which can land one ulp short and leave the deadline unexpired.
   */
  autojump(deadline: number): void {
    this.#rebase();
    if (!(deadline > this.#virtualBase && deadline < Infinity)) return;
    this.#virtualBase = deadline;
    this.#host?.clockChanged();
  }

  toString(): string {
    return `MockClock(time=${this.currentTime()}, rate=${this.#rate}, autojumpThreshold=${this.#threshold})`;
  }

  #rebase(): void {
    const real = this.#realTime();
    this.#virtualBase += this.#rate * (real - this.#realBase);
    this.#realBase = real;
  }
}
