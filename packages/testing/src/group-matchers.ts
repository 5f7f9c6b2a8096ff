/**
 * Exception-group matchers (Trio §4.5, `RaisesGroup`). Nurseries always raise groups, so a plain
 * `expect(p).rejects.toThrow(TypeError)` cannot say what a failing nursery raised; these can.
 *
 * A shape is an array describing the members of a group, **exactly and in any order**: each item is an
 * error class (matched with `instanceof`), a predicate `(e) => boolean`, or a nested array (a member that
 * is itself a group with that shape). Unlike Trio's greedy matcher, items are assigned to members by a
 * proper bipartite matching, so `[Error, TypeError]` matches a group of a `TypeError` and a
 * `RangeError` whatever their order.
 *
 * A group is any `AggregateError` (core's `ExceptionGroup` is one); its members are its `errors`.
 */
import { AssertionError } from "node:assert";
import { describe } from "./describe.js";

/** An error class; matched with `instanceof`. */
export type ErrorClass = abstract new (...args: any[]) => unknown;
/** A predicate on a member; matches when it returns a truthy value (a predicate that throws does not match). */
export type ErrorPredicate = (error: any) => unknown;
/** One item of a `GroupShape`. */
export type GroupShapeItem = ErrorClass | ErrorPredicate | GroupShape;
/** The members of a group, exactly, in any order. */
export type GroupShape = readonly GroupShapeItem[];

const CLASS = 0;
const PREDICATE = 1;
const NESTED = 2;

