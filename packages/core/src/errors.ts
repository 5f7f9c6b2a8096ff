/**
 * Error classes shared by every Quartet package.
 *
 * `Cancelled` is special: it is created only by the runtime (a token guards the constructor), carries
 * where the cancellation came from, and is built without a stack trace. A stack captured where the
 * runtime delivers it would point into the scheduler, not at user code, and capturing one costs ~3 µs,
 * which would dominate cancelling 100k parked tasks.
 */

/** Where a cancellation came from. */
export type CancelSource = "explicit" | "deadline" | "nursery" | "abort" | "unknown";

const INTERNAL: unique symbol = Symbol("quartet.internal");

/**
 * Delivered at checkpoints of a task that is inside an effectively cancelled scope. The scope that
 * caused it catches it on exit; code in between must let it propagate (rethrow it from any `catch`).
 * Users cannot construct it: `new Cancelled()` throws `TypeError`.
 *
 * @example
 * ```ts
 * try { await sleep(1000); } catch (e) { if (isCancelled(e)) cleanup(); throw e; }
 * ```
 */
export class Cancelled extends Error {
  /** What cancelled the scope: `cancel()`, a deadline, a failing nursery sibling, an aborted signal. */
  readonly source: CancelSource;
  /** The reason passed to `cancel(reason)` (or a generated one for nursery failures), if any. */
  readonly reason: string | undefined;
  /** Name of the task that called `cancel()`, when known. */
  readonly sourceTask: string | undefined;

  constructor(token?: unknown, source?: CancelSource, reason?: string, sourceTask?: string) {
    if (token !== INTERNAL || new.target !== Cancelled) {
      throw new TypeError("Cancelled cannot be constructed or subclassed by users; it is raised by the runtime");
    }
    const src = source ?? "unknown";
    let message = `cancelled due to ${src}`;
    if (reason !== undefined) message += ` with reason '${reason}'`;
    if (sourceTask !== undefined) message += ` from task ${sourceTask}`;
    super(message);
    this.source = src;
    this.reason = reason;
    this.sourceTask = sourceTask;
  }

  /** @internal Creates a `Cancelled` without capturing a stack trace. */
  static _create(source: CancelSource, reason?: string, sourceTask?: string): Cancelled {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return new Cancelled(INTERNAL, source, reason, sourceTask);
    } finally {
      Error.stackTraceLimit = limit;
    }
  }
}
Object.defineProperty(Cancelled.prototype, "name", { value: "Cancelled", configurable: true, writable: true });

/** API misuse: re-entering a scope, `startSoon` on a closed nursery, `run` inside `run`, … */
export class RuntimeError extends Error {}
Object.defineProperty(RuntimeError.prototype, "name", { value: "RuntimeError", configurable: true, writable: true });

/** Raised by `failAfter`/`failAt` when their deadline expired and they caught the cancellation. */
export class TooSlowError extends Error {
  constructor(message = "deadline exceeded") {
    super(message);
  }
}
Object.defineProperty(TooSlowError.prototype, "name", { value: "TooSlowError", configurable: true, writable: true });

/** Raised by every `…Nowait` operation that cannot complete without blocking. */
export class WouldBlock extends Error {
  constructor(message = "operation would block") {
    super(message);
  }
}
Object.defineProperty(WouldBlock.prototype, "name", { value: "WouldBlock", configurable: true, writable: true });

/** Your own handle was closed, before or during the call. */
export class ClosedResourceError extends Error {
  constructor(message = "this resource was closed") {
    super(message);
  }
}
Object.defineProperty(ClosedResourceError.prototype, "name", { value: "ClosedResourceError", configurable: true, writable: true });

/** The other side went away (every receiver closed), or a lock's owner exited holding it. */
export class BrokenResourceError extends Error {
  constructor(message = "the resource is broken") {
    super(message);
  }
}
Object.defineProperty(BrokenResourceError.prototype, "name", { value: "BrokenResourceError", configurable: true, writable: true });

/** Clean end of data: every sender closed and the buffer is drained. `for await` ends on it. */
export class EndOfChannel extends Error {
  constructor(message = "end of channel") {
    super(message);
  }
}
Object.defineProperty(EndOfChannel.prototype, "name", { value: "EndOfChannel", configurable: true, writable: true });

/** Two tasks used a single-user resource at the same time. */
export class BusyResourceError extends Error {
  constructor(message = "another task is already using this resource") {
    super(message);
  }
}
Object.defineProperty(BusyResourceError.prototype, "name", { value: "BusyResourceError", configurable: true, writable: true });

type ErrorClass = abstract new (...args: never[]) => unknown;
/** Selects members of a group: an error class, or a predicate over each leaf. */
export type ErrorMatcher = ErrorClass | ((error: unknown) => boolean);

