/**
 * Timeout helpers over `CancelScope`: `moveOn*` give up quietly, `fail*` raise `TooSlowError`.
 * Relative countdowns start when the scope is entered (Trio 0.27+), which here is the call itself.
 */
import { CancelScope } from "./cancel-scope.js";
import { currentStatus } from "./current.js";
import { TooSlowError } from "./errors.js";
import { requireBoolean, requireDeadline, requireDuration, requireFunction, requireOptions } from "./validate.js";

/** Options shared by the timeout helpers. */
export interface TimeoutOptions {
  /** Shield the body from cancellations coming from outside (its own deadline still applies). */
  shield?: boolean;
}

function shieldOf(where: string, opts: TimeoutOptions | undefined): boolean {
  if (opts === undefined) return false;
  requireOptions(where, "opts", opts);
  const s = opts.shield;
  if (s === undefined) return false;
  requireBoolean(where, "opts.shield", s);
  return s;
}

/**
 * Runs `fn(scope)` with a timeout of `ms` milliseconds; on timeout, `fn` is cancelled and the call
 * resolves with `undefined` (check `scope.cancelledCaught`).
 *
 * @example
 * ```ts
 * const msg = await moveOnAfter(1000, () => rx.receive());
 * if (msg === undefined) console.log("no message for 1 s");
 * ```
 */
export function moveOnAfter<T>(
  ms: number,
  fn: (scope: CancelScope) => Promise<T> | T,
  opts?: TimeoutOptions,
): Promise<T | undefined> {
  requireDuration("moveOnAfter", "ms", ms);
  requireFunction("moveOnAfter", "fn", fn);
  const scope = CancelScope._make(Infinity, ms, shieldOf("moveOnAfter", opts));
  return scope._body(scope._enter(currentStatus()), fn);
}

/**
 * Like `moveOnAfter`, with an absolute deadline on the runtime clock (`currentTime()`).
 *
 * @example
 * ```ts
 * await moveOnAt(currentTime() + 500, () => work());
 * ```
 */
export function moveOnAt<T>(
  deadline: number,
  fn: (scope: CancelScope) => Promise<T> | T,
  opts?: TimeoutOptions,
): Promise<T | undefined> {
  requireDeadline("moveOnAt", "deadline", deadline);
  requireFunction("moveOnAt", "fn", fn);
  const scope = CancelScope._make(deadline, NaN, shieldOf("moveOnAt", opts));
  return scope._body(scope._enter(currentStatus()), fn);
}

/**
 * Runs `fn(scope)` with a timeout of `ms` milliseconds; on timeout, `fn` is cancelled and the call
 * rejects with `TooSlowError`. If `fn` fails with another error, that error wins.
 *
 * @example
 * ```ts
 * const res = await failAfter(5000, (scope) => fetch(url, { signal: scope.signal }));
 * ```
 */
export function failAfter<T>(ms: number, fn: (scope: CancelScope) => Promise<T> | T, opts?: TimeoutOptions): Promise<T> {
  requireDuration("failAfter", "ms", ms);
  requireFunction("failAfter", "fn", fn);
  const scope = CancelScope._make(Infinity, ms, shieldOf("failAfter", opts));
  return failBody(scope, fn);
}

/**
 * Like `failAfter`, with an absolute deadline on the runtime clock.
 *
 * @example
 * ```ts
 * await failAt(currentTime() + 5000, () => work());
 * ```
 */
export function failAt<T>(deadline: number, fn: (scope: CancelScope) => Promise<T> | T, opts?: TimeoutOptions): Promise<T> {
  requireDeadline("failAt", "deadline", deadline);
  requireFunction("failAt", "fn", fn);
  const scope = CancelScope._make(deadline, NaN, shieldOf("failAt", opts));
  return failBody(scope, fn);
}

async function failBody<T>(scope: CancelScope, fn: (scope: CancelScope) => Promise<T> | T): Promise<T> {
  const value = await scope._body(scope._enter(currentStatus()), fn);
  if (scope.cancelledCaught) throw new TooSlowError();
  return value as T;
}
