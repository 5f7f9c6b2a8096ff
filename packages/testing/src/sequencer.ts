/**
 * `Sequencer`: forces blocks in different tasks to run in a fixed order, for tests that must pin down
 * an interleaving (Trio §4.3). Block 0 runs at once; block n runs once block n-1 has *finished*
 * (successfully or not). Trio's `async with seq(n):` becomes `await seq.run(n, fn)`.
 *
 * A cancelled wait breaks the sequence on purpose: the test can no longer mean what it says, so every
 * waiter and every later `run` fails with `RuntimeError` instead of silently running out of order.
 */
import { Cancelled, RuntimeError, checkpoint } from "@quartet/core";
import { ParkingLot, checkCancelled } from "@quartet/core/lowlevel";
import { describe, requireFunction } from "./describe.js";

/** One position: a one-shot event (Trio's `Event`), built on a parking lot. */
class Point {
  isSet = false;
  lot: ParkingLot | null = null;

  constructor(readonly position: number) {}

  set(): void {
    if (this.isSet) return;
    this.isSet = true;
    this.lot?.unparkAll();
  }

  /**
   * A full checkpoint when already set (as `Event.wait`), else parks until `set()`. The cancel check
   * comes first so that a wait entered in a cancelled scope always fails, even if the position is set
   * between the park and the runtime's (deferred) abort attempt.
   */
  wait(): Promise<unknown> {
    if (this.isSet || checkCancelled()) return checkpoint();
    // The lot's name is what a deadlock report shows for the waiting task.
    return (this.lot ??= new ParkingLot(`Sequencer position ${this.position}`)).park();
  }
}

/**
 * Runs blocks of different tasks in a fixed order: `seq.run(0, …)`, then `seq.run(1, …)`, and so on,
 * whatever order the tasks reach them in.
 *
 * - Each position may be used once; reusing one rejects with `RuntimeError`.
 * - A block's end (even by an error) releases the next position.
 * - If a task waiting for its position is cancelled, the sequence is broken: that task gets
 *   `RuntimeError("Sequencer wait cancelled -- sequence broken")` instead of `Cancelled`, every other
 *   waiter and every later `run` get `RuntimeError("sequence broken!")`.
 *
 * @example
 * ```ts
 * const seq = new Sequencer();
 * await openNursery(async (n) => {
 *   n.startSoon(async () => {
 *     await seq.run(1, () => log.push("second"));
 *   });
 *   n.startSoon(async () => {
 *     await seq.run(0, () => log.push("first"));
 *     await seq.run(2, () => log.push("third"));
 *   });
 * });
 * ```
 */
export class Sequencer {
  readonly #points = new Map<number, Point>();
  readonly #claimed = new Set<number>();
  #broken = false;

  /**
   * Waits until every position before `position` has finished, runs `fn`, then releases
   * `position + 1`. Resolves or rejects as `fn` does. `position` must be an integer ≥ 0 (checked
   * synchronously).
   */
  run<T>(position: number, fn: () => Promise<T> | T): Promise<T> {
    if (typeof position !== "number" || !Number.isInteger(position)) {
      throw new TypeError(`Sequencer.run: position must be an integer, got ${describe(position)}`);
    }
    if (position < 0) throw new RangeError(`Sequencer.run: position must be >= 0, got ${position}`);
    requireFunction("Sequencer.run", "fn", fn);
    return this.#run(position, fn);
  }

  async #run<T>(position: number, fn: () => Promise<T> | T): Promise<T> {
    if (this.#claimed.has(position)) throw new RuntimeError(`Sequencer: attempted to reuse sequence point ${position}`);
    if (this.#broken) throw new RuntimeError("sequence broken!");
    this.#claimed.add(position);
    if (position !== 0) {
      try {
        await this.#point(position).wait();
      } catch (e) {
        if (!(e instanceof Cancelled)) throw e;
        this.#broken = true;
        for (const p of this.#points.values()) p.set();
        throw new RuntimeError("Sequencer wait cancelled -- sequence broken");
      }
      if (this.#broken) throw new RuntimeError("sequence broken!");
    }
    try {
      return await fn();
    } finally {
      this.#point(position + 1).set();
    }
  }

  #point(position: number): Point {
    let p = this.#points.get(position);
    if (p === undefined) this.#points.set(position, (p = new Point(position)));
    return p;
  }
}
