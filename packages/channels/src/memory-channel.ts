/**
 * Memory channels: Trio's `open_memory_channel` (§2). Both handles share one `ChannelState`: the item
 * buffer, the open-handle counts, the FIFO queues of blocked senders and blocked receivers, and the
 * peak buffer use. Each handle has its own closed flag, and every parked operation remembers the
 * handle it went through, so closing one clone wakes only the operations parked through that clone.
 *
 * Atomicity comes from core's blocking primitive: a parked operation is in its queue exactly while its
 * waiter is parked; the abort function takes it out (nothing delivered, nothing consumed), and a
 * hand-off reschedules the waiter with the value, which commits it (a later cancellation can no longer
 * undo it). Invariants: receivers are parked only while the buffer is empty, senders only while it is
 * full (or the size is 0), so at most one queue is non-empty.
 *
 * Hot path: `send` and `receive` are plain functions (no async function, no closure): a cancel check,
 * the non-blocking operation, and a cancel-shielded schedule point. An item costs its slot in the ring
 * buffer and, on the receive side, the resolved promise that carries it.
 */
import { BrokenResourceError, ClosedResourceError, EndOfChannel, WouldBlock, checkpoint } from "@quartet/core";
import { Abort, Waiter, cancelShieldedCheckpoint, checkCancelled, reschedule, waitTaskRescheduled } from "@quartet/core/lowlevel";
import { RingBuffer } from "./ring-buffer.js";
import { requireBufferSize } from "./validate.js";

/**
 * What `statistics()` returns, identical from either side of a channel.
 */
export interface MemoryChannelStatistics {
  /** Items in the buffer now. */
  currentBufferUsed: number;
  /** The size the channel was opened with (`Infinity` for unbounded). */
  maxBufferSize: number;
  /** Send handles (the original and its clones) not yet closed. */
  openSendChannels: number;
  /** Receive handles not yet closed. */
  openReceiveChannels: number;
  /** Blocked `send` calls, summed over every send handle (stream adapters' pending writes included). */
  tasksWaitingSend: number;
  /** Blocked `receive` calls, summed over every receive handle. */
  tasksWaitingReceive: number;
  /** The most items the buffer ever held: a guide for choosing `maxBufferSize` from a real run. */
  peakBufferUsed: number;
}

// ---------------------------------------------------------------------------------------- queues

/** @internal A blocked operation in a channel queue: a parked task, or a stream adapter's pending write. */
export interface QueueNode {
  qPrev: QueueNode | null;
  qNext: QueueNode | null;
  /** The handle the operation went through (closing it wakes the operation). */
  readonly handle: MemorySendChannel<any> | MemoryReceiveChannel<any>;
  /** A blocked sender's value. */
  data: unknown;
  /** True for a `ForeignSender` (woken by callback), false for a parked task. */
  readonly foreign: boolean;
}

/** An intrusive FIFO: O(1) append, removal from anywhere (cancellation) and pop, no node allocation. */
class WaitQueue {
  head: QueueNode | null = null;
  tail: QueueNode | null = null;
  size = 0;

  push(n: QueueNode): void {
    n.qNext = null;
    n.qPrev = this.tail;
    if (this.tail === null) this.head = n;
    else this.tail.qNext = n;
    this.tail = n;
    this.size++;
  }

  remove(n: QueueNode): void {
    const p = n.qPrev;
    const x = n.qNext;
    if (p === null) this.head = x;
    else p.qNext = x;
    if (x === null) this.tail = p;
    else x.qPrev = p;
    n.qPrev = n.qNext = null;
    this.size--;
  }
}

/** A task parked in `send` or `receive`. */
class ChannelWaiter extends Waiter<any> implements QueueNode {
  qPrev: QueueNode | null = null;
  qNext: QueueNode | null = null;
  readonly foreign = false;
  constructor(
    what: string,
    readonly handle: MemorySendChannel<any> | MemoryReceiveChannel<any>,
    data: unknown,
  ) {
    super(what, data);
  }
}

