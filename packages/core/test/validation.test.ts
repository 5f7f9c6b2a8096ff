// Every argument in API.md is validated synchronously with a TypeError/RangeError naming the function,
// the argument and the value received; nothing is left behind by a rejected call.
import { describe, expect, test } from "vitest";
import {
  CancelScope,
  RuntimeError,
  failAfter,
  failAt,
  moveOnAfter,
  moveOnAt,
  openNursery,
  run,
  sleep,
  sleepUntil,
} from "@quartet/core";
import { addInstrument, removeInstrument, reschedule, waitAllTasksBlocked } from "@quartet/core/lowlevel";
import { installLeakCheck } from "./helpers.js";

installLeakCheck();

const fn = () => undefined;

describe("durations and deadlines", () => {
  const cases: Array<[string, () => unknown, ErrorConstructor, RegExp]> = [
    ["sleep('1')", () => sleep("1" as never), TypeError, /sleep: ms must be a number of milliseconds, got "1"/],
    ["sleep(-5)", () => sleep(-5), RangeError, /sleep: ms .* got -5/],
    ["sleep(NaN)", () => sleep(NaN), RangeError, /got NaN/],
    ["sleepUntil(NaN)", () => sleepUntil(NaN), RangeError, /sleepUntil: deadline must not be NaN/],
    ["sleepUntil(null)", () => sleepUntil(null as never), TypeError, /got null/],
    ["moveOnAfter(-1)", () => moveOnAfter(-1, fn), RangeError, /moveOnAfter: ms .* got -1/],
    ["moveOnAfter(undefined)", () => moveOnAfter(undefined as never, fn), TypeError, /got undefined/],
    ["moveOnAt('x')", () => moveOnAt("x" as never, fn), TypeError, /moveOnAt: deadline/],
    ["failAfter(NaN)", () => failAfter(NaN, fn), RangeError, /failAfter: ms/],
    ["failAt(NaN)", () => failAt(NaN, fn), RangeError, /failAt: deadline must not be NaN/],
    ["waitAllTasksBlocked(-1)", () => waitAllTasksBlocked(-1), RangeError, /waitAllTasksBlocked: cushionMs/],
  ];
  test.each(cases)("%s", (_name, call, ErrorClass, message) => {
    expect(call).toThrow(ErrorClass);
    expect(call).toThrow(message);
  });
});

describe("functions and options", () => {
  test("non-function bodies", () => {
    expect(() => moveOnAfter(1, 5 as never)).toThrow(/moveOnAfter: fn must be a function, got 5/);
    expect(() => failAfter(1, "x" as never)).toThrow(TypeError);
    expect(() => moveOnAt(1, null as never)).toThrow(TypeError);
    expect(() => failAt(1, {} as never)).toThrow(/got an object/);
    expect(() => openNursery(undefined as never)).toThrow(/openNursery: body must be a function, got undefined/);
    expect(() => new CancelScope().run(5 as never)).toThrow(/CancelScope.run: fn must be a function/);
    expect(() => run(undefined as never)).toThrow(/run: main must be a function/);
  });

  test("shield must be a boolean", () => {
    expect(() => moveOnAfter(1, fn, { shield: "yes" as never })).toThrow(/moveOnAfter: opts.shield must be a boolean, got "yes"/);
    expect(() => new CancelScope({ shield: 1 as never })).toThrow(TypeError);
    const s = new CancelScope();
    expect(() => {
      s.shield = null as never;
    }).toThrow(/CancelScope.shield: value must be a boolean, got null/);
    expect(() => moveOnAfter(1, fn, 5 as never)).toThrow(/opts must be an object/);
  });

  test("CancelScope options", () => {
    expect(() => new CancelScope({ deadline: "5" as never })).toThrow(TypeError);
    expect(() => new CancelScope({ relativeDeadline: "5" as never })).toThrow(TypeError);
    expect(() => new CancelScope(5 as never)).toThrow(TypeError);
    expect(() => new CancelScope().cancel(5 as never)).toThrow(/reason must be a string/);
    const s = new CancelScope();
    expect(() => {
      s.deadline = NaN;
    }).toThrow(RangeError);
    expect(() => {
      s.relativeDeadline = -1;
    }).toThrow(RangeError);
  });

  test("a rejected call leaves no scope, deadline or task behind", () =>
    run(async () => {
      expect(() => moveOnAfter(-1, fn)).toThrow();
      expect(() => openNursery(5 as never)).toThrow();
    }));

  test("low-level misuse", () => {
    expect(() => addInstrument(5 as never)).toThrow(TypeError);
    expect(() => removeInstrument({})).toThrow(RuntimeError);
    expect(() => reschedule(undefined as never)).toThrow(TypeError);
  });
});
