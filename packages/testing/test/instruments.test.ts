// Trio §5 F 114 / §4.6: instrument hooks and their call order (test_instrumentation.py).
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { RuntimeError, checkpoint, openNursery, run, sleep, type Instrument, type Task } from "@quartet/core";
import { addInstrument, currentTask, removeInstrument } from "@quartet/core/lowlevel";
import { MockClock } from "@quartet/testing";
import { installLeakCheck } from "./helpers.js";

installLeakCheck();

type Entry = [string, Task | null];

/** Trio's TaskRecorder: also checks that task-step hooks run with the task current. */
class TaskRecorder implements Instrument {
  record: Entry[] = [];
  wrongTask: string[] = [];
  beforeRun(): void {
    this.record.push(["before_run", null]);
  }
  taskScheduled(task: Task): void {
    this.record.push(["schedule", task]);
  }
  beforeTaskStep(task: Task): void {
    if (currentTask() !== task) this.wrongTask.push(`before ${task.name}`);
    this.record.push(["before", task]);
  }
  afterTaskStep(task: Task): void {
    if (currentTask() !== task) this.wrongTask.push(`after ${task.name}`);
    this.record.push(["after", task]);
  }
  afterRun(): void {
    this.record.push(["after_run", null]);
  }
  filterTasks(tasks: Task[]): Entry[] {
    return this.record.filter(([what, t]) => what === "before_run" || what === "after_run" || (t !== null && tasks.includes(t)));
  }
}

// Instrument failures are reported through process.emitWarning; collect them instead of printing.
let warnings: Error[] = [];
const onWarning = (w: Error): void => {
  warnings.push(w);
};
beforeEach(() => {
  warnings = [];
  process.on("warning", onWarning);
});
afterEach(() => {
  process.off("warning", onWarning);
});

