// expectGroup / matchesGroup (Trio §4.5 semantics, with a proper assignment instead of greedy matching).
import { AssertionError } from "node:assert";
import { describe, expect, test } from "vitest";
import { ExceptionGroup, TooSlowError, failAfter, openNursery, sleep, sleepForever } from "@quartet/core";
import { expectGroup, matchesGroup } from "@quartet/testing";
import { autojump, installLeakCheck, rejection } from "./helpers.js";

installLeakCheck();

class AppError extends Error {
  constructor(readonly code: number) {
    super(`app error ${code}`);
    this.name = "AppError";
  }
}

const group = (...errors: unknown[]): ExceptionGroup => new ExceptionGroup("g", errors);

function mismatch(f: () => unknown): AssertionError {
  let caught: unknown;
  try {
    f();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(AssertionError);
  return caught as AssertionError;
}

describe("matchesGroup", () => {
  test("exact members, any order", () => {
    const g = group(new TypeError("t"), new RangeError("r"));
    expect(matchesGroup(g, [TypeError, RangeError])).toBe(true);
    expect(matchesGroup(g, [RangeError, TypeError])).toBe(true);
    expect(matchesGroup(g, [TypeError])).toBe(false);
    expect(matchesGroup(g, [TypeError, RangeError, Error])).toBe(false);
    expect(matchesGroup(g, [TypeError, TypeError])).toBe(false);
    expect(matchesGroup(new AggregateError([]), [])).toBe(true);
    expect(matchesGroup(new AggregateError([]), [Error])).toBe(false);
  });

  test("not greedy: a general item listed first does not steal the specific one's member", () => {
    const g = group(new TypeError("t"), new RangeError("r"));
    // Greedy matching would give Error the TypeError (first member) and leave TypeError nothing.
    expect(matchesGroup(g, [Error, TypeError])).toBe(true);
    expect(matchesGroup(group(new RangeError("r"), new TypeError("t")), [Error, TypeError])).toBe(true);
    const three = group(new AppError(1), new AppError(2), new TypeError("x"));
    expect(matchesGroup(three, [Error, (e: AppError) => e.code === 1, AppError])).toBe(true);
    expect(matchesGroup(three, [AppError, AppError, AppError])).toBe(false);
  });

  test("predicates, and predicates that throw do not match", () => {
    const g = group(new AppError(7), "a string");
    expect(matchesGroup(g, [(e: AppError) => e.code === 7, (e: unknown) => typeof e === "string"])).toBe(true);
    expect(matchesGroup(g, [(e: AppError) => e.code === 8, (e: unknown) => typeof e === "string"])).toBe(false);
    // `(e) => e.message.length` throws on the string member, so it can only match the AppError.
    expect(matchesGroup(g, [(e: Error) => e.message.length > 0, (e: Error) => e.message.length > 0])).toBe(false);
    function isStr(e: unknown): boolean {
      return typeof e === "string";
    }
    expect(matchesGroup(g, [isStr, AppError])).toBe(true);
  });

  test("nested groups", () => {
    const g = group(new TooSlowError(), group(new TypeError("a"), group(new RangeError("b"))));
    expect(matchesGroup(g, [TooSlowError, [TypeError, [RangeError]]])).toBe(true);
    expect(matchesGroup(g, [[[RangeError], TypeError], TooSlowError])).toBe(true);
    expect(matchesGroup(g, [TooSlowError, [TypeError, RangeError]])).toBe(false);
    expect(matchesGroup(g, [TooSlowError, [TypeError, [TypeError]]])).toBe(false);
    // A nested shape never matches a bare error, and a class may match a nested group as a whole.
    expect(matchesGroup(group(new TypeError("a")), [[TypeError]])).toBe(false);
    expect(matchesGroup(g, [TooSlowError, ExceptionGroup])).toBe(true);
    expect(matchesGroup(g, [TooSlowError, AggregateError])).toBe(true);
  });

  test("a plain AggregateError counts as a group; a bare error does not", () => {
    expect(matchesGroup(new AggregateError([new TypeError()]), [TypeError])).toBe(true);
    expect(matchesGroup(new TypeError("bare"), [TypeError])).toBe(false);
    expect(matchesGroup(undefined, [])).toBe(false);
  });

  test("bad shapes throw TypeError synchronously", () => {
    const g = group(new TypeError());
    expect(() => matchesGroup(g, TypeError as never)).toThrow(TypeError);
    expect(() => matchesGroup(g, [42 as never])).toThrow(/shape\[0\]/);
    expect(() => matchesGroup(g, [[TypeError, "x" as never]])).toThrow(/shape\[0\]\[1\]/);
    expect(() => expectGroup(g, [null as never])).toThrow(TypeError);
  });
});

describe("expectGroup", () => {
  test("passes silently on a match and narrows the type", () => {
    const e: unknown = group(new TypeError("t"));
    expectGroup(e, [TypeError]);
    expect(e.errors).toHaveLength(1);
  });

  test("a mismatch is an AssertionError naming unmatched members and items, with the error as cause", () => {
    const g = group(new TypeError("boom"), new RangeError("out of range"));
    const err = mismatch(() => expectGroup(g, [TypeError, SyntaxError]));
    expect(err.message).toMatch(/^expectGroup: ExceptionGroup\("g"\) \[TypeError\("boom"\), RangeError\("out of range"\)\]/);
    expect(err.message).toMatch(/matched: TypeError\("boom"\) ↔ TypeError/);
    expect(err.message).toMatch(/unmatched members: RangeError\("out of range"\)/);
    expect(err.message).toMatch(/unmatched shape items: SyntaxError/);
    expect(err.cause).toBe(g);
    // The diff shows only the discrepancy: matched members are written as their shape items.
    expect(err.expected).toBe("[\n  TypeError,\n  SyntaxError,\n]");
    expect(err.actual).toBe("[\n  TypeError,\n  RangeError,\n]");
  });

  test("counts, bare errors and nested mismatches are explained", () => {
    const err1 = mismatch(() => expectGroup(group(new TypeError()), [TypeError, TypeError]));
    expect(err1.message).toMatch(/1 member\(s\), the shape 2 item\(s\)/);
    const err2 = mismatch(() => expectGroup(new TypeError("bare"), [TypeError]));
    expect(err2.message).toBe('expectGroup: expected an exception group, got TypeError("bare")');
    const err3 = mismatch(() => expectGroup(group(group(new TypeError("in"))), [[RangeError]]));
    expect(err3.message).toMatch(/in the nested group: ExceptionGroup\("g"\) \[TypeError\("in"\)\] does not match/);
    expect(err3.message).toMatch(/unmatched shape items: RangeError/);
    const err4 = mismatch(() => expectGroup(group(new AppError(1)), [(e: AppError) => e.code === 2]));
    expect(err4.message).toMatch(/unmatched shape items: predicate \(e\) => e\.code === 2/);
  });

  test("given a promise, checks its rejection; a fulfilled promise fails", () =>
    autojump(async () => {
      const g = await expectGroup(
        openNursery(async (n) => {
          n.startSoon(async () => {
            await sleep(10);
            throw new TypeError("child");
          });
          // Shielded: the sibling's failure cancels the nursery, but this deadline still fires.
          n.startSoon(() => failAfter(50, () => sleepForever(), { shield: true }));
        }),
        [TypeError, TooSlowError],
      );
      expect(g.errors).toHaveLength(2);
      const e = await rejection(expectGroup(Promise.resolve(1), []));
      expect(e).toBeInstanceOf(AssertionError);
      expect((e as Error).message).toMatch(/fulfilled/);
      const e2 = await rejection(expectGroup(Promise.reject(group(new TypeError())), [RangeError]));
      expect(e2).toBeInstanceOf(AssertionError);
    }));
});
