/**
 * `CancelScope`: Trio's cancel scope, callback-scoped. `scope.run(fn)` enters, runs `fn`, exits. On exit
 * the scope swallows a `Cancelled` (or the `Cancelled` leaves of a group) iff it is effectively
 * cancelled and its parent's cancellation is not visible to it (no parent, parent not cancelled, or
 * this scope shielded): the outermost effectively-cancelled visible scope catches.
 */
import { CancelCause, CancelStatus, recompute, type ScopeState } from "./cancel-status.js";
import { runWithStatus, getStatus } from "./context.js";
import { currentStatus } from "./current.js";
import type { DeadlineEntry } from "./deadline-heap.js";
import { Cancelled, ExceptionGroup, RuntimeError, describe } from "./errors.js";
import type { Runtime } from "./runtime.js";
import { requireBoolean, requireDeadline, requireDuration, requireFunction, requireOptions } from "./validate.js";

const UNENTERED = 0;
const ACTIVE = 1;
const EXITED = 2;

/** Options of `new CancelScope(opts)`. */
export interface CancelScopeOptions {
  /** Absolute deadline in ms on the runtime clock (`currentTime()`); `Infinity` (default) means none. */
  deadline?: number;
  /** Deadline relative to when the scope is entered, in ms. */
  relativeDeadline?: number;
  /** Protect the code inside from cancellations coming from outside. */
  shield?: boolean;
}

const DEADLINE_CAUSE = new CancelCause("deadline", undefined, undefined);

/**
 * A region of code that can be cancelled: explicitly with `cancel()`, by a deadline, or by an
 * enclosing cancellation (unless shielded). Single use.
 *
 * @example
 * ```ts
 * const scope = new CancelScope({ relativeDeadline: 500 });
 * await scope.run(async () => { await fetchSlowly(); });
 * if (scope.cancelledCaught) console.log("gave up after 500 ms");
 * ```
 */
export class CancelScope implements ScopeState, DeadlineEntry {
  /** @internal */ _cancelled = false;
  /** @internal */ _shield: boolean;
  /** @internal */ _cause: CancelCause | null = null;
  /** @internal */ _state = UNENTERED;
  /** @internal */ _node: CancelStatus | null = null;
  /** @internal */ _caught = false;
  /** @internal Absolute deadline (valid unless `_relative` is set on an unentered scope). */
  _deadline: number;
  /** @internal Relative deadline of an unentered scope; NaN when the scope is absolute. */
  _relative: number;
  /** @internal */ _controller: AbortController | null = null;
  /** @internal */ _runtime: Runtime | null = null;
  /** @internal */ heapIndex = -1;
  /** @internal */ heapSeq = 0;

  constructor(opts?: CancelScopeOptions) {
    requireOptions("CancelScope", "opts", opts);
    const deadline = opts?.deadline;
    const relative = opts?.relativeDeadline;
    const shield = opts?.shield;
    if (deadline !== undefined) requireDeadline("CancelScope", "opts.deadline", deadline);
    if (relative !== undefined) {
      if (typeof relative !== "number") {
        throw new TypeError(`CancelScope: opts.relativeDeadline must be a number of milliseconds, got ${describe(relative)}`);
      }
      if (!(relative >= 0)) {
        throw new RangeError(`CancelScope: opts.relativeDeadline must be a non-negative number (not NaN), got ${describe(relative)}`);
      }
    }
    if (deadline !== undefined && relative !== undefined) {
      throw new RangeError("CancelScope: pass either opts.deadline or opts.relativeDeadline, not both");
    }
    if (shield !== undefined) requireBoolean("CancelScope", "opts.shield", shield);
    this._shield = shield ?? false;
    this._deadline = deadline ?? Infinity;
    this._relative = relative ?? NaN;
  }

  /** @internal Unvalidated constructor for `moveOnAfter` & co. */
  static _make(deadline: number, relative: number, shield: boolean): CancelScope {
    // Same construction path as `new CancelScope()`, so every scope shares one hidden class.
    const s = new CancelScope();
    s._deadline = deadline;
    s._relative = relative;
    s._shield = shield;
    return s;
  }

  // ------------------------------------------------------------------ properties

  /** Absolute deadline on the runtime clock (ms). Unentered relative scopes have none yet (RuntimeError). */
  get deadline(): number {
    if (this._state === UNENTERED && this._relative === this._relative) {
      throw new RuntimeError("this scope has a relative deadline and has not been entered yet: read relativeDeadline instead");
    }
    return this._deadline;
  }

  set deadline(value: number) {
    requireDeadline("CancelScope.deadline", "value", value);
    if (this._state === UNENTERED && this._relative === this._relative) {
      throw new RuntimeError("this scope has a relative deadline and has not been entered yet: set relativeDeadline instead");
    }
    this._setDeadline(value);
  }