/**
 * @internal A pending write from outside any task (a Node `Writable`, a WHATWG `WritableStream`, a
 * readable source being pumped). It queues among parked senders, FIFO, and is told its outcome through
 * `callback`, on a later microtask (never from inside the channel operation that completed it).
 */
export class ForeignSender implements QueueNode {
  qPrev: QueueNode | null = null;
  qNext: QueueNode | null = null;
  readonly foreign = true;
  /** True while queued in the channel. */
  queued = true;
  private error: unknown = undefined;
  private readonly fire = (): void => this.callback(this.error);

  constructor(
    readonly handle: MemorySendChannel<any>,
    public data: unknown,
    private readonly callback: (error: unknown) => void,
  ) {}

  /** @internal Completes the write (`error` undefined) or fails it. */
  _settle(error: unknown): void {
    this.queued = false;
    this.data = undefined;
    this.error = error;
    queueMicrotask(this.fire);
  }
}

// ---------------------------------------------------------------------------------------- state

const NO_FAILURE: unique symbol = Symbol("no failure");

/** @internal The state both sides of a channel share. */
export class ChannelState<T> {
  readonly buffer: RingBuffer<T>;
  openSend = 1;
  openReceive = 1;
  readonly senders = new WaitQueue();
  readonly receivers = new WaitQueue();
  peak = 0;
  /** Raised instead of `EndOfChannel` once drained (`closeSendWithError`); `NO_FAILURE` otherwise. */
  failure: unknown = NO_FAILURE;
  /** Whether some receive has raised `failure`. */
  failureDelivered = false;
  /** Called once, when the last receive handle closes (stream adapters destroy their source then). */
  receiveClosedHooks: (() => void)[] | null = null;

  constructor(readonly max: number) {
    this.buffer = new RingBuffer<T>(max);
  }
}

/** Reused for every hand-off: `reschedule` reads the value synchronously, so one object serves all. */
const valueOutcome: { value: unknown } = { value: undefined };

function handOff(n: QueueNode, value: unknown): void {
  valueOutcome.value = value;
  reschedule(n as ChannelWaiter, valueOutcome);
  valueOutcome.value = undefined;
}

function wakeSender(n: QueueNode, error: unknown): void {
  n.data = undefined;
  if (n.foreign) (n as ForeignSender)._settle(error);
  else reschedule(n as ChannelWaiter, error === undefined ? undefined : { error });
}

function abortSend(_raise: () => never, w: Waiter): Abort {
  const n = w as ChannelWaiter;
  n.handle._state.senders.remove(n);
  n.data = undefined;
  return Abort.SUCCEEDED;
}

function abortReceive(_raise: () => never, w: Waiter): Abort {
  const n = w as ChannelWaiter;
  n.handle._state.receivers.remove(n);
  return Abort.SUCCEEDED;
}

/** The error a drained channel with no senders left raises. */
function endError(s: ChannelState<unknown>): unknown {
  if (s.failure === NO_FAILURE) return new EndOfChannel();
  s.failureDelivered = true;
  return s.failure;
}

const SENT = 0;
const FULL = 1;
const CLOSED = 2;
const BROKEN = 3;
type OfferResult = typeof SENT | typeof FULL | typeof CLOSED | typeof BROKEN;

/** `sendNowait` without the throwing: Trio's order (closed, broken, parked receiver, room, full). */
function offer<T>(ch: MemorySendChannel<T>, value: T): OfferResult {
  if (ch._closed) return CLOSED;
  const s = ch._state;
  if (s.openReceive === 0) return BROKEN;
  const r = s.receivers.head;
  if (r !== null) {
    s.receivers.remove(r);
    handOff(r, value);
    return SENT;
  }
  const buf = s.buffer;
  if (buf.length < s.max) {
    buf.push(value);
    if (buf.length > s.peak) s.peak = buf.length;
    return SENT;
  }
  return FULL;
}

function sendError(r: OfferResult): Error {
  return r === CLOSED
    ? new ClosedResourceError("this send channel was closed")
    : new BrokenResourceError("every receive channel of this memory channel was closed");
}