function toPredicate(matcher: ErrorMatcher): (e: unknown) => boolean {
  if (typeof matcher !== "function") {
    throw new TypeError(`matcher must be an error class or a predicate function, got ${describe(matcher)}`);
  }
  if (isClass(matcher)) return (e) => e instanceof (matcher as ErrorClass);
  return matcher as (e: unknown) => boolean;
}

function isClass(fn: Function): boolean {
  const proto = (fn as { prototype?: unknown }).prototype;
  if (fn === Error || proto instanceof Error) return true;
  return /^class[\s{]/.test(Function.prototype.toString.call(fn));
}

/**
 * A group of errors that happened together, as raised by nurseries (always, even for one error).
 * Mirrors Python's `ExceptionGroup`: `split`/`subgroup` keep the nesting, `derive` rebuilds the
 * group with other members.
 *
 * @example
 * ```ts
 * try { await openNursery(async (n) => { n.startSoon(fails); }); }
 * catch (e) {
 *   const [timeouts, rest] = (e as ExceptionGroup).split(TooSlowError);
 * }
 * ```
 */
export class ExceptionGroup extends AggregateError {
  declare readonly errors: unknown[];

  constructor(message: string, errors: Iterable<unknown>, options?: { cause?: unknown }) {
    if (typeof message !== "string") {
      throw new TypeError(`ExceptionGroup message must be a string, got ${describe(message)}`);
    }
    if (errors === null || typeof errors !== "object" || typeof (errors as Iterable<unknown>)[Symbol.iterator] !== "function") {
      throw new TypeError(`ExceptionGroup errors must be an iterable of errors, got ${describe(errors)}`);
    }
    const list = Array.from(errors);
    if (list.length === 0) throw new RangeError("ExceptionGroup errors must not be empty");
    super(list, message, options);
    // AggregateError stores a copy; keep ours so identity of the array is stable for `exceptions`.
    Object.defineProperty(this, "errors", { value: list, writable: true, configurable: true, enumerable: false });
  }

  /** Alias of `errors`, as in Python. */
  get exceptions(): readonly unknown[] {
    return this.errors;
  }

  /** Returns a group with the same message (and cause) holding `errors`. */
  derive(errors: Iterable<unknown>): ExceptionGroup {
    const g = new ExceptionGroup(this.message, errors, this.cause === undefined ? undefined : { cause: this.cause });
    return g;
  }

  /**
   * Splits the leaves into `[matching, rest]`, each a group with this group's shape or `undefined`.
   * A matcher that matches a whole (sub)group takes it intact.
   */
  split(matcher: ErrorMatcher): [ExceptionGroup | undefined, ExceptionGroup | undefined] {
    const pred = toPredicate(matcher);
    return splitGroup(this, pred);
  }

  /** The part of the group matching `matcher`, or `undefined`. */
  subgroup(matcher: ErrorMatcher): ExceptionGroup | undefined {
    return this.split(matcher)[0];
  }
}
Object.defineProperty(ExceptionGroup.prototype, "name", { value: "ExceptionGroup", configurable: true, writable: true });

function splitGroup(group: ExceptionGroup, pred: (e: unknown) => boolean): [ExceptionGroup | undefined, ExceptionGroup | undefined] {
  if (pred(group)) return [group, undefined];
  const match: unknown[] = [];
  const rest: unknown[] = [];
  for (const e of group.errors) {
    if (e instanceof ExceptionGroup) {
      const [m, r] = splitGroup(e, pred);
      if (m !== undefined) match.push(m);
      if (r !== undefined) rest.push(r);
    } else if (pred(e)) {
      match.push(e);
    } else {
      rest.push(e);
    }
  }
  return [match.length === 0 ? undefined : group.derive(match), rest.length === 0 ? undefined : group.derive(rest)];
}

/**
 * True for a `Cancelled`, or for an `ExceptionGroup` whose leaves are all `Cancelled`.
 *
 * @example
 * ```ts
 * catch (e) { if (!isCancelled(e)) log(e); throw e; }
 * ```
 */
export function isCancelled(error: unknown): boolean {
  if (error instanceof Cancelled) return true;
  if (error instanceof ExceptionGroup) {
    for (const e of error.errors) if (!isCancelled(e)) return false;
    return error.errors.length > 0;
  }
  return false;
}

/** @internal A short, safe rendering of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "undefined" || typeof value === "bigint") return String(value);
  if (value === null) return "null";
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "function") return `function ${value.name || "<anonymous>"}`;
  if (Array.isArray(value)) return `array of length ${value.length}`;
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
  return ctor && ctor !== "Object" ? `a ${ctor}` : "an object";
}