  /** Deadline relative to now (entered), or the configured offset (unentered relative scope). */
  get relativeDeadline(): number {
    if (this._state === UNENTERED) {
      if (this._relative === this._relative) return this._relative;
      if (this._deadline === Infinity) return Infinity;
      throw new RuntimeError("this scope has an absolute deadline and has not been entered yet: read deadline instead");
    }
    return this._deadline - this.clockNow();
  }

  set relativeDeadline(value: number) {
    requireDuration("CancelScope.relativeDeadline", "value", value);
    if (this._state === UNENTERED) {
      if (this._relative !== this._relative && this._deadline !== Infinity) {
        throw new RuntimeError("this scope has an absolute deadline and has not been entered yet: set deadline instead");
      }
      this._relative = value;
      return;
    }
    this._setDeadline(this.clockNow() + value);
  }

  /** Before entry: whether the deadline is relative. After entry: `null`. */
  get isRelative(): boolean | null {
    if (this._state !== UNENTERED) return null;
    return this._relative === this._relative;
  }

  /** Whether cancellations from outside are kept out. Takes effect immediately. */
  get shield(): boolean {
    return this._shield;
  }

  set shield(value: boolean) {
    requireBoolean("CancelScope.shield", "value", value);
    if (value === this._shield) return;
    this._shield = value;
    if (this._state === ACTIVE) recompute(this._node!);
  }

  /**
   * True once cancellation was requested (`cancel()` or an expired deadline). Never goes back to
   * false. Reading it on an active or unentered scope whose deadline has passed marks it cancelled.
   */
  get cancelCalled(): boolean {
    if (!this._cancelled && this._state !== EXITED && this._deadline !== Infinity) {
      if (!(this._state === UNENTERED && this._relative === this._relative) && this.clockNow() >= this._deadline) {
        this._cancelInternal(DEADLINE_CAUSE);
      }
    }
    return this._cancelled;
  }

  /** True iff this scope swallowed a `Cancelled` on exit. */
  get cancelledCaught(): boolean {
    return this._caught;
  }

  /**
   * An `AbortSignal` that aborts (synchronously, inside the call that cancels) when this scope becomes
   * effectively cancelled; its `reason` is the `Cancelled`. Pass it to `fetch`, streams, timers.
   */
  get signal(): AbortSignal {
    if (this._state === ACTIVE) return this._node!.signal();
    let c = this._controller;
    if (c === null) {
      c = this._controller = this._node?.controller ?? new AbortController();
      if (this._state === UNENTERED && this._cancelled && !c.signal.aborted) c.abort(this._cause!.sharedError());
    }
    return c.signal;
  }

  /**
   * Cancels the scope: every checkpoint inside raises `Cancelled` until the scope exits. Sync,
   * idempotent, not a checkpoint; works before entry and after exit. The first reason wins.
   */
  cancel(reason?: string): void {
    if (reason !== undefined && typeof reason !== "string") {
      throw new TypeError(`CancelScope.cancel: reason must be a string or undefined, got ${describe(reason)}`);
    }
    if (this._cancelled) return;
    const s = getStatus();
    this._cancelInternal(new CancelCause("explicit", reason, s === undefined ? undefined : s.task.name));
  }

  toString(): string {
    const state = this._state === UNENTERED ? "unbound" : this._state === ACTIVE ? "active" : "exited";
    return `<CancelScope ${state}${this._cancelled ? ", cancelled" : ""}>`;
  }

  // ------------------------------------------------------------------ running

  /**
   * Enters the scope, runs `fn(scope)`, exits. Resolves with `fn`'s value, or `undefined` when the
   * scope caught its own cancellation. A second `run` rejects with `RuntimeError`.
   *
   * @example
   * ```ts
   * const value = await new CancelScope({ relativeDeadline: 100 }).run(() => compute());
   * ```
   */
  run<T>(fn: (scope: CancelScope) => Promise<T> | T): Promise<T | undefined> {
    requireFunction("CancelScope.run", "fn", fn);
    if (this._state !== UNENTERED) {
      return Promise.reject(
        new RuntimeError("each CancelScope may only be used for a single run(): create a new scope"),
      );
    }
    const node = this._enter(currentStatus());
    return this._body(node, fn);
  }

  /**
   * @internal Runs `fn` in `node` and exits when it settles. Like a task, the exit goes through shared
   * then-handlers attached inside the scope's context (where `getStatus()` is `node`), not an async
   * wrapper: that saves a generator and two promises per scope.
   */
  _body<T>(node: CancelStatus, fn: (scope: CancelScope) => Promise<T> | T): Promise<T | undefined> {
    this._fn = fn;
    return runWithStatus(node, startBody, this) as Promise<T | undefined>;
  }

  /** @internal The body while it is being started. */
  _fn: ((scope: CancelScope) => unknown) | null = null;

