// Runs the three consumers of per-item-timeout.ts one after the other on real time:
//   npx pnpm@10.34.8 example per-item-timeout [--scale <factor>]
// --scale multiplies every gap and the timeout (0.5 runs twice as fast). Ctrl-C stops it.
import { installGeneratorGuard, run, type GuardViolation } from "@quartet/core";
import {
  GAPS,
  TIMEOUT,
  naiveConsumer,
  producerTaskConsumer,
  safeChannelConsumer,
  timedLog,
  type Log,
} from "./per-item-timeout.js";

function fail(message: string): never {
  console.error(`per-item-timeout: ${message}`);
  process.exit(2);
}

function parseArgs(argv: string[]): { scale: number } {
  let scale = 1;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--scale") {
      const raw = argv[++i];
      const value = Number(raw);
      if (raw === undefined || raw.trim() === "" || !Number.isFinite(value) || value <= 0 || value > 10) {
        fail(`--scale must be a number in (0, 10], got ${raw === undefined ? "nothing" : JSON.stringify(raw)}`);
      }
      scale = value;
    } else {
      fail(`unknown argument ${JSON.stringify(arg)} (usage: main.ts [--scale <factor>])`);
    }
  }
  return { scale };
}

const { scale } = parseArgs(process.argv.slice(2));
const gaps = GAPS.map((g) => Math.round(g * scale));
const timeout = Math.round(TIMEOUT * scale);

/** Starts a section: prints its title and restarts the clock of the log lines. */
function section(title: string): Log {
  console.log(`\n${title}`);
  log = timedLog(({ t, line }) => console.log(`  [${String(t).padStart(5)} ms] ${line}`));
  return log;
}
let log: Log = () => undefined;

/** Prints a guard report, wrapped to 100 columns under its log line. */
function reportViolation(v: GuardViolation): void {
  const lines: string[] = [];
  let line = "";
  for (const word of v.message.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > 86) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  lines.push(line);
  log(`GUARD (${v.kind}):\n${lines.map((l) => `${" ".repeat(14)}${l}`).join("\n")}`);
}

async function main(): Promise<void> {
  console.log(`gaps before each message: ${gaps.join(", ")} ms; the consumer's timeout: ${timeout} ms`);
  // Warn mode: the offending step still runs (so we can watch the damage), and each report comes here.
  const uninstall = installGeneratorGuard({ mode: "warn", onViolation: reportViolation });
  try {
    await naiveConsumer(gaps, timeout, section("1. naive: moveOnAfter(timeout, () => it.next())"));

    await safeChannelConsumer(gaps, timeout, section("2. asSafeChannel: moveOnAfter(timeout, () => rx.receive())"));

    await producerTaskConsumer(gaps, timeout, section("3. a producer task and a bounded channel (4 messages)"), 4);
    console.log("\nThe guard stayed installed for 2 and 3 and had nothing to report.");
  } finally {
    uninstall();
  }
}

const interrupt = new AbortController();
process.on("SIGINT", () => interrupt.abort(new Error("interrupted"))); // on: a second Ctrl-C is absorbed too
try {
  await run(main, { signal: interrupt.signal });
} catch (e) {
  if (interrupt.signal.aborted) {
    console.error("per-item-timeout: interrupted");
    process.exit(130);
  }
  console.error(`per-item-timeout: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
}
