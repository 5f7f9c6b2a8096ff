// The three consumers of per-item-timeout.ts on a virtual clock: the exact sequence of messages,
// timeouts and producer events with their times. Then the guard refusing the naive consumer in "throw"
// mode, and the CLI (a short real-time run, and bad arguments).
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { GeneratorGuardError, installGeneratorGuard, run, type GuardViolation } from "@quartet/core";
import { currentStatistics } from "@quartet/core/lowlevel";
import { MockClock, quartetTest } from "@quartet/testing";
import {
  GAPS,
  TIMEOUT,
  naiveConsumer,
  producerTaskConsumer,
  safeChannelConsumer,
  timedLog,
  type Log,
} from "./per-item-timeout.js";

type Entry = [t: number, line: string];

/** Runs `body` on an autojump clock with a recording log; checks nothing is left running at the end. */
async function onVirtualTime(body: (log: Log, entries: Entry[]) => Promise<unknown>): Promise<Entry[]> {
  const entries: Entry[] = [];
  await run(
    async () => {
      await body(timedLog(({ t, line }) => entries.push([t, line])), entries);
      const s = currentStatistics();
      expect({ tasks: s.tasksLiving, parked: s.waitersParked, deadlines: s.pendingDeadlines }).toEqual({
        tasks: 1,
        parked: 0,
        deadlines: 0,
      });
    },
    { clock: new MockClock({ autojumpThreshold: 0 }) },
  );
  return entries;
}

const KILLED = "producer: CANCELLED inside the generator (killed by the consumer's timeout)";
const NO_MESSAGE = "consumer: no message for 1 s";