function kindOf(item: unknown, path: string): number {
  if (Array.isArray(item)) return NESTED;
  if (typeof item !== "function") {
    throw new TypeError(
      `expectGroup: shape${path} must be an error class, a predicate (e) => boolean or a nested array, got ${describe(item)}`,
    );
  }
  const proto = (item as { prototype?: unknown }).prototype;
  if (item === Error || proto instanceof Error || /^class[\s{]/.test(Function.prototype.toString.call(item))) return CLASS;
  return PREDICATE;
}

/** Validates the whole shape up front, so a typo fails loudly instead of as a mismatch. */
function checkShape(where: string, shape: unknown, path = ""): void {
  if (!Array.isArray(shape)) {
    throw new TypeError(`${where}: shape${path} must be an array of error classes, predicates or nested arrays, got ${describe(shape)}`);
  }
  for (let i = 0; i < shape.length; i++) {
    const p = `${path}[${i}]`;
    if (kindOf(shape[i], p) === NESTED) checkShape(where, shape[i], p);
  }
}

function isGroup(e: unknown): e is AggregateError {
  return e instanceof AggregateError && Array.isArray(e.errors);
}

function matchItem(item: GroupShapeItem, member: unknown): boolean {
  switch (kindOf(item, "")) {
    case CLASS:
      return member instanceof (item as ErrorClass);
    case PREDICATE:
      try {
        return !!(item as ErrorPredicate)(member);
      } catch {
        return false;
      }
    default:
      return isGroup(member) && matchMembers(member.errors, item as GroupShape);
  }
}

/**
 * Maximum bipartite matching (Kuhn's augmenting paths) between shape items and members.
 * `itemOf[m]` is the item assigned to member `m`, or -1.
 */
function assign(ok: boolean[][], items: number, members: number): number[] {
  const itemOf = new Array<number>(members).fill(-1);
  const seen = new Array<boolean>(members);
  const augment = (i: number): boolean => {
    for (let m = 0; m < members; m++) {
      if (!ok[i]![m] || seen[m]) continue;
      seen[m] = true;
      if (itemOf[m] === -1 || augment(itemOf[m]!)) {
        itemOf[m] = i;
        return true;
      }
    }
    return false;
  };
  for (let i = 0; i < items; i++) {
    seen.fill(false);
    augment(i);
  }
  return itemOf;
}

function compat(members: readonly unknown[], shape: GroupShape): boolean[][] {
  return shape.map((item) => members.map((m) => matchItem(item, m)));
}

function matchMembers(members: readonly unknown[], shape: GroupShape): boolean {
  if (members.length !== shape.length) return false;
  return assign(compat(members, shape), shape.length, members.length).every((i) => i >= 0);
}

/**
 * True if `error` is a group (an `AggregateError`, such as core's `ExceptionGroup`) whose members match
 * `shape` exactly, in any order. Nested arrays describe nested groups.
 *
 * @example
 * ```ts
 * const e = await openNursery(…).catch((e) => e);
 * matchesGroup(e, [TypeError, [RangeError, (x) => x.message === "late"]]);
 * ```
 */
export function matchesGroup(error: unknown, shape: GroupShape): boolean {
  checkShape("matchesGroup", shape);
  return isGroup(error) && matchMembers(error.errors, shape);
}

/**
 * Asserts that `error` is a group matching `shape` (see `matchesGroup`); throws an `AssertionError`
 * (from `node:assert`, with `actual`/`expected` renderings that test runners diff, and the original
 * error as `cause`) explaining which members and which shape items were left unmatched. Given a
 * promise, awaits its rejection and checks that (a fulfilled promise fails).
 *
 * @example
 * ```ts
 * await expectGroup(
 *   openNursery(async (n) => { n.startSoon(failsWithTypeError); n.startSoon(failsWithRangeError); }),
 *   [RangeError, TypeError],
 * );
 * expectGroup(caught, [[ClosedResourceError], TooSlowError]); // a nested group and a bare error
 * ```
 */
export function expectGroup(error: Promise<unknown>, shape: GroupShape): Promise<AggregateError>;
export function expectGroup(error: unknown, shape: GroupShape): asserts error is AggregateError;
export function expectGroup(error: unknown, shape: GroupShape): Promise<AggregateError> | void {
  checkShape("expectGroup", shape);
  if (error instanceof Promise) {
    return error.then(
      () => {
        throw new AssertionError({
          message: "expectGroup: expected the promise to reject with an exception group, but it fulfilled",
          actual: "fulfilled",
          expected: render(shape, 0),
          operator: "expectGroup",
        });
      },
      (e: unknown) => {
        check(e, shape);
        return e as AggregateError;
      },
    );
  }
  check(error, shape);
}

function check(error: unknown, shape: GroupShape): void {
  if (isGroup(error) && matchMembers(error.errors, shape)) return;
  const err = new AssertionError({
    message: `expectGroup: ${explain(error, shape, "")}`,
    actual: isGroup(error) ? renderMembers(error, shape, 0) : renderMember(error),
    expected: render(shape, 0),
    operator: "expectGroup",
  });
  (err as { cause?: unknown }).cause = error;
  throw err;
}

// ------------------------------------------------------------------ explanations and renderings

function explain(error: unknown, shape: GroupShape, indent: string): string {
  if (!isGroup(error)) return `expected an exception group, got ${renderMember(error)}`;
  const members = error.errors;
  const ok = compat(members, shape);
  const itemOf = assign(ok, shape.length, members.length);
  const lines: string[] = [`${renderMember(error)} does not match the shape ${renderInline(shape)}`];
  if (members.length !== shape.length) lines.push(`the group has ${members.length} member(s), the shape ${shape.length} item(s)`);
  const usedItems = new Set(itemOf.filter((i) => i >= 0));
  const looseMembers = members.map((_, m) => m).filter((m) => itemOf[m] === -1);
  const looseItems = shape.map((_, i) => i).filter((i) => !usedItems.has(i));
  for (let m = 0; m < members.length; m++) {
    if (itemOf[m]! >= 0) lines.push(`matched: ${renderMember(members[m])} ↔ ${renderItem(shape[itemOf[m]!]!)}`);
  }
  if (looseMembers.length > 0) lines.push(`unmatched members: ${looseMembers.map((m) => renderMember(members[m])).join(", ")}`);
  if (looseItems.length > 0) lines.push(`unmatched shape items: ${looseItems.map((i) => renderItem(shape[i]!)).join(", ")}`);
  // Say why a nested shape did not match the nested group that looks like its counterpart.
  for (const i of looseItems) {
    const item = shape[i]!;
    if (!Array.isArray(item)) continue;
    const m = looseMembers.find((k) => isGroup(members[k]));
    if (m === undefined) break;
    lines.push(`in the nested group: ${explain(members[m], item as GroupShape, indent + "  ")}`);
    break;
  }
  if (looseItems.length === 0 && looseMembers.length === 0 && members.length !== shape.length) {
    lines.push("(no assignment of items to members covers both)");
  }
  return lines.join(`\n${indent}  `);
}

function errorLabel(e: unknown): string {
  if (e instanceof Error) return `${e.name}(${e.message === "" ? "" : JSON.stringify(e.message.length > 80 ? e.message.slice(0, 80) + "…" : e.message)})`;
  return describe(e);
}

function renderMember(e: unknown): string {
  if (isGroup(e)) return `${errorLabel(e)} [${e.errors.map(renderMember).join(", ")}]`;
  return errorLabel(e);
}

function renderItem(item: GroupShapeItem): string {
  if (Array.isArray(item)) return renderInline(item as GroupShape);
  const fn = item as { name?: string };
  if (kindOf(item, "") === CLASS) return fn.name || "<anonymous class>";
  const src = Function.prototype.toString.call(item).replace(/\s+/g, " ");
  return `predicate ${fn.name ? fn.name : src.length > 60 ? src.slice(0, 60) + "…" : src}`;
}

function renderInline(shape: GroupShape): string {
  return `[${shape.map(renderItem).join(", ")}]`;
}

/** The shape, one item per line, for the runner's diff. */
function render(shape: GroupShape, depth: number): string {
  const pad = "  ".repeat(depth + 1);
  const lines = shape.map((item) => pad + (Array.isArray(item) ? render(item as GroupShape, depth + 1) : renderItem(item)) + ",");
  return `[\n${lines.join("\n")}\n${"  ".repeat(depth)}]`;
}

/**
 * The members in the shape's vocabulary and order: a member matched to an item is written as that item
 * (so the diff shows only the discrepancies), the others by class name, after the matched ones.
 */
function renderMembers(group: AggregateError, shape: GroupShape, depth: number): string {
  const members = group.errors;
  const itemOf = assign(compat(members, shape), shape.length, members.length);
  const pad = "  ".repeat(depth + 1);
  const slots: string[] = [];
  for (let i = 0; i < shape.length; i++) {
    const m = itemOf.indexOf(i);
    if (m >= 0) {
      const item = shape[i]!;
      slots.push(pad + (Array.isArray(item) ? render(item as GroupShape, depth + 1) : renderItem(item)) + ",");
    }
  }
  for (let m = 0; m < members.length; m++) {
    if (itemOf[m]! >= 0) continue;
    const e = members[m];
    const nestedShape = shape.find((it, i) => Array.isArray(it) && !itemOf.includes(i)) as GroupShape | undefined;
    const text = isGroup(e)
      ? renderMembers(e, nestedShape ?? [], depth + 1)
      : e instanceof Error
        ? (e.constructor as { name?: string }).name || e.name
        : describe(e);
    slots.push(pad + text + ",");
  }
  return `[\n${slots.join("\n")}\n${"  ".repeat(depth)}]`;
}
