/**
 * The runtime's notion of time. Deadlines are absolute milliseconds on the clock; the scheduler turns
 * them into one host timer through `deadlineToSleepTime`. A clock that wants virtual time (the
 * `MockClock` of `@quartet/testing`) also implements the autojump hooks and tells the runtime when its
 * time or rate changed, so the runtime can recompute its timer and expire deadlines.
 */

/** What a runtime offers the clock it runs on. */
export interface ClockHost {
  /**
   * The clock's time, rate or autojump threshold changed: re-check expired deadlines on the next
   * scheduler pass and re-arm the host timer.
   */
  clockChanged(): void;
}

/**
 * A time source for a runtime. `currentTime()` is in milliseconds; it must never go backwards.
 *
 * @example
 * ```ts
 * const fixed: Clock = { currentTime: () => 0, deadlineToSleepTime: (d) => (d <= 0 ? 0 : Infinity) };
 * ```
 */
export interface Clock {
  /** Called once when a runtime starts using this clock. */
  startClock?(host: ClockHost): void;
  /** Called when the runtime stops using this clock. */
  stopClock?(host: ClockHost): void;
  /** Current time in ms. */
  currentTime(): number;
  /**
   * Real milliseconds until `deadline` is reached if nothing else happens: 0 when it is already
   * reached, `Infinity` when real time passing alone will never reach it (a stopped virtual clock).
   */
  deadlineToSleepTime(deadline: number): number;
  /**
   * Real ms of runtime idleness after which the runtime calls `autojump()`; `Infinity` or absent
   * means never. Read every time the runtime goes idle, so changes apply at once (call
   * `host.clockChanged()` after changing it).
   */
  readonly autojumpThreshold?: number;
  /** Move the clock to `deadline` (the earliest pending deadline); called only when idle. */
  autojump?(deadline: number): void;
}

/**
 * The default clock: `performance.now()` plus a large random offset, so that code comparing runtime
 * time with wall-clock time fails loudly instead of almost working (as Trio does).
 */
export class SystemClock implements Clock {
  /** @internal */
  readonly offset: number = 1e7 + Math.floor(Math.random() * 1.9e8);

  currentTime(): number {
    return performance.now() + this.offset;
  }

  deadlineToSleepTime(deadline: number): number {
    const d = deadline - this.currentTime();
    return d > 0 ? d : 0;
  }
}
