/**
 * The item buffer of a memory channel: a growable ring over a power-of-two array. `Array.prototype.shift`
 * is O(n) once an array leaves V8's fast path, and a linked list costs a node per item; the ring costs
 * the item's own slot and nothing else until it has to grow (doubling, so growth is amortised O(1)).
 * Vacated slots are cleared so the buffer never keeps a received item alive.
 */

/** Starting capacity of an unbounded buffer (it doubles as needed). */
const INITIAL_CAPACITY = 8;
/** A bounded buffer is allocated at its full size up to this many slots, and grows past it. */
const MAX_PREALLOCATED = 1024;

/** @internal */
export class RingBuffer<T> {
  private slots: (T | undefined)[];
  private mask: number;
  private head = 0;
  /** Number of items held. */
  length = 0;

  /** `expected`: the channel's size (0 needs no slot, but the ring keeps one). */
  constructor(expected: number) {
    const want = expected === Infinity ? INITIAL_CAPACITY : Math.min(expected, MAX_PREALLOCATED);
    let cap = 1;
    while (cap < want) cap <<= 1;
    this.slots = new Array<T | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  push(value: T): void {
    if (this.length > this.mask) this.grow();
    this.slots[(this.head + this.length) & this.mask] = value;
    this.length++;
  }

  /** Removes and returns the oldest item; the caller checks `length > 0` first. */
  shift(): T {
    const i = this.head;
    const v = this.slots[i] as T;
    this.slots[i] = undefined;
    this.head = (i + 1) & this.mask;
    this.length--;
    return v;
  }

  /** Drops every item (the slots are cleared so nothing stays reachable). */
  clear(): void {
    while (this.length > 0) this.shift();
    this.head = 0;
  }

  private grow(): void {
    const old = this.slots;
    const cap = old.length;
    const next = new Array<T | undefined>(cap * 2).fill(undefined);
    for (let i = 0; i < this.length; i++) next[i] = old[(this.head + i) & this.mask];
    this.slots = next;
    this.mask = cap * 2 - 1;
    this.head = 0;
  }
}
