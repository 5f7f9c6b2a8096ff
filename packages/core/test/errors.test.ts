// ExceptionGroup, isCancelled and the error classes.
import { describe, expect, test } from "vitest";
import {
  BrokenResourceError,
  BusyResourceError,
  CancelScope,
  Cancelled,
  ClosedResourceError,
  EndOfChannel,
  ExceptionGroup,
  RuntimeError,
  TooSlowError,
  WouldBlock,
  checkpoint,
  isCancelled,
} from "@quartet/core";
import { qrun, rejection } from "./helpers.js";

async function aCancelled(): Promise<Cancelled> {
  let e: unknown;
  await qrun(async () => {
    await new CancelScope().run(async (s) => {
      s.cancel();
      e = await rejection(checkpoint());
    });
  });
  return e as Cancelled;
}

describe("ExceptionGroup", () => {
  test("is an AggregateError with errors and exceptions", () => {
    const a = new TypeError("a");
    const g = new ExceptionGroup("msg", [a]);
    expect(g).toBeInstanceOf(AggregateError);
    expect(g).toBeInstanceOf(Error);
    expect(g.name).toBe("ExceptionGroup");
    expect(g.message).toBe("msg");
    expect(g.errors).toEqual([a]);
    expect(g.exceptions).toBe(g.errors);
  });

  test("split and subgroup keep the nesting", () => {
    const t1 = new TypeError("t1");
    const r1 = new RangeError("r1");
    const t2 = new TypeError("t2");
    const inner = new ExceptionGroup("inner", [t2, r1]);
    const g = new ExceptionGroup("outer", [t1, inner], { cause: "why" });
    const [match, rest] = g.split(TypeError);
    expect(match!.errors[0]).toBe(t1);
    expect((match!.errors[1] as ExceptionGroup).errors).toEqual([t2]);
    expect((match!.errors[1] as ExceptionGroup).message).toBe("inner");
    expect(match!.cause).toBe("why");
    expect(rest!.errors).toHaveLength(1);
    expect((rest!.errors[0] as ExceptionGroup).errors).toEqual([r1]);
    expect(g.subgroup((e) => e === r1)!.errors).toHaveLength(1);
    expect(g.subgroup(SyntaxError)).toBeUndefined();
    expect(g.split(Error)[0]).toBe(g);
    expect(g.split(Error)[1]).toBeUndefined();
  });

  test("derive keeps the message", () => {
    const g = new ExceptionGroup("m", [new Error("x")]);
    const d = g.derive([new Error("y")]);
    expect(d.message).toBe("m");
    expect(d.errors).toHaveLength(1);
  });

  test("bad input", () => {
    expect(() => new ExceptionGroup(5 as never, [new Error()])).toThrow(TypeError);
    expect(() => new ExceptionGroup("m", 5 as never)).toThrow(TypeError);
    expect(() => new ExceptionGroup("m", [])).toThrow(RangeError);
    expect(() => new ExceptionGroup("m", [new Error()]).split(5 as never)).toThrow(TypeError);
  });
});

describe("Cancelled and isCancelled", () => {
  test("a runtime-made Cancelled is an Error with a message naming its source", async () => {
    const c = await aCancelled();
    expect(c).toBeInstanceOf(Error);
    expect(c.name).toBe("Cancelled");
    expect(c.source).toBe("explicit");
    expect(isCancelled(c)).toBe(true);
  });

  test("isCancelled is true for groups made only of Cancelled", async () => {
    const c = await aCancelled();
    expect(isCancelled(new ExceptionGroup("g", [c, new ExceptionGroup("h", [c])]))).toBe(true);
    expect(isCancelled(new ExceptionGroup("g", [c, new Error("x")]))).toBe(false);
    expect(isCancelled(new Error("x"))).toBe(false);
    expect(isCancelled(undefined)).toBe(false);
  });

  test("the other error classes are plain, named Errors", () => {
    for (const C of [RuntimeError, TooSlowError, WouldBlock, ClosedResourceError, BrokenResourceError, EndOfChannel, BusyResourceError]) {
      const e = new C("m");
      expect(e).toBeInstanceOf(Error);
      expect(e.name).toBe(C.name);
      expect(e.message).toBe("m");
    }
  });
});