const EMPTY: unique symbol = Symbol("empty");

/**
 * Takes the next item, or `EMPTY`. A parked sender is served first: its value goes in behind the
 * buffered items (so the slot a receive frees is refilled at once, and fresh senders find it full).
 */
function take<T>(s: ChannelState<T>): T | typeof EMPTY {
  const buf = s.buffer;
  const n = s.senders.head;
  if (n !== null) {
    s.senders.remove(n);
    const v = n.data as T;
    wakeSender(n, undefined);
    if (buf.length === 0) return v;
    const out = buf.shift();
    buf.push(v);
    return out;
  }
  if (buf.length > 0) return buf.shift();
  return EMPTY;
}

async function sendAfterCancelPoint<T>(ch: MemorySendChannel<T>, value: T): Promise<void> {
  await checkpoint();
  // Only reached if the cancellation went away in between (a shield was raised): do the send.
  return ch.send(value);
}

async function receiveAfterCancelPoint<T>(ch: MemoryReceiveChannel<T>): Promise<T> {
  await checkpoint();
  return ch.receive();
}

function statistics(s: ChannelState<unknown>): MemoryChannelStatistics {
  return {
    currentBufferUsed: s.buffer.length,
    maxBufferSize: s.max,
    openSendChannels: s.openSend,
    openReceiveChannels: s.openReceive,
    tasksWaitingSend: s.senders.size,
    tasksWaitingReceive: s.receivers.size,
    peakBufferUsed: s.peak,
  };
}

// ---------------------------------------------------------------------------------------- send side

/**
 * The sending end of a memory channel (see `openMemoryChannel`). Clone it to give each producer its
 * own handle; the receivers see `EndOfChannel` once every send handle is closed.
 *
 * @example
 * ```ts
 * const [tx, rx] = openMemoryChannel<number>(16);
 * await openNursery(async (n) => {
 *   n.startSoon(async () => {
 *     using producer = tx;             // closed when the block exits, even on error
 *     for (let i = 0; i < 100; i++) await producer.send(i);
 *   });
 *   for await (const x of rx) console.log(x);
 * });
 * ```
 */
export class MemorySendChannel<T> implements Disposable, AsyncDisposable {
  /** @internal */ readonly _state: ChannelState<T>;
  /** @internal */ _closed = false;

  /** @internal Use `openMemoryChannel` (or `clone()`). */
  constructor(state: ChannelState<T>) {
    this._state = state;
  }

  /**
   * Sends `value`, waiting for buffer space (or, at size 0, for a receiver). A full checkpoint when it
   * returns. Cancellation is atomic: if it rejects with `Cancelled`, nothing was delivered or buffered.
   * In an already cancelled scope it raises without trying. `ClosedResourceError` if this handle is
   * closed, `BrokenResourceError` if every receive handle is.
   *
   * @example
   * ```ts
   * await tx.send(item);
   * ```
   */
  send(value: T): Promise<void> {
    if (checkCancelled()) return sendAfterCancelPoint(this, value);
    const r = offer(this, value);
    if (r === SENT) return cancelShieldedCheckpoint();
    if (r !== FULL) return Promise.reject(sendError(r));
    const w = new ChannelWaiter("MemorySendChannel.send()", this, value);
    this._state.senders.push(w);
    return waitTaskRescheduled(abortSend, w) as Promise<void>;
  }

  /**
   * Sends without waiting: hands `value` to the longest-waiting receiver, or buffers it; throws
   * `WouldBlock` if neither is possible. Never a checkpoint, so it also works in cancelled code.
   *
   * @example
   * ```ts
   * try { tx.sendNowait(event); } catch (e) { if (e instanceof WouldBlock) dropped++; else throw e; }
   * ```
   */
  sendNowait(value: T): void {
    const r = offer(this, value);
    if (r === SENT) return;
    if (r === FULL) throw new WouldBlock("the channel's buffer is full and no receiver is waiting");
    throw sendError(r);
  }

