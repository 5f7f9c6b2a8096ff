/**
 * `asSafeChannel`: Trio's `as_safe_channel` (§3). An async generator resumed from inside a timeout
 * (`moveOnAfter(t, () => it.next())`) runs its body inside that timeout, so the timeout cancels the
 * generator rather than the wait. Here the generator runs in a task of its own (the *mover*) and hands
 * each item over a rendezvous channel, so a consumer can put a timeout around `receive()` and only the
 * wait is cancelled.
 *
 * Pull-driven, with no read-ahead: the mover resumes the generator only while a `receive()` is parked on
 * the channel. A receive cancelled while waiting leaves the queue (atomic cancellation), so it creates
 * no demand; an item the generator was already computing for it is parked in the rendezvous send and
 * goes to the next `receive()`, which takes it without asking for another. (Trio's semaphore keeps the
 * cancelled receive's credit, and the generator stays one item ahead from then on; §3, §5 D 91.)
 *
 * Where the mover lives: it must be a child of the cancel status current where the `SafeChannel` was
 * created, but `asSafeChannel(gen)(args)` is a plain call, not a callback scope. We open a hidden
 * nursery right there, synchronously, with core's public `openNursery`, as Trio does: its body starts
 * the mover and then awaits a plain promise that the mover settles when it exits. The nursery's scope is
 * a child of the creating scope (cancelling that scope stops the generator), the creating task owns the
 * nursery (`currentTask().childNurseries` shows it while the channel is alive), and, because the body
 * waits on a plain promise rather than a Quartet wait, the creating task is not counted as parked. The
 * mover catches everything, so the nursery never fails; the generator's errors travel through the
 * channel (`receive()` raises them) and through disposal. Disposal must happen before the creating scope
 * exits, which `await using` and `withSafeChannel` guarantee.
 */
import { BrokenResourceError, Cancelled, ExceptionGroup, checkpoint, isCancelled, openNursery, type Nursery } from "@quartet/core";
import { Abort, Waiter, reschedule, waitTaskRescheduled } from "@quartet/core/lowlevel";
import {
  ReceiveIterator,
  closeSendWithError,
  openMemoryChannel,
  type MemoryChannelStatistics,
  type MemoryReceiveChannel,
  type MemorySendChannel,
} from "./memory-channel.js";
import { describe, requireFunction } from "./validate.js";

const DISPOSE_REASON = "asSafeChannel: the channel was disposed";
const NONE: unique symbol = Symbol("none");

function abortDemand(_raise: () => never, w: Waiter): Abort {
  const sc = w.data as SafeChannel<unknown>;
  if (sc._demand === w) sc._demand = null;
  return Abort.SUCCEEDED;
}

const abortFailed = (): Abort => Abort.FAILED;

function wakeMover(sc: SafeChannel<unknown>): void {
  const w = sc._demand;
  if (w !== null) {
    sc._demand = null;
    reschedule(w);
  }
}

/** A `Cancelled` raised by our own disposal (as opposed to a cancelled scope around the channel). */
function isOwnCancel(e: unknown): boolean {
  return e instanceof Cancelled && e.source === "explicit" && e.reason === DISPOSE_REASON;
}

/**
 * The receive side of an async generator run by `asSafeChannel`: a `MemoryReceiveChannel`-like object
 * (`receive`, `receiveNowait`, `close`, `aclose`, `statistics`, `for await`) that must be disposed:
 * `await using rx = gen(args)` or `withSafeChannel(gen(args), async (rx) => …)`. Disposal closes it,
 * cancels the generator's task and waits for it, so the generator's `finally` has run when it returns.
 * It has no `clone()`; several tasks may share one `SafeChannel` (each item goes to one of them).
 *
 * @example
 * ```ts
 * const ticks = asSafeChannel(async function* (ms: number) {
 *   for (let i = 0; ; i++) { await sleep(ms); yield i; }
 * });
 * await using rx = ticks(100);
 * for (;;) {
 *   const tick = await moveOnAfter(150, () => rx.receive()); // a timeout never cancels the generator
 *   if (tick === undefined) continue;
 *   console.log(tick);
 * }
 * ```
 */
