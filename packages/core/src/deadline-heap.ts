/**
 * A binary min-heap of deadline entries (active cancel scopes with a finite deadline, sleeping
 * waiters). Each entry records its own index so it can be removed or re-keyed in O(log n) when a
 * scope exits or its deadline moves; the runtime keeps one host timer for the heap's minimum.
 */

/** @internal Something with a deadline the runtime must act on when it expires. */
export interface DeadlineEntry {
  /** Absolute ms on the runtime clock. */
  deadline: number;
  /** Position in the heap, -1 when not in it. Owned by the heap. */
  heapIndex: number;
  /** Insertion order, so equal deadlines expire first-in first-out. Owned by the heap. */
  heapSeq: number;
  /** Called by the runtime once the clock reaches `deadline`, after removal from the heap. */
  expireDeadline(): void;
}

/** @internal */
export class DeadlineHeap {
  private items: DeadlineEntry[] = [];
  private seq = 0;

  get size(): number {
    return this.items.length;
  }

  peek(): DeadlineEntry | undefined {
    return this.items[0];
  }

  push(entry: DeadlineEntry): void {
    const i = this.items.length;
    entry.heapSeq = this.seq++;
    this.items.push(entry);
    entry.heapIndex = i;
    this.up(i);
  }

  remove(entry: DeadlineEntry): void {
    const i = entry.heapIndex;
    if (i < 0) return;
    const items = this.items;
    const last = items.pop()!;
    entry.heapIndex = -1;
    if (last === entry) return;
    items[i] = last;
    last.heapIndex = i;
    this.down(i);
    this.up(last.heapIndex);
  }

  /** Re-positions `entry` after its deadline changed. */
  update(entry: DeadlineEntry): void {
    const i = entry.heapIndex;
    if (i < 0) return;
    entry.heapSeq = this.seq++;
    this.up(i);
    this.down(entry.heapIndex);
  }

  pop(): DeadlineEntry | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0]!;
    this.remove(top);
    return top;
  }

  private up(i: number): void {
    const items = this.items;
    const e = items[i]!;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const pe = items[p]!;
      if (before(pe, e)) break;
      items[i] = pe;
      pe.heapIndex = i;
      i = p;
    }
    items[i] = e;
    e.heapIndex = i;
  }

  private down(i: number): void {
    const items = this.items;
    const n = items.length;
    const e = items[i]!;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const r = l + 1;
      const c = r < n && before(items[r]!, items[l]!) ? r : l;
      const ce = items[c]!;
      if (before(e, ce)) break;
      items[i] = ce;
      ce.heapIndex = i;
      i = c;
    }
    items[i] = e;
    e.heapIndex = i;
  }
}

function before(a: DeadlineEntry, b: DeadlineEntry): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.heapSeq < b.heapSeq);
}