describe("§5 F 114 instrument order (test_instruments)", () => {
  test("a child that checkpoints 5 times: schedule, [before, schedule, after] x5, before, after", async () => {
    const r1 = new TaskRecorder();
    const r2 = new TaskRecorder();
    const r3 = new TaskRecorder();
    let task: Task | null = null;
    const taskFn = async (): Promise<void> => {
      task = currentTask();
      for (let i = 0; i < 4; i++) await checkpoint();
      // Replace r2 with r3 as we go.
      removeInstrument(r2);
      expect(() => removeInstrument(r2)).toThrow(RuntimeError);
      addInstrument(r3);
      addInstrument(r3); // idempotent
      await checkpoint();
    };
    await run(() => openNursery((n) => n.startSoon(taskFn)), { instruments: [r1, r2] });
    const t = task!;
    expect(t).not.toBeNull();
    const expected: Entry[] = [
      ["before_run", null],
      ["schedule", t],
      ...Array.from({ length: 5 }, (): Entry[] => [
        ["before", t],
        ["schedule", t],
        ["after", t],
      ]).flat(),
      ["before", t],
      ["after", t],
      ["after_run", null],
    ];
    expect(r1.record).toEqual([...r2.record, ...r3.record]);
    expect(r1.filterTasks([t])).toEqual(expected);
    expect(r1.wrongTask).toEqual([]);
  });

  test("two tasks interleave batch by batch (test_instruments_interleave)", async () => {
    const tasks: Record<string, Task> = {};
    const r = new TaskRecorder();
    await run(
      () =>
        openNursery((n) => {
          n.startSoon(async () => {
            tasks.t1 = currentTask();
            await checkpoint();
          });
          n.startSoon(async () => {
            tasks.t2 = currentTask();
            await checkpoint();
          });
        }),
      { instruments: [r] },
    );
    const name = (t: Task | null): string => (t === tasks.t1 ? "t1" : t === tasks.t2 ? "t2" : "-");
    const seq = r.filterTasks([tasks.t1!, tasks.t2!]).map(([w, t]) => (t === null ? w : `${w} ${name(t)}`));
    expect(seq.slice(0, 3)).toEqual(["before_run", "schedule t1", "schedule t2"]);
    expect(new Set(seq.slice(3, 9))).toEqual(
      new Set(["before t1", "schedule t1", "after t1", "before t2", "schedule t2", "after t2"]),
    );
    expect(new Set(seq.slice(9, 13))).toEqual(new Set(["before t1", "after t1", "before t2", "after t2"]));
    expect(seq.slice(13)).toEqual(["after_run"]);
    expect(r.wrongTask).toEqual([]);
  });

  test("taskSpawned is followed by taskScheduled; taskExited fires after the task left its nursery", async () => {
    const log: string[] = [];
    let nurseryChildren = -1;
    let main: Task | null = null;
    const ins: Instrument = {
      taskSpawned: (t) => log.push(`spawned ${t.name}`),
      taskScheduled: (t) => log.push(`scheduled ${t.name}`),
      taskExited: (t) => {
        log.push(`exited ${t.name}`);
        if (t.name === "child") nurseryChildren = (t.parentNursery as unknown as { childTasks: ReadonlySet<Task> }).childTasks.size;
      },
    };
    await run(
      async () => {
        main = currentTask();
        await openNursery((n) => n.startSoon(async () => {}, { name: "child" }));
      },
      { instruments: [ins] },
    );
    expect(log.slice(0, 2)).toEqual(["spawned main", "scheduled main"]);
    expect(log).toContain("spawned child");
    expect(log[log.indexOf("spawned child") + 1]).toBe("scheduled child");
    expect(log).toContain("exited child");
    expect(log.at(-1)).toBe("exited main");
    expect(nurseryChildren).toBe(0);
    expect(main).not.toBeNull();
  });

  test("beforeRun and afterRun bracket the run; an empty instrument is fine", async () => {
    const record: string[] = [];
    await run(async () => {}, {
      instruments: [{ beforeRun: () => record.push("before_run"), afterRun: () => record.push("after_run") }, {}],
    });
    expect(record).toEqual(["before_run", "after_run"]);
  });

  test("a hook that throws disables only its instrument; the others still see afterRun (test_instruments_crash)", async () => {
    const record: string[] = [];
    const broken: Instrument = {
      taskScheduled: () => {
        record.push("scheduled");
        throw new Error("oops");
      },
    };
    const r = new TaskRecorder();
    let main: Task | null = null;
    await run(
      async () => {
        record.push("main ran");
        main = currentTask();
        await checkpoint();
      },
      { instruments: [r, broken] },
    );
    expect(record).toEqual(["scheduled", "main ran"]);
    expect(r.record).toContainEqual(["after", main]);
    expect(r.record.at(-1)).toEqual(["after_run", null]);
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    expect(warnings.map((w) => String(w.message))).toEqual([expect.stringMatching(/instrument has been disabled.*oops/)]);
  });

  test("hooks are captured when the instrument is added (test_instruments_monkeypatch)", async () => {
    const instrument: Instrument = {};
    await run(async () => {
      const record: Task[] = [];
      addInstrument(instrument);
      instrument.beforeTaskStep = (t) => record.push(t);
      await checkpoint();
      await checkpoint();
      expect(record).toHaveLength(0);
      removeInstrument(instrument);
      addInstrument(instrument);
      await checkpoint();
      await checkpoint();
      expect(record.filter((t) => t === currentTask())).toHaveLength(2);
      removeInstrument(instrument);
      await checkpoint();
      await checkpoint();
      expect(record.filter((t) => t === currentTask())).toHaveLength(2);
    });
  });

  test("io-wait hooks bracket the runtime's idle waits, with the time to the next deadline", async () => {
    const log: string[] = [];
    const ins: Instrument = {
      beforeIoWait: (ms) => log.push(`before_io_wait ${ms}`),
      afterIoWait: () => log.push("after_io_wait"),
    };
    await run(() => sleep(100), { clock: new MockClock({ autojumpThreshold: 0 }), instruments: [ins] });
    expect(log).toContain("before_io_wait 100");
    for (let i = 0; i + 1 < log.length; i++) {
      // Strictly alternating.
      expect(log[i]!.startsWith("before") !== log[i + 1]!.startsWith("before")).toBe(true);
    }
  });
});