export class SafeChannel<T> implements AsyncDisposable, AsyncIterable<T> {
  /** @internal */ readonly _tx: MemorySendChannel<T>;
  /** @internal */ readonly _rx: MemoryReceiveChannel<T>;
  /** @internal */ readonly _gen: AsyncIterator<T>;
  /** @internal The mover's wait for a parked `receive()`, when it is waiting. */
  _demand: Waiter | null = null;
  /** @internal */ _nursery: Nursery | null = null;
  /** @internal Settles when the hidden nursery has exited (after the mover). */
  readonly _nurseryDone: Promise<void>;
  /** @internal */ _nurseryExited = false;
  /** @internal */ _moverExited = false;
  /** @internal What the generator's `next()` raised. */
  _genError: unknown = NONE;
  /** @internal What the generator's `return()` (its `finally`) raised. */
  _cleanupError: unknown = NONE;
  /** @internal A `Cancelled` the mover got while waiting for demand or sending. */
  _moverCancelled: unknown = NONE;
  /** @internal Set once a disposal has raised what it had to (a second disposal raises nothing). */
  _disposeReported = false;
  /** @internal Errors a `for await` loop's exit (the iterator's `return()`) already raised. */
  _iteratorErrors: unknown[] | null = null;

  /** @internal Use a function made by `asSafeChannel`. */
  constructor(gen: AsyncIterator<T>, name: string) {
    const [tx, rx] = openMemoryChannel<T>(0);
    this._tx = tx;
    this._rx = rx;
    this._gen = gen;
    let exited!: () => void;
    const moverExit = new Promise<void>((resolve) => (exited = resolve));
    this._nurseryDone = openNursery((n) => {
      this._nursery = n;
      n.startSoon(() => mover(this, exited), { name });
      return moverExit;
    });
    const onExit = (): void => {
      this._nurseryExited = true;
    };
    // The mover catches everything, so this never rejects; the handler is there regardless.
    void this._nurseryDone.then(onExit, onExit);
  }

  /**
   * Receives the next item: resumes the generator for it (in the generator's own task) and waits for
   * the value. A full checkpoint when it returns; cancelling it cancels only the wait, never the
   * generator. `EndOfChannel` once the generator returned, the generator's error if it threw,
   * `ClosedResourceError` after `close()`.
   *
   * @example
   * ```ts
   * const line = await failAfter(5000, () => rx.receive());
   * ```
   */
  receive(): Promise<T> {
    const p = this._rx.receive();
    // A receive parked (it found no item waiting): that is the demand the mover steps for.
    if (this._tx._state.receivers.size > 0) wakeMover(this as SafeChannel<unknown>);
    return p;
  }

  /**
   * Takes an item the generator has already produced (one it computed for a receive that was then
   * cancelled); throws `WouldBlock` otherwise. Never resumes the generator and never a checkpoint.
   *
   * @example
   * ```ts
   * try { late = rx.receiveNowait(); } catch (e) { if (!(e instanceof WouldBlock)) throw e; }
   * ```
   */
  receiveNowait(): T {
    return this._rx.receiveNowait();
  }

  /**
   * Closes the channel (sync, idempotent): receives raise `ClosedResourceError`, and the generator's
   * task stops asking for items and closes the generator (its `finally` runs, uncancelled). Disposal
   * still has to follow to wait for that task.
   *
   * @example
   * ```ts
   * n.startSoon(async () => { await sleep(60_000); rx.close(); }); // stop the stream after a minute
   * ```
   */
  close(): void {
    this._rx.close();
    wakeMover(this as SafeChannel<unknown>);
  }

  /**
   * `close()`, then a full checkpoint (raises `Cancelled` in a cancelled scope, after closing).
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
   * Statistics of the underlying rendezvous channel (`tasksWaitingSend` is 1 while an item waits).
   *
   * @example
   * ```ts
   * const itemReady = rx.statistics().tasksWaitingSend > 0;
   * ```
   */
  statistics(): MemoryChannelStatistics {
    return this._rx.statistics();
  }

