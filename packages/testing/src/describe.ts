/**
 * Renders a value for error messages (`got …`), the way `@quartet/core` does, so argument errors from
 * both packages read alike. Internal: not exported from the package.
 */

/** @internal */
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

/** @internal Throws `TypeError` unless `value` is a function. */
export function requireFunction(where: string, name: string, value: unknown): void {
  if (typeof value !== "function") throw new TypeError(`${where}: ${name} must be a function, got ${describe(value)}`);
}

/** @internal Throws `TypeError` unless `value` is `undefined` or an object. */
export function requireOptions(where: string, name: string, value: unknown): void {
  if (value !== undefined && (value === null || typeof value !== "object")) {
    throw new TypeError(`${where}: ${name} must be an object or undefined, got ${describe(value)}`);
  }
}
