/**
 * In-order acknowledgement for one stream. Workers finish entries out of order, but an entry may only
 * be acknowledged once it and every entry delivered before it (on the same stream) are processed:
 * that is what makes "everything up to here is done" true, as a Kafka offset commit is. The log hands
 * out the longest processed prefix that was not handed out yet; everything after the first unfinished
 * entry waits, even if it is processed, and is redelivered after a restart if the consumer stops first.
 *
 * @example
 * ```ts
 * const log = new CommitLog();
 * const a = log.register("1-0"), b = log.register("2-0");
 * log.markDone(b);
 * log.takeReady(); // [] : "1-0" is not processed yet
 * log.markDone(a);
 * log.takeReady(); // ["1-0", "2-0"]
 * ```
 */
export class CommitLog {
  // ids[i] was delivered at position base + i; done[i] says its processing succeeded.
  private ids: string[] = [];
  private done: boolean[] = [];
  private base = 0;
  // Index (into ids) of the first entry not yet handed out by takeReady().
  private head = 0;

  /** Entries registered but not handed out for acknowledgement yet. */
  get outstanding(): number {
    return this.ids.length - this.head;
  }

  /** Records a delivered entry, in delivery order; returns its position for `markDone`. */
  register(id: string): number {
    this.ids.push(id);
    this.done.push(false);
    return this.base + this.ids.length - 1;
  }

  /** Marks the entry at `position` processed. Marking one twice, or one already handed out, is a bug. */
  markDone(position: number): void {
    const i = position - this.base;
    if (i < this.head || i >= this.ids.length || this.done[i]) {
      throw new Error(`CommitLog.markDone: position ${position} is not an outstanding entry`);
    }
    this.done[i] = true;
  }

  /** The ids of the processed prefix not handed out yet, oldest first (empty if there is none). */
  takeReady(): string[] {
    const start = this.head;
    let end = start;
    while (end < this.ids.length && this.done[end]) end++;
    if (end === start) return [];
    const ready = this.ids.slice(start, end);
    this.head = end;
    // Drop the handed-out front once it dominates, so a long-running consumer stays O(outstanding).
    if (this.head >= 1024 && this.head * 2 >= this.ids.length) {
      this.ids = this.ids.slice(this.head);
      this.done = this.done.slice(this.head);
      this.base += this.head;
      this.head = 0;
    }
    return ready;
  }
}