  /**
   * A new send handle on the same channel; the channel stays open for receivers until every handle is
   * closed. `ClosedResourceError` if this handle is closed.
   *
   * @example
   * ```ts
   * for (const job of jobs) { const mine = tx.clone(); n.startSoon(() => produce(job, mine)); }
   * tx.close();
   * ```
   */
  clone(): MemorySendChannel<T> {
    if (this._closed) throw new ClosedResourceError("this send channel was closed");
    this._state.openSend++;
    return new MemorySendChannel(this._state);
  }

  /**
   * Closes this handle (idempotent, sync, never a checkpoint, safe in cleanup of cancelled code). Sends
   * parked through this handle fail with `ClosedResourceError` and their values are discarded. When the
   * last send handle closes, receivers drain the buffer and then get `EndOfChannel`.
   *
   * @example
   * ```ts
   * try { await produce(tx); } finally { tx.close(); }
   * ```
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    const s = this._state;
    for (let n = s.senders.head; n !== null; ) {
      const next = n.qNext;
      if (n.handle === this) {
        s.senders.remove(n);
        wakeSender(n, new ClosedResourceError("this send channel was closed while sending"));
      }
      n = next;
    }
    if (--s.openSend === 0) {
      for (let n = s.receivers.head; n !== null; n = s.receivers.head) {
        s.receivers.remove(n);
        reschedule(n as ChannelWaiter, { error: endError(s) });
      }
    }
  }

  /**
   * `close()`, then a full checkpoint: in a cancelled scope it closes and then raises `Cancelled`.
   *
   * @example
   * ```ts
   * await tx.aclose();
   * ```
   */
  aclose(): Promise<void> {
    this.close();
    return checkpoint();
  }

  /**
   * `using tx = …`: closes the handle (sync) when the block exits.
   *
   * @example
   * ```ts
   * n.startSoon(async () => { using send = tx.clone(); await send.send(job); });
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * `await using tx = …`: closes the handle, then a schedule point that never raises `Cancelled`, so a
   * disposal in cancelled code cannot replace the error that is leaving the block (Trio #746).
   *
   * @example
   * ```ts
   * await using send = tx; // a body error always comes out, even in a cancelled scope
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return cancelShieldedCheckpoint();
  }

  /**
   * Buffer use, open handles and blocked operations; the same object shape from either side.
   *
   * @example
   * ```ts
   * const { peakBufferUsed } = tx.statistics(); // size the buffer from a real run
   * ```
   */
  statistics(): MemoryChannelStatistics {
    return statistics(this._state);
  }
}

// ---------------------------------------------------------------------------------------- receive side

/**
 * The receiving end of a memory channel. Clones share one stream (each item goes to exactly one
 * receiver; this is not a broadcast). `for await` receives until `EndOfChannel`.
 *
 * @example
 * ```ts
 * for await (const item of rx) await handle(item);
 * ```
 */
export class MemoryReceiveChannel<T> implements Disposable, AsyncDisposable, AsyncIterable<T> {
  /** @internal */ readonly _state: ChannelState<T>;
  /** @internal */ _closed = false;

  /** @internal Use `openMemoryChannel` (or `clone()`). */
  constructor(state: ChannelState<T>) {
    this._state = state;
  }

  /**
   * Receives the next item, waiting if there is none. A full checkpoint when it returns. Cancellation
   * is atomic: if it rejects with `Cancelled`, nothing was consumed; a value already handed to it is
   * returned even if it is cancelled before it runs. `EndOfChannel` once every send handle is closed and
   * the buffer is drained; `ClosedResourceError` if this handle is closed.
   *
   * @example
   * ```ts
   * const item = await moveOnAfter(1000, () => rx.receive()); // per-item timeout; nothing is lost
   * ```
   */
  receive(): Promise<T> {
    if (checkCancelled()) return receiveAfterCancelPoint(this);
    if (this._closed) return Promise.reject(new ClosedResourceError("this receive channel was closed"));
    const s = this._state;
    const v = take(s);
    if (v !== EMPTY) return cancelShieldedCheckpoint(v);
    if (s.openSend === 0) return Promise.reject(endError(s));
    const w = new ChannelWaiter("MemoryReceiveChannel.receive()", this, undefined);
    s.receivers.push(w);
    return waitTaskRescheduled(abortReceive, w) as Promise<T>;
  }