  /**
   * Closes the channel, cancels the generator's task and waits for it to finish (not a cancel point:
   * it never raises `Cancelled`, so it cannot hide the error leaving an `await using` block). Then
   * raises what the generator raised that no `receive()` has reported yet: its error, or an error from
   * its `finally`; bare if there is one, as an `ExceptionGroup` if there are two. Idempotent.
   *
   * @example
   * ```ts
   * { await using rx = lines(path); console.log(await rx.receive()); } // the generator is closed here
   * ```
   */
  async [Symbol.asyncDispose](): Promise<void> {
    let errors = (await settle(this)).errors;
    if (this._disposeReported) return;
    this._disposeReported = true;
    const already = this._iteratorErrors;
    if (already !== null) errors = errors.filter((e) => !already.includes(e));
    raise(errors);
  }

  /**
   * `for await (const x of rx)`: receives until the generator returns. Leaving the loop early (`break`,
   * `return`, an exception) disposes the channel, so the generator's `finally` has run when the loop
   * is left.
   *
   * @example
   * ```ts
   * for await (const line of lines(path)) if (line === "END") break; // disposed by the break
   * ```
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return new SafeIterator(this);
  }
}

class SafeIterator<T> extends ReceiveIterator<T> {
  constructor(private readonly safe: SafeChannel<T>) {
    super(safe);
  }

  /**
   * Leaving a `for await` loop early disposes the channel and raises the generator's failures here, so
   * a `break` reports them. (When the loop was left by an exception, the language drops what `return()`
   * raises; `withSafeChannel` still reports it, grouped with the body's error.)
   */
  async return(): Promise<IteratorResult<T>> {
    const safe = this.safe;
    const { errors } = await settle(safe);
    if (safe._iteratorErrors === null && !safe._disposeReported) {
      safe._iteratorErrors = errors;
      raise(errors);
    }
    return { value: undefined, done: true };
  }
}

/** The generator's task: steps the generator once per parked `receive()`, then closes it. */
async function mover<T>(sc: SafeChannel<T>, exited: () => void): Promise<void> {
  const gen = sc._gen;
  const tx = sc._tx;
  const state = tx._state;
  try {
    for (;;) {
      while (state.receivers.size === 0) {
        if (state.openReceive === 0) return; // closed by the consumer: ask for nothing more
        const w = new Waiter("asSafeChannel generator task (waiting for a receive())", sc);
        sc._demand = w;
        await waitTaskRescheduled(abortDemand, w);
      }
      let r: IteratorResult<T>;
      try {
        r = await gen.next();
      } catch (e) {
        sc._genError = e;
        closeSendWithError(tx, e);
        return;
      }
      if (r.done === true) {
        tx.close();
        return;
      }
      try {
        await tx.send(r.value);
      } catch (e) {
        if (e instanceof BrokenResourceError) return; // the consumer closed: the item is dropped
        throw e;
      }
    }
  } catch (e) {
    // Only our own waits get here: a cancellation (disposal, or a cancelled scope around the channel).
    // A receive still waiting (in a shielded scope) is told why no more items will come.
    sc._moverCancelled = e;
    closeSendWithError(tx, e);
  } finally {
    if (typeof gen.return === "function") {
      try {
        await gen.return(undefined);
      } catch (e) {
        sc._cleanupError = e;
      }
    }
    tx.close();
    sc._moverExited = true;
    exited();
  }
}

function raise(errors: unknown[]): void {
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new ExceptionGroup("asSafeChannel: the generator and its cleanup both failed", errors);
}

interface Settled {
  /** Errors to raise (non-`Cancelled`, not yet reported). */
  errors: unknown[];
  /** A `Cancelled` from a cancelled scope around the channel (not our disposal), if any. */
  cancelled: unknown;
}

/** Disposal without raising: close, cancel, wait; then what is left to report. */
async function settle<T>(sc: SafeChannel<T>): Promise<Settled> {
  sc._rx.close();
  if (!sc._moverExited) sc._nursery?.cancelScope.cancel(DISPOSE_REASON);
  if (!sc._nurseryExited) {
    // A Quartet wait (so a stuck generator shows up in deadlock reports), but not a cancel point.
    const w = new Waiter<void>("asSafeChannel disposal (waiting for the generator task)");
    const wake = (): void => reschedule(w);
    void sc._nurseryDone.then(wake, wake);
    await waitTaskRescheduled(abortFailed, w);
  }
  const out: Settled = { errors: [], cancelled: undefined };
  const note = (e: unknown, delivered: boolean): void => {
    if (e === NONE || delivered || isOwnCancel(e)) return;
    if (e instanceof Cancelled) out.cancelled ??= e;
    else out.errors.push(e);
  };
  note(sc._genError, sc._tx._state.failureDelivered);
  note(sc._moverCancelled, false);
  note(sc._cleanupError, false);
  return out;
}

