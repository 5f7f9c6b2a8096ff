/**
 * Argument checks shared by every public entry point. Each throws synchronously, naming the function,
 * the argument and the value received, so `moveOnAfter(-1, fn)` fails at the call site rather than
 * inside a task later.
 */
import { describe } from "./errors.js";

/** @internal */
export function requireFunction(where: string, name: string, value: unknown): void {
  if (typeof value !== "function") {
    throw new TypeError(`${where}: ${name} must be a function, got ${describe(value)}`);
  }
}

/** @internal A duration in ms: a number ≥ 0 (`Infinity` allowed). */
export function requireDuration(where: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== "number") {
    throw new TypeError(`${where}: ${name} must be a number of milliseconds, got ${describe(value)}`);
  }
  if (!(value >= 0)) {
    throw new RangeError(`${where}: ${name} must be a non-negative number of milliseconds, got ${describe(value)}`);
  }
}

/** @internal An absolute deadline in ms: any number but NaN (`±Infinity` allowed). */
export function requireDeadline(where: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== "number") {
    throw new TypeError(`${where}: ${name} must be a number (ms on the runtime clock), got ${describe(value)}`);
  }
  if (value !== value) {
    throw new RangeError(`${where}: ${name} must not be NaN`);
  }
}

/** @internal */
export function requireBoolean(where: string, name: string, value: unknown): asserts value is boolean {
  if (typeof value !== "boolean") {
    throw new TypeError(`${where}: ${name} must be a boolean, got ${describe(value)}`);
  }
}

/** @internal An options bag: `undefined` or a plain object. */
export function requireOptions(where: string, name: string, value: unknown): void {
  if (value !== undefined && (value === null || typeof value !== "object")) {
    throw new TypeError(`${where}: ${name} must be an object or undefined, got ${describe(value)}`);
  }
}

/** @internal An integer ≥ 0, or `Infinity` when `allowInfinity`. */
export function requireCount(where: string, name: string, value: unknown, allowInfinity: boolean): asserts value is number {
  if (typeof value !== "number" || (!Number.isInteger(value) && !(allowInfinity && value === Infinity))) {
    throw new TypeError(
      `${where}: ${name} must be an integer${allowInfinity ? " or Infinity" : ""}, got ${describe(value)}`,
    );
  }
  if (value < 0) {
    throw new RangeError(`${where}: ${name} must be >= 0, got ${describe(value)}`);
  }
}

/** @internal An optional task name. */
export function requireName(where: string, value: unknown): void {
  if (value !== undefined && typeof value !== "string") {
    throw new TypeError(`${where}: opts.name must be a string, got ${describe(value)}`);
  }
}