  /**
   * Receives without waiting: the next buffered item (or a parked sender's value); throws `WouldBlock`
   * if there is none, `EndOfChannel` if none will come. Never a checkpoint.
   *
   * @example
   * ```ts
   * const batch = []; try { for (;;) batch.push(rx.receiveNowait()); } catch (e) { if (!(e instanceof WouldBlock)) throw e; }
   * ```
   */
  receiveNowait(): T {
    if (this._closed) throw new ClosedResourceError("this receive channel was closed");
    const s = this._state;
    const v = take(s);
    if (v !== EMPTY) return v;
    if (s.openSend === 0) throw endError(s);
    throw new WouldBlock("the channel is empty and no sender is waiting");
  }

  /**
   * A new receive handle on the same channel (sharing the stream). `ClosedResourceError` if this
   * handle is closed.
   *
   * @example
   * ```ts
   * for (let i = 0; i < 4; i++) { const mine = rx.clone(); n.startSoon(() => worker(mine)); }
   * rx.close();
   * ```
   */
  clone(): MemoryReceiveChannel<T> {
    if (this._closed) throw new ClosedResourceError("this receive channel was closed");
    this._state.openReceive++;
    return new MemoryReceiveChannel(this._state);
  }

  /**
   * Closes this handle (idempotent, sync, never a checkpoint). Receives parked through it fail with
   * `ClosedResourceError`. When the last receive handle closes, the buffer is discarded and senders
   * (parked or future) get `BrokenResourceError`.
   *
   * @example
   * ```ts
   * rx.close(); // the producer's next send raises BrokenResourceError
   * ```
   */
  close(): void {
    if (this._closed) return;
    this._closed = true;
    const s = this._state;
    for (let n = s.receivers.head; n !== null; ) {
      const next = n.qNext;
      if (n.handle === this) {
        s.receivers.remove(n);
        reschedule(n as ChannelWaiter, { error: new ClosedResourceError("this receive channel was closed while receiving") });
      }
      n = next;
    }
    if (--s.openReceive === 0) {
      s.buffer.clear();
      for (let n = s.senders.head; n !== null; n = s.senders.head) {
        s.senders.remove(n);
        wakeSender(n, new BrokenResourceError("every receive channel of this memory channel was closed"));
      }
      const hooks = s.receiveClosedHooks;
      s.receiveClosedHooks = null;
      if (hooks !== null) for (const hook of hooks) hook();
    }
  }

  /**
   * `close()`, then a full checkpoint: in a cancelled scope it closes and then raises `Cancelled`.
   *
   * @example
   * ```ts
   * await rx.aclose();
   * ```
   */
  aclose(): Promise<void> {
    this.close();
    return checkpoint();
  }

  /**
   * `using rx = …`: closes the handle (sync) when the block exits.
   *
   * @example
   * ```ts
   * using rx = fromReadable(stream); // the stream is destroyed when the block exits
   * ```
   */
  [Symbol.dispose](): void {
    this.close();
  }

  /**
   * `await using rx = …`: closes the handle, then a schedule point that never raises `Cancelled`.
   *
   * @example
   * ```ts
   * await using inbox = rx;
   * ```
   */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return cancelShieldedCheckpoint();
  }

  /**
   * Buffer use, open handles and blocked operations; the same object shape from either side.
   *
   * @example
   * ```ts
   * if (rx.statistics().currentBufferUsed === 0) console.log("consumer is keeping up");
   * ```
   */
  statistics(): MemoryChannelStatistics {
    return statistics(this._state);
  }

  /**
   * `for await (const x of rx)`: receives until `EndOfChannel` (a normal end); every other error,
   * `ClosedResourceError` included, propagates out of the loop. Each step is a full checkpoint. Leaving
   * the loop early does not close the channel (other loops may share it): close it yourself.
   *
   * @example
   * ```ts
   * for await (const job of rx) await run(job);
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return new ReceiveIterator(this);
  }
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true as const });

/** @internal Receives until `EndOfChannel`; the last (empty) step is also a checkpoint. */
export class ReceiveIterator<T> implements AsyncIterableIterator<T> {
  constructor(private readonly channel: { receive(): Promise<T> }) {}