describe("per-item timeouts on a producer with irregular gaps (virtual time)", () => {
  test("the gaps: two of them are longer than the timeout, one more than twice as long", () => {
    expect(GAPS).toEqual([100, 150, 1200, 100, 2100, 50]);
    expect(TIMEOUT).toBe(1000);
  });

  test("naive: the first timeout kills the generator, and the guard (warn) reports both steps", async () => {
    const violations: GuardViolation[] = [];
    const entries = await onVirtualTime(async (log) => {
      const uninstall = installGeneratorGuard({
        mode: "warn",
        onViolation: (v) => {
          violations.push(v);
          log(`GUARD ${v.kind}`);
        },
      });
      try {
        expect(await naiveConsumer(GAPS, TIMEOUT, log)).toEqual([0, 1]);
      } finally {
        uninstall();
      }
    });
    expect(entries).toEqual([
      [100, "consumer: message 0"],
      [100, "GUARD yield-across-scope"], // the second next(), in a new moveOnAfter scope
      [250, "consumer: message 1"],
      [1250, KILLED], // the timeout fired inside the generator's 1200 ms sleep
      [1250, "GUARD cancelled-inside-generator"],
      [1250, NO_MESSAGE],
      [1250, "consumer: the stream ended after 2 messages; 4 never arrived"],
    ]);
    expect(violations.map((v) => v.generatorName)).toEqual(["messages", "messages"]);
    expect(violations[0]!.message).toContain("asSafeChannel()");
  });

  test("asSafeChannel: every message, a line per second of silence, the producer never cancelled", async () => {
    const entries = await onVirtualTime(async (log) => {
      expect(await safeChannelConsumer(GAPS, TIMEOUT, log)).toEqual([0, 1, 2, 3, 4, 5]);
    });
    expect(entries).toEqual([
      [100, "consumer: message 0"],
      [250, "consumer: message 1"],
      [1250, NO_MESSAGE],
      [1450, "consumer: message 2"], // 1200 ms after it was asked for: the generator went on
      [1550, "consumer: message 3"],
      [2550, NO_MESSAGE],
      [3550, NO_MESSAGE],
      [3650, "consumer: message 4"],
      [3700, "consumer: message 5"],
      [3700, "producer: done, every message sent"], // resumed only by the receive() that found the end
      [3700, "consumer: the stream ended after 6 messages"],
    ]);
  });

  test("a producer task and a bounded channel: the same messages and timeouts, the producer runs ahead", async () => {
    const entries = await onVirtualTime(async (log) => {
      expect(await producerTaskConsumer(GAPS, TIMEOUT, log, 4)).toEqual([0, 1, 2, 3, 4, 5]);
    });
    expect(entries).toEqual([
      [100, "consumer: message 0"],
      [250, "consumer: message 1"],
      [1250, NO_MESSAGE],
      [1450, "consumer: message 2"],
      [1550, "consumer: message 3"],
      [2550, NO_MESSAGE],
      [3550, NO_MESSAGE],
      [3650, "consumer: message 4"],
      [3700, "producer: done, every message sent"], // it did not wait for the consumer to ask
      [3700, "consumer: message 5"],
      [3700, "consumer: the stream ended after 6 messages"],
    ]);
  });

  test("the fixes under the guard in throw mode: nothing is refused", async () => {
    const violations: GuardViolation[] = [];
    await onVirtualTime(async (log) => {
      const uninstall = installGeneratorGuard({ mode: "throw", onViolation: (v) => violations.push(v) });
      try {
        await safeChannelConsumer(GAPS, TIMEOUT, log);
        await producerTaskConsumer(GAPS, TIMEOUT, log);
      } finally {
        uninstall();
      }
    });
    expect(violations).toEqual([]);
  });

  test(
    "the guard in throw mode refuses the naive step before the generator runs (quartetTest)",
    quartetTest(async (clock) => {
      const entries: Entry[] = [];
      const log = timedLog(({ t, line }) => entries.push([t, line]));
      const error = await naiveConsumer(GAPS, TIMEOUT, log).then(
        () => expect.unreachable("the guard let the naive consumer run"),
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(GeneratorGuardError);
      expect((error as GeneratorGuardError).violation.kind).toBe("yield-across-scope");
      expect((error as GeneratorGuardError).message).toContain("asSafeChannel()");
      // Refused at the second next(), at 100 ms: the generator was neither resumed nor cancelled.
      expect(entries).toEqual([[100, "consumer: message 0"]]);
      expect(clock.currentTime()).toBe(100);
    }),
  );
});

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const tsx = path.join(root, "node_modules/tsx/dist/cli.mjs");
const mainTs = path.join(root, "examples/per-item-timeout/main.ts");

/** Runs main.ts with `args`; kills it if it takes longer than `limitMs`. */
function runMain(args: string[], limitMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsx, "--conditions=quartet-source", mainTs, ...args], { cwd: root });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("main.ts", () => {
  test("a quarter-speed real-time run: the naive consumer loses 4 messages, both fixes deliver all 6", async () => {
    const { code, stdout, stderr } = await runMain(["--scale", "0.25"], 15_000);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("GUARD (yield-across-scope)");
    expect(stdout).toContain("GUARD (cancelled-inside-generator)");
    expect(stdout).toContain("the stream ended after 2 messages; 4 never arrived");
    expect(stdout.match(/the stream ended after 6 messages/g)).toHaveLength(2);
    expect(stdout.match(/producer: CANCELLED/g)).toHaveLength(1);
  });

  test.each([
    [["--scale", "fast"], /^per-item-timeout: --scale must be a number in \(0, 10\], got "fast"\n$/],
    [["--scale"], /^per-item-timeout: --scale must be a number in \(0, 10\], got nothing\n$/],
    [["--verbose"], /^per-item-timeout: unknown argument "--verbose" \(usage: .*\)\n$/],
  ])("bad arguments %j: one line on stderr, exit 2", async (args, message) => {
    const { code, stdout, stderr } = await runMain(args, 10_000);
    expect(stderr).toMatch(message);
    expect(stdout).toBe("");
    expect(code).toBe(2);
  });
});
