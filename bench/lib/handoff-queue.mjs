// The raw baseline for channel hand-off: a minimal hand-written promise queue with a capacity
// (0 = rendezvous, Infinity = unbounded). A ring buffer, waiting putters/takers as arrays with head
// indexes; no cancellation, no close, no fairness beyond FIFO: the floor a channel is measured against.
export class HandoffQueue {
  constructor(capacity) {
    this.capacity = capacity;
    this.buf = [];
    this.head = 0;
    this.takers = [];
    this.takersHead = 0;
    this.putters = [];
    this.puttersHead = 0;
  }

  /** Resolves once the value is buffered or taken. */
  put(v) {
    if (this.takersHead < this.takers.length) {
      const t = this.takers[this.takersHead];
      this.takers[this.takersHead++] = undefined;
      if (this.takersHead === this.takers.length) this.takers.length = this.takersHead = 0;
      t(v);
      return undefined;
    }
    if (this.buf.length - this.head < this.capacity) {
      this.buf.push(v);
      return undefined;
    }
    return new Promise((resolve) => this.putters.push({ v, resolve }));
  }

  /** Resolves with the next value. */
  take() {
    if (this.head < this.buf.length) {
      const v = this.buf[this.head];
      this.buf[this.head++] = undefined;
      if (this.head === this.buf.length) this.buf.length = this.head = 0;
      else if (this.head > 1024 && this.head * 2 > this.buf.length) {
        this.buf = this.buf.slice(this.head);
        this.head = 0;
      }
      this.refill();
      return v;
    }
    if (this.puttersHead < this.putters.length) {
      const p = this.putters[this.puttersHead];
      this.putters[this.puttersHead++] = undefined;
      if (this.puttersHead === this.putters.length) this.putters.length = this.puttersHead = 0;
      p.resolve();
      return p.v;
    }
    return new Promise((resolve) => this.takers.push(resolve));
  }

  refill() {
    if (this.puttersHead < this.putters.length && this.buf.length - this.head < this.capacity) {
      const p = this.putters[this.puttersHead];
      this.putters[this.puttersHead++] = undefined;
      if (this.puttersHead === this.putters.length) this.putters.length = this.puttersHead = 0;
      this.buf.push(p.v);
      p.resolve();
    }
  }
}
