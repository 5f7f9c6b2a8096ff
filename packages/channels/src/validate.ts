/**
 * Argument checks for the channel package. Messages follow `@quartet/core`'s: they name the function,
 * the argument and the value received, so a bad call fails at the call site. Internal.
 */

/** @internal A short, safe rendering of a value for error messages. */
export function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "undefined" || typeof value === "bigint") {
    return String(value);
  }
  if (value === null) return "null";
  if (typeof value === "symbol") return value.toString();
  if (typeof value === "function") return `function ${value.name || "<anonymous>"}`;
  if (Array.isArray(value)) return `array of length ${value.length}`;
  const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
  return ctor && ctor !== "Object" ? `a ${ctor}` : "an object";
}

/** @internal A buffer size: an integer ≥ 0 or `Infinity` (non-integer → `TypeError`, negative → `RangeError`). */
export function requireBufferSize(where: string, name: string, value: unknown): asserts value is number {
  if (typeof value !== "number" || (!Number.isInteger(value) && value !== Infinity)) {
    throw new TypeError(`${where}: ${name} must be an integer or Infinity, got ${describe(value)}`);
  }
  if (value < 0) throw new RangeError(`${where}: ${name} must be >= 0, got ${describe(value)}`);
}

/** @internal */
export function requireFunction(where: string, name: string, value: unknown): void {
  if (typeof value !== "function") throw new TypeError(`${where}: ${name} must be a function, got ${describe(value)}`);
}

/** @internal An options bag: `undefined` or an object. */
export function requireOptions(where: string, name: string, value: unknown): void {
  if (value !== undefined && (value === null || typeof value !== "object")) {
    throw new TypeError(`${where}: ${name} must be an object or undefined, got ${describe(value)}`);
  }
}