/**
 * Wraps an async generator function so that each call returns a `SafeChannel`: the generator runs in
 * its own task (a child of the scope where the channel is created), one item per `receive()`, with no
 * read-ahead. Use it to put timeouts around a stream's items without cancelling the producer. Dispose
 * the channel with `await using` (Node ≥ 24 parses it natively; on Node 20 it needs a transpiler such as
 * TypeScript or esbuild) or use `withSafeChannel`.
 *
 * @example
 * ```ts
 * const lines = asSafeChannel(async function* (path: string) {
 *   const file = await cancellable(fs.promises.open(path));
 *   try { for await (const line of file.readLines()) yield line; }
 *   finally { await file.close(); }
 * });
 * await withSafeChannel(lines("app.log"), async (rx) => {
 *   for await (const line of rx) console.log(line);
 * });
 * ```
 */
export function asSafeChannel<A extends unknown[], T>(genFn: (...args: A) => AsyncGenerator<T>): (...args: A) => SafeChannel<T> {
  requireFunction("asSafeChannel", "genFn", genFn);
  const name = `asSafeChannel(${genFn.name || "<anonymous>"})`;
  const wrapper = function (this: unknown, ...args: A): SafeChannel<T> {
    const gen = genFn.apply(this, args) as unknown;
    if (gen === null || typeof gen !== "object" || typeof (gen as AsyncIterator<T>).next !== "function") {
      throw new TypeError(`asSafeChannel: ${genFn.name || "genFn"} must return an async generator, got ${describe(gen)}`);
    }
    return new SafeChannel<T>(gen as AsyncIterator<T>, name);
  };
  Object.defineProperty(wrapper, "name", { value: genFn.name, configurable: true });
  return wrapper;
}

/**
 * Runs `body(channel)`, then disposes the channel (closes it, cancels the generator's task, waits for
 * it). Errors are combined as Trio's `as_safe_channel` does (§3.6): a single non-`Cancelled` error is
 * raised bare (a user's `ExceptionGroup` is not unwrapped); when the body and the generator's cleanup
 * both failed, both come out in an `ExceptionGroup`; a `Cancelled` is raised only if nothing else is.
 * The callback form of `await using`, for code that cannot use that syntax (Node 20 without a
 * transpiler).
 *
 * @example
 * ```ts
 * const total = await withSafeChannel(numbers(10), async (rx) => {
 *   let sum = 0;
 *   for await (const x of rx) sum += x;
 *   return sum;
 * });
 * ```
 */
export function withSafeChannel<T, R>(channel: SafeChannel<T>, body: (channel: SafeChannel<T>) => Promise<R> | R): Promise<R> {
  if (!(channel instanceof SafeChannel)) {
    throw new TypeError(`withSafeChannel: channel must be a SafeChannel (made by asSafeChannel), got ${describe(channel)}`);
  }
  if (typeof body !== "function") {
    // Do not strand the generator's task: closing lets it finish on its own.
    channel.close();
    requireFunction("withSafeChannel", "body", body);
  }
  return runWithSafeChannel(channel, body);
}

async function runWithSafeChannel<T, R>(channel: SafeChannel<T>, body: (channel: SafeChannel<T>) => Promise<R> | R): Promise<R> {
  let value: R;
  let failed = false;
  let bodyError: unknown;
  try {
    value = await body(channel);
  } catch (e) {
    failed = true;
    bodyError = e;
  }
  const settled = await settle(channel);
  channel._disposeReported = true;
  const cancelled = settled.cancelled;
  // An error that reached the body (through a `for await` exit) and that the body raised is one error.
  const errors = failed ? settled.errors.filter((e) => e !== bodyError) : settled.errors;
  if (failed) {
    if (errors.length === 0) throw bodyError;
    if (isCancelled(bodyError)) raise(errors);
    throw new ExceptionGroup(
      "asSafeChannel: the body of withSafeChannel and the generator's cleanup both failed, so neither error could be raised alone",
      [bodyError, ...errors],
    );
  }
  raise(errors);
  if (cancelled !== undefined) throw cancelled;
  return value!;
}
