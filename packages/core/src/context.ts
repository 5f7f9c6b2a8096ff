/**
 * The one place that touches `node:async_hooks`. The store is the cancel-status node the running code
 * is in (a task's root node, or a scope's node); it never changes after it is entered, so branches of
 * a `Promise.all` inside one task always see a consistent scope. Keeping the ALS use in one module lets
 * it move to TC39 `AsyncContext` later without touching the runtime.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { CancelStatus } from "./cancel-status.js";

const storage = new AsyncLocalStorage<CancelStatus>();

/** @internal The cancel-status node of the running code, or `undefined` outside any Quartet task. */
export function getStatus(): CancelStatus | undefined {
  return storage.getStore();
}

/** @internal Runs `fn(arg)` with `status` as the current node; restores the previous one afterwards. */
export function runWithStatus<A, R>(status: CancelStatus, fn: (arg: A) => R, arg: A): R {
  return storage.run(status, fn, arg);
}

/**
 * @internal Makes `status` current for the rest of this synchronous execution and its continuations.
 * Used to give code running outside any task (a request handler, a script) an identity, and by the
 * scheduler to start tasks (one context switch per task instead of two).
 */
export function enterStatus(status: CancelStatus | undefined): void {
  storage.enterWith(status as CancelStatus);
}