  async next(): Promise<IteratorResult<T>> {
    let value: T;
    try {
      value = await this.channel.receive();
    } catch (e) {
      if (!(e instanceof EndOfChannel)) throw e;
      // receive() already passed its cancel point; add the schedule point.
      await cancelShieldedCheckpoint();
      return DONE;
    }
    return { value, done: false };
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

// ---------------------------------------------------------------------------------------- opening

/**
 * Opens a memory channel: a bounded FIFO queue between tasks, with backpressure and atomic
 * cancellation. `maxBufferSize` is an integer ≥ 0 or `Infinity`: 0 (the recommended default) is a
 * rendezvous, where each send waits for a receiver; `N` lets senders run up to N items ahead;
 * `Infinity` never blocks senders (and so gives no backpressure). A non-integer size throws
 * `TypeError`, a negative one `RangeError`.
 *
 * @example
 * ```ts
 * const [tx, rx] = openMemoryChannel<string>(0);
 * await openNursery(async (n) => {
 *   n.startSoon(async () => { using _ = tx; await tx.send("hello"); });
 *   console.log(await rx.receive()); // "hello"
 * });
 * ```
 */
export function openMemoryChannel<T>(maxBufferSize: number): [MemorySendChannel<T>, MemoryReceiveChannel<T>] {
  requireBufferSize("openMemoryChannel", "maxBufferSize", maxBufferSize);
  const state = new ChannelState<T>(maxBufferSize);
  return [new MemorySendChannel(state), new MemoryReceiveChannel(state)];
}

// ---------------------------------------------------------------------------------------- internals for adapters

/**
 * @internal Sends `value` from outside any task. Returns `null` if it was sent at once; otherwise the
 * queued `ForeignSender`, whose callback later receives `undefined` (delivered), `ClosedResourceError`
 * or `BrokenResourceError`. Throws those two errors directly if the send fails at once.
 */
export function sendForeign<T>(ch: MemorySendChannel<T>, value: T, callback: (error: unknown) => void): ForeignSender | null {
  const r = offer(ch, value);
  if (r === SENT) return null;
  if (r !== FULL) throw sendError(r);
  const n = new ForeignSender(ch, value, callback);
  ch._state.senders.push(n);
  return n;
}

/** @internal Withdraws a queued foreign send (its value is dropped, its callback never called). */
export function withdrawForeign(n: ForeignSender): void {
  if (!n.queued) return;
  n.queued = false;
  n.data = undefined;
  n.handle._state.senders.remove(n);
}

/**
 * @internal Closes `ch` and makes receivers raise `error` instead of `EndOfChannel` once the buffer is
 * drained and no other send handle is open (a stream's error, a generator's failure).
 */
export function closeSendWithError<T>(ch: MemorySendChannel<T>, error: unknown): void {
  const s = ch._state;
  if (!ch._closed && s.failure === NO_FAILURE) s.failure = error;
  ch.close();
}

/**
 * @internal Calls `hook` once when the channel's last receive handle closes (at once if it already has).
 * Returns a function that unregisters it.
 */
export function onReceiveClosed(state: ChannelState<any>, hook: () => void): () => void {
  if (state.openReceive === 0) {
    hook();
    return noop;
  }
  (state.receiveClosedHooks ??= []).push(hook);
  return () => {
    const hooks = state.receiveClosedHooks;
    const i = hooks === null ? -1 : hooks.indexOf(hook);
    if (i >= 0) hooks!.splice(i, 1);
  };
}

function noop(): void {}
