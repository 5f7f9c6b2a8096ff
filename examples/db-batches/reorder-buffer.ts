/**
 * A bounded reorder buffer: results arrive in any order, keyed by their index, and come out in index
 * order. The bound is the backpressure: a producer must `reserve()` a place before it starts item
 * `i`, and places are given back only when items are *taken*, in order. So at most `window` items are
 * ever between "started" and "emitted", however slow the oldest one is.
 */
import { BusyResourceError, Event, Semaphore, checkpoint } from "@quartet/core";

/**
 * Puts out-of-order results back in order, holding at most `window` of them.
 *
 * @example
 * ```ts
 * const buf = new ReorderBuffer<string>(16);
 * await openNursery(async (n) => {
 *   n.startSoon(async () => {                        // producer
 *     for (let i = 0; i < jobs.length; i++) {
 *       await buf.reserve();                          // waits while 16 are pending
 *       n.startSoon(async () => buf.put(i, await work(jobs[i])));
 *     }
 *     buf.end(jobs.length);
 *   });
 *   for (let r = await buf.take(); r !== undefined; r = await buf.take()) console.log(r.index, r.value);
 * });
 * ```
 */
export class ReorderBuffer<T> {
  readonly #room: Semaphore;
  readonly #ready = new Map<number, T>();
  readonly #window: number;
  #next = 0;
  #end = Infinity;
  #wake: Event | null = null;
  #taking = false;
  #peak = 0;

  constructor(window: number) {
    if (!Number.isInteger(window) || window < 1) {
      throw new RangeError(`ReorderBuffer: window must be a positive integer, got ${String(window)}`);
    }
    this.#window = window;
    this.#room = new Semaphore(window, { max: window });
  }

  /**
   * Waits for a free place (the backpressure point), then holds it for the next item. A checkpoint:
   * cancelled while waiting, it holds nothing.
   */
  async reserve(): Promise<void> {
    await this.#room.acquire();
    this.#peak = Math.max(this.#peak, this.pending);
  }

  /** Gives back a place reserved for an item that will not exist (the producer ran out). */
  unreserve(): void {
    this.#room.release();
  }

  /** Stores the result of item `index`; wakes `take()` if it is the one it waits for. */
  put(index: number, value: T): void {
    if (!Number.isInteger(index) || index < this.#next || index >= this.#end || this.#ready.has(index)) {
      throw new RangeError(`ReorderBuffer.put: index ${index} is not an outstanding item`);
    }
    this.#ready.set(index, value);
    if (index === this.#next) this.#wake?.set();
  }

  /** Declares that there are exactly `count` items (0 … count-1): `take()` ends after them. */
  end(count: number): void {
    if (!Number.isInteger(count) || count < this.#next || this.#end !== Infinity) {
      throw new RangeError(`ReorderBuffer.end: bad count ${count}`);
    }
    this.#end = count;
    if (this.#next === count) this.#wake?.set();
  }

  /**
   * The next item in index order, waiting for it if needed; `undefined` after the last one (once
   * `end()` was called). Always a checkpoint. One consumer at a time (`BusyResourceError` otherwise).
   */
  async take(): Promise<{ index: number; value: T } | undefined> {
    if (this.#taking) throw new BusyResourceError("ReorderBuffer.take: another task is already taking");
    this.#taking = true;
    try {
      await checkpoint();
      while (!this.#ready.has(this.#next)) {
        if (this.#next >= this.#end) return undefined;
        this.#wake = new Event();
        await this.#wake.wait();
      }
    } finally {
      this.#wake = null;
      this.#taking = false;
    }
    const index = this.#next++;
    const value = this.#ready.get(index) as T;
    this.#ready.delete(index);
    this.#room.release();
    return { index, value };
  }

  /** Items reserved and not yet taken (started, in flight, or done and waiting for their turn). */
  get pending(): number {
    return this.#window - this.#room.value;
  }

  /** The most items that were ever pending at once: never more than `window`. */
  get peakPending(): number {
    return this.#peak;
  }
}