  /** @internal Enters under `parent`; returns the new node. */
  _enter(parent: CancelStatus): CancelStatus {
    if (this._state !== UNENTERED) throw new RuntimeError("each CancelScope may only be used for a single run()");
    const rt = parent.runtime;
    this._state = ACTIVE;
    this._runtime = rt;
    if (this._relative === this._relative) {
      const now = rt.clock.currentTime();
      this._deadline = now + this._relative;
      this._relative = NaN;
      if (this._deadline <= now) this._expireAtEntry();
    } else if (this._deadline !== Infinity && !this._cancelled && this._deadline <= rt.clock.currentTime()) {
      this._expireAtEntry();
    }
    const node = new CancelStatus(this, parent.task, rt, parent);
    this._node = node;
    const c = this._controller;
    if (c !== null) {
      node.controller = c;
      if (node.effective && !c.signal.aborted) c.abort(node.cause!.sharedError());
    }
    if (!this._cancelled && this._deadline !== Infinity) rt.addDeadline(this);
    return node;
  }

  private _expireAtEntry(): void {
    if (this._cancelled) return;
    this._cancelled = true;
    if (this._cause === null) this._cause = DEADLINE_CAUSE;
  }

  /** @internal Leaves the scope (normal completion). */
  _exit(): void {
    this._state = EXITED;
    const node = this._node!;
    if (this.heapIndex >= 0) this._runtime!.removeDeadline(this);
    node.detach();
  }

  /** @internal Would this scope catch a `Cancelled` if it exited now? */
  _wouldCatch(): boolean {
    const node = this._node!;
    const p = node.parent;
    return node.effective && (this._shield || p === null || !p.effective);
  }

  /** @internal Leaves the scope having caught only `Cancelled`s (caller checked `_wouldCatch`). */
  _exitCaught(): void {
    this._exit();
    this._caught = true;
  }

  /** @internal Leaves the scope with `error`; returns `undefined` if the scope caught it, else throws. */
  _exitWithError(error: unknown): undefined {
    const catches = this._wouldCatch();
    this._exit();
    if (!catches) throw error;
    const own = this._cancelled;
    if (isCancelLike(error, own)) {
      this._caught = true;
      return undefined;
    }
    if (error instanceof ExceptionGroup) {
      const [match, rest] = error.split((e) => isCancelLike(e, own));
      if (match !== undefined) {
        this._caught = true;
        if (rest === undefined) return undefined;
        throw rest;
      }
    }
    throw error;
  }

  /** @internal */
  _cancelInternal(cause: CancelCause): void {
    if (this._cancelled) return;
    this._cancelled = true;
    if (this._cause === null) this._cause = cause;
    if (this._state === ACTIVE) {
      if (this.heapIndex >= 0) this._runtime!.removeDeadline(this);
      recompute(this._node!);
    } else if (this._state === UNENTERED) {
      const c = this._controller;
      if (c !== null && !c.signal.aborted) c.abort(this._cause.sharedError());
    }
  }

  /** @internal DeadlineEntry: the clock reached the deadline. */
  expireDeadline(): void {
    this._cancelInternal(DEADLINE_CAUSE);
  }

  private _setDeadline(value: number): void {
    this._deadline = value;
    if (this._state !== ACTIVE || this._cancelled) return;
    const rt = this._runtime!;
    if (value === Infinity) rt.removeDeadline(this);
    else if (this.heapIndex < 0) {
      rt.addDeadline(this);
      if (value <= rt.clock.currentTime()) rt.requestDeadlineCheck();
    } else rt.updateDeadline(this);
  }

  private clockNow(): number {
    return (this._runtime ?? currentStatus().runtime).clock.currentTime();
  }
}

function startBody(scope: CancelScope): Promise<unknown> {
  const fn = scope._fn!;
  scope._fn = null;
  let r: unknown;
  try {
    r = fn(scope);
  } catch (e) {
    r = Promise.reject(e);
  }
  return (r instanceof Promise ? r : Promise.resolve(r)).then(bodyFulfilled, bodyRejected);
}

function bodyFulfilled(value: unknown): unknown {
  (getStatus()!.scope as CancelScope)._exit();
  return value;
}

function bodyRejected(error: unknown): unknown {
  return (getStatus()!.scope as CancelScope)._exitWithError(error);
}

/** Is `e` a cancellation this scope may catch? (AbortErrors count only for the scope's own cancel.) */
function isCancelLike(e: unknown, ownCancel: boolean): boolean {
  if (e instanceof Cancelled) return true;
  return ownCancel && isAbortError(e);
}

/** @internal A `DOMException` named "AbortError", or Node's `AbortError` (`code === "ABORT_ERR"`). */
export function isAbortError(e: unknown): boolean {
  if (e === null || typeof e !== "object") return false;
  const x = e as { name?: unknown; code?: unknown };
  return x.name === "AbortError" || x.code === "ABORT_ERR";
}
