// Trio §5 F 111–112: Sequencer.
import { describe, expect, test } from "vitest";
import { CancelScope, RuntimeError, openNursery } from "@quartet/core";
import { Sequencer, waitAllTasksBlocked } from "@quartet/testing";
import { autojump, installLeakCheck, qrun, rejection } from "./helpers.js";

installLeakCheck();

describe("§5 F 111 Sequencer (test_Sequencer)", () => {
  test("blocks run in position order whatever order the tasks reach them in", () =>
    qrun(async () => {
      const record: string[] = [];
      const seq = new Sequencer();
      const f1 = async (): Promise<void> => {
        await seq.run(1, () => record.push("f1:1"));
        await seq.run(3, () => record.push("f1:3"));
        await seq.run(4, () => record.push("f1:4"));
      };
      const f2 = async (): Promise<void> => {
        await seq.run(0, () => record.push("f2:0"));
        await seq.run(2, () => record.push("f2:2"));
      };
      await openNursery(async (n) => {
        n.startSoon(f1);
        n.startSoon(f2);
        await seq.run(5, () => {});
      });
      expect(record).toEqual(["f2:0", "f1:1", "f2:2", "f1:3", "f1:4"]);
      await expect(seq.run(0, () => {})).rejects.toBeInstanceOf(RuntimeError);
    }));

  test("a block that fails still releases the next position, and its error comes out of run()", () =>
    qrun(async () => {
      const record: string[] = [];
      const seq = new Sequencer();
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await seq.run(1, () => record.push("second"));
        });
        const e = await rejection(
          seq.run(0, async () => {
            await waitAllTasksBlocked();
            record.push("first");
            throw new TypeError("boom");
          }),
        );
        expect(e).toBeInstanceOf(TypeError);
      });
      expect(record).toEqual(["first", "second"]);
    }));

  test("run() resolves with the block's value; bad arguments throw synchronously", () =>
    qrun(async () => {
      const seq = new Sequencer();
      expect(await seq.run(0, async () => 42)).toBe(42);
      expect(() => seq.run(-1, () => {})).toThrow(RangeError);
      expect(() => seq.run(1.5, () => {})).toThrow(TypeError);
      expect(() => seq.run("1" as unknown as number, () => {})).toThrow(TypeError);
      expect(() => seq.run(1, "f" as unknown as () => void)).toThrow(TypeError);
    }));
});

describe("§5 F 112 Sequencer cancel (test_Sequencer_cancel)", () => {
  test("a cancelled wait breaks the sequence for everyone", () =>
    autojump(async () => {
      const record: string[] = [];
      const seq = new Sequencer();
      const child = async (i: number): Promise<void> => {
        await new CancelScope().run(async (scope) => {
          if (i === 1) scope.cancel();
          try {
            await seq.run(i, () => {
              throw new Error("not reached");
            });
          } catch (e) {
            if (!(e instanceof RuntimeError)) throw e;
            record.push(`seq(${i}) RuntimeError: ${e.message}`);
          }
        });
      };
      let bodyRan = false;
      await openNursery(async (n) => {
        n.startSoon(() => child(1));
        n.startSoon(() => child(2));
        await seq.run(0, () => {
          bodyRan = true;
        });
      });
      expect(bodyRan).toBe(true);
      expect(record).toEqual([
        "seq(1) RuntimeError: Sequencer wait cancelled -- sequence broken",
        "seq(2) RuntimeError: sequence broken!",
      ]);
      const e = await rejection(seq.run(3, () => {}));
      expect(e).toBeInstanceOf(RuntimeError);
      expect((e as Error).message).toBe("sequence broken!");
    }));

  test("a waiter cancelled while parked breaks it too (not only one cancelled on entry)", () =>
    autojump(async () => {
      const seq = new Sequencer();
      const errors: string[] = [];
      await openNursery(async (n) => {
        const scope = new CancelScope();
        n.startSoon(async () => {
          await scope.run(async () => {
            await seq.run(1, () => {}).catch((e: Error) => errors.push(e.message));
          });
        });
        await waitAllTasksBlocked();
        scope.cancel();
      });
      expect(errors).toEqual(["Sequencer wait cancelled -- sequence broken"]);
      await expect(seq.run(0, () => {})).rejects.toThrow("sequence broken!");
    }));
});
