// Trio §5 F 113: assertCheckpoints / assertNoCheckpoints (§4.4 rules).
import { AssertionError } from "node:assert";
import { describe, expect, test } from "vitest";
import { CancelScope, checkpoint, sleep } from "@quartet/core";
import { cancelShieldedCheckpoint, checkpointIfCancelled } from "@quartet/core/lowlevel";
import { assertCheckpoints, assertNoCheckpoints } from "@quartet/testing";
import { autojump, installLeakCheck, qrun, rejection } from "./helpers.js";

installLeakCheck();

describe("§5 F 113 assertCheckpoints (test_assert_checkpoints)", () => {
  test("checkpoint() passes; an empty block fails", () =>
    qrun(async () => {
      await assertCheckpoints(() => checkpoint());
      const e = await rejection(assertCheckpoints(async () => {}));
      expect(e).toBeInstanceOf(AssertionError);
      expect((e as Error).message).toMatch(/did not yield/);
    }));

  test("a cancel point alone or a schedule point alone is not enough; both together are", () =>
    qrun(async () => {
      expect(await rejection(assertCheckpoints(() => checkpointIfCancelled()))).toBeInstanceOf(AssertionError);
      expect(await rejection(assertCheckpoints(() => cancelShieldedCheckpoint()))).toBeInstanceOf(AssertionError);
      await assertCheckpoints(async () => {
        await checkpointIfCancelled();
        await cancelShieldedCheckpoint();
      });
    }));

  test("assertNoCheckpoints fails on either kind alone and on both", () =>
    qrun(async () => {
      await assertNoCheckpoints(() => {});
      await assertNoCheckpoints(async () => {});
      for (const body of [
        () => checkpointIfCancelled(),
        () => cancelShieldedCheckpoint(),
        () => checkpoint(),
        async () => {
          await checkpointIfCancelled();
          await cancelShieldedCheckpoint();
        },
      ]) {
        const e = await rejection(assertNoCheckpoints(body));
        expect(e).toBeInstanceOf(AssertionError);
        expect((e as Error).message).toMatch(/yielded/);
      }
    }));

  test("a park counts as a full checkpoint", () =>
    autojump(async () => {
      await assertCheckpoints(() => sleep(10));
    }));

  test("a block that raises is not checked by assertCheckpoints, but is by assertNoCheckpoints", () =>
    qrun(async () => {
      const boom = new RangeError("boom");
      expect(await rejection(assertCheckpoints(() => Promise.reject(boom)))).toBe(boom);
      expect(
        await rejection(
          assertNoCheckpoints(() => {
            throw boom;
          }),
        ),
      ).toBe(boom);
      const e = await rejection(
        assertNoCheckpoints(async () => {
          await checkpoint();
          throw boom;
        }),
      );
      expect(e).toBeInstanceOf(AssertionError);
      expect((e as Error).cause).toBe(boom);
    }));

  test("a checkpoint in a cancelled scope raises Cancelled: the block raised, so it is not checked", () =>
    qrun(async () => {
      await new CancelScope().run(async (scope) => {
        scope.cancel();
        const e = await rejection(assertCheckpoints(() => checkpoint()));
        expect(e).not.toBeInstanceOf(AssertionError);
        throw e;
      });
    }));

  test("only the calling task's checkpoints count", () =>
    qrun(async () => {
      const values = await assertNoCheckpoints(() => 7);
      expect(values).toBe(7);
      expect(await assertCheckpoints(async () => (await checkpoint(), "v"))).toBe("v");
      expect(() => assertCheckpoints(5 as unknown as () => void)).toThrow(TypeError);
      expect(() => assertNoCheckpoints(undefined as unknown as () => void)).toThrow(TypeError);
    }));
});
