/**
 * `MockClock`: virtual time for tests. Time starts at 0 and moves only by `jump()`, by `rate` (virtual
 * ms per real ms) or by autojump: once the runtime has been idle for `autojumpThreshold` real ms, the
 * runtime jumps the clock to the next pending deadline. With threshold 0, a test that sleeps for a
 * simulated hour finishes in milliseconds.
 */
import type { Clock, ClockHost } from "@quartet/core";

/** Options of `new MockClock(opts)`. */
export interface MockClockOptions {
  /** Virtual ms per real ms (default 0: time moves only by jumps). */
  rate?: number;
  /** Real ms of idleness before jumping to the next deadline (default `Infinity`: never; 0: at once). */
  autojumpThreshold?: number;
}

function describe(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : typeof v === "object" && v !== null ? "an object" : String(v);
}

function check(where: string, name: string, v: unknown, allowInfinity: boolean): number {
  if (typeof v !== "number") throw new TypeError(`${where}: ${name} must be a number, got ${describe(v)}`);
  if (!(v >= 0) || (!allowInfinity && v === Infinity)) {
    throw new RangeError(`${where}: ${name} must be a non-negative${allowInfinity ? "" : " finite"} number, got ${describe(v)}`);
  }
  return v;
}

/**
 * A clock whose time you control.
 *
 * @example
 * ```ts
 * const clock = new MockClock({ autojumpThreshold: 0 });
 * await run(async () => { await sleep(3_600_000); }, { clock }); // instant
 * ```
 */
export class MockClock implements Clock {
  #rate: number;
  #threshold: number;
  #virtualBase = 0;
  #realBase = performance.now();
  #host: ClockHost | null = null;

  constructor(opts?: MockClockOptions) {
    if (opts !== undefined && (opts === null || typeof opts !== "object")) {
      throw new TypeError(`MockClock: opts must be an object, got ${describe(opts)}`);
    }
    this.#rate = check("MockClock", "opts.rate", opts?.rate ?? 0, false);
    this.#threshold = check("MockClock", "opts.autojumpThreshold", opts?.autojumpThreshold ?? Infinity, true);
  }

  /** Virtual ms per real ms. Changing it keeps the current virtual time. */
  get rate(): number {
    return this.#rate;
  }

  set rate(value: number) {
    check("MockClock.rate", "value", value, false);
    this.#rebase();
    this.#rate = value;
    this.#host?.clockChanged();
  }

  /** Real ms of idleness before an autojump; takes effect immediately. */
  get autojumpThreshold(): number {
    return this.#threshold;
  }

  set autojumpThreshold(value: number) {
    check("MockClock.autojumpThreshold", "value", value, true);
    this.#threshold = value;
    this.#host?.clockChanged();
  }

  currentTime(): number {
    if (this.#rate === 0) return this.#virtualBase;
    return this.#virtualBase + this.#rate * (performance.now() - this.#realBase);
  }

  deadlineToSleepTime(deadline: number): number {
    const now = this.currentTime();
    if (deadline <= now) return 0;
    if (this.#rate > 0) return (deadline - now) / this.#rate;
    return Infinity;
  }

  /** Moves virtual time forward by `ms` (≥ 0). Expired deadlines fire on the next scheduler pass. */
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

  /** @internal Clock hook: jump exactly to a future, finite deadline. */
  autojump(deadline: number): void {
    const now = this.currentTime();
    if (deadline > now && deadline < Infinity) this.jump(deadline - now);
  }

  #rebase(): void {
    const real = performance.now();
    this.#virtualBase += this.#rate * (real - this.#realBase);
    this.#realBase = real;
  }
}
