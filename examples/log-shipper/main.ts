// log-shipper: follow a log file and POST its lines in batches to an HTTP sink, with retries, backoff
// and a bounded buffer. Without --file it runs a demo: a writer task appends numbered lines to a temp
// file (rotating it halfway), and a local sink goes slow, down and back on a schedule.
//
//   npx pnpm@10.34.8 example log-shipper                       # the demo
//   npx pnpm@10.34.8 example log-shipper --file /var/log/app.log --sink http://127.0.0.1:9000/logs
//
// First Ctrl-C: stop reading, deliver what is buffered within --grace ms. Second Ctrl-C: quit now.
import { promises as fs } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { cancellable, currentTime, ExceptionGroup, isCancelled, openNursery, run, sleep } from "@quartet/core";
import {
  checkReachable,
  describeError,
  httpDeliver,
  LogShipper,
  LogSink,
  openLogFile,
  seededRandom,
  type SinkMode,
  writeNumberedLines,
  type WriterStats,
} from "./log-shipper.js";

const USAGE = `usage: log-shipper [--file PATH] [--sink URL] [--duration MS] [--grace MS] [--buffer LINES]
  [--batch LINES] [--batch-wait MS] [--request-timeout MS] [--give-up-after MS] [--poll MS] [--from-end]
  [--seed N] [--status-every MS] [--sink-schedule MODE@MS,...] [--sink-slow-ms MS] [--lines N] [--rate LINES_PER_S]`;

class UsageError extends Error {}

const { values: args } = (() => {
  try {
    return parseArgs({
      strict: true,
      allowPositionals: false,
      options: {
        file: { type: "string" },
        sink: { type: "string" },
        duration: { type: "string" },
        grace: { type: "string", default: "3000" },
        buffer: { type: "string", default: "200" },
        batch: { type: "string", default: "100" },
        "batch-wait": { type: "string", default: "200" },
        "request-timeout": { type: "string", default: "1000" },
        "give-up-after": { type: "string", default: "30000" },
        poll: { type: "string", default: "100" },
        "from-end": { type: "boolean", default: false },
        seed: { type: "string" },
        "status-every": { type: "string", default: "1000" },
        "sink-schedule": { type: "string", default: "slow@1000,down@2000,503@3000,ok@3500" },
        "sink-slow-ms": { type: "string", default: "1500" },
        lines: { type: "string", default: "2000" },
        rate: { type: "string", default: "500" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (e) {
    fail(`${(e as Error).message.replace(/\s*\n\s*/g, " ")} (try --help)`, 2);
  }
})();

if (args.help) {
  console.log(USAGE);
  process.exit(0);
}

function fail(message: string, code: number): never {
  console.error(`log-shipper: ${message}`);
  process.exit(code);
}

function number(name: string, value: string | undefined, { min = 0, integer = false } = {}): number {
  const n = Number(value);
  if (value === undefined || value.trim() === "" || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new UsageError(`--${name} must be ${integer ? "an integer" : "a number"} ≥ ${min}, got ${JSON.stringify(value)}`);
  }
  return n;
}

function parseSchedule(spec: string): { mode: SinkMode; at: number }[] {
  return spec
    .split(",")
    .filter((s) => s.trim() !== "")
    .map((item) => {
      const [mode, at = "0"] = item.trim().split("@") as [SinkMode, string?];
      if (!["ok", "slow", "503", "down"].includes(mode)) {
        throw new UsageError(`--sink-schedule: unknown mode ${JSON.stringify(mode)} (ok, slow, 503, down)`);
      }
      return { mode, at: number("sink-schedule", at) };
    })
    .sort((a, b) => a.at - b.at);
}

function parseSinkUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--sink must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new UsageError(`--sink must be an http:// or https:// URL, got ${JSON.stringify(text)}`);
  }
  return url;
}

function kib(bytes: number): string {
  return `${(bytes / 1024).toFixed(1)} KiB`;
}

let shipper: LogShipper | null = null;
let graceMs = 3000;

async function main(): Promise<number> {
  const demo = args.file === undefined;
  graceMs = number("grace", args.grace);
  const bufferLines = number("buffer", args.buffer, { min: 1, integer: true });
  const batchMaxLines = number("batch", args.batch, { min: 1, integer: true });
  const batchMaxWaitMs = number("batch-wait", args["batch-wait"]);
  const requestTimeoutMs = number("request-timeout", args["request-timeout"], { min: 1 });
  const giveUpAfterMs = number("give-up-after", args["give-up-after"]);
  const pollIntervalMs = number("poll", args.poll, { min: 1 });
  const statusEveryMs = number("status-every", args["status-every"]);
  const durationMs = args.duration !== undefined ? number("duration", args.duration) : demo ? 6000 : Infinity;
  const random = args.seed !== undefined ? seededRandom(number("seed", args.seed, { integer: true })) : Math.random;
  const schedule = parseSchedule(args["sink-schedule"]);
  const slowMs = number("sink-slow-ms", args["sink-slow-ms"]);
  const demoLines = number("lines", args.lines, { integer: true });
  const rate = number("rate", args.rate, { min: 1 });
  const sinkUrl = args.sink !== undefined ? parseSinkUrl(args.sink) : null;

  const t0 = currentTime();
  const log = (who: string, message: string) =>
    console.log(`[${((currentTime() - t0) / 1000).toFixed(2).padStart(5)} s] ${who}: ${message}`);

  // Check both ends before starting, so a typo fails in a second with one line, not after retries.
  let file = args.file;
  if (file !== undefined) await (await openLogFile(file)).handle.close();
  if (sinkUrl !== null) await checkReachable(sinkUrl, 3000);

  // Not abandoned on cancellation (no `cancellable`): it is quick, and a half-started server would leak.
  const sink = sinkUrl === null ? await LogSink.start({ slowMs, log: (m) => log("sink", m) }) : null;
  let dir: string | null = null;
  try {
    if (file === undefined) {
      dir = await cancellable(fs.mkdtemp(join(tmpdir(), "log-shipper-")));
      file = join(dir, "app.log");
      await cancellable(fs.writeFile(file, ""));
    }
    const url = sinkUrl?.href ?? sink!.url;
    const path = file;
    log("main", `shipping ${file} to ${url}${sink ? " (local sink)" : ""}`);
    const s = new LogShipper({
      file,
      deliver: httpDeliver(url),
      bufferLines,
      batchMaxLines,
      batchMaxWaitMs,
      requestTimeoutMs,
      giveUpAfterMs,
      pollIntervalMs,
      fromEnd: args["from-end"],
      random,
      onEvent: (e) => {
        if (e.type === "retry") {
          log("shipper", `batch ${e.seq} attempt ${e.attempt} failed (${describeError(e.error)}); retrying in ${Math.round(e.delayMs)} ms`);
        } else if (e.type === "rotated") {
          log("tailer", `file rotated: finished the old file at ${kib(e.oldFileBytes)}, reading the new one from 0`);
        } else {
          log("tailer", `file truncated to ${e.size} bytes (had read ${e.offset}): reading from 0`);
        }
      },
    });
    shipper = s;
    const written: WriterStats = { linesWritten: 0, bytesWritten: 0 };
    const report = await openNursery(async (n) => {
      if (demo) {
        const tickMs = 50;
        n.startSoon(async () => {
          await writeNumberedLines(path, {
            lines: demoLines,
            linesPerTick: Math.max(1, Math.round((rate * tickMs) / 1000)),
            tickMs,
            rotateAfter: Math.floor(demoLines / 2),
            stats: written,
            onRotate: () => log("writer", `rotated the log: ${path}.1 and a new ${path}`),
          });
          log("writer", `done: ${written.linesWritten} lines`);
        }, { name: "writer" });
      }
      if (sink !== null) {
        n.startSoon(async () => {
          for (const { mode, at } of schedule) {
            await sleep(Math.max(0, t0 + at - currentTime()));
            await cancellable(sink.setMode(mode));
            const what = { ok: "back to normal", slow: `slow: answers take ${slowMs} ms`, "503": "answering 503", down: "down: connections refused" }[mode];
            log("sink", what);
          }
        }, { name: "sink schedule" });
      }
      if (statusEveryMs > 0) {
        n.startSoon(async () => {
          for (;;) {
            await sleep(statusEveryMs);
            const f = s.figures();
            const lag = demo ? `, ${kib(written.bytesWritten - f.bytesRead)} behind the writer` : "";
            log(
              "status",
              `read ${f.linesRead} lines (${kib(f.bytesRead)}${lag}), buffer ${f.bufferUsed}/${f.bufferBound}, delivered ${f.linesDelivered}, retries ${f.retries}`,
            );
          }
        }, { name: "status" });
      }
      if (durationMs !== Infinity) {
        n.startSoon(async () => {
          await sleep(durationMs);
          if (s.stopping) return; // Ctrl-C came first
          log("main", `${durationMs} ms are up: stopping (grace ${graceMs} ms)`);
          s.stop(graceMs);
        }, { name: "timer" });
      }
      const r = await s.run();
      n.cancelScope.cancel(); // the writer, the schedule, the status and the timer
      return r;
    });

    log(
      "main",
      `lines read ${report.linesRead}, delivered ${report.linesDelivered} in ${report.batchesSent} batches, ` +
        `retries ${report.retries}, rotations ${report.rotations}, peak buffer ${report.peakBufferUsed}/${report.bufferBound} lines`,
    );
    if (sink !== null) {
      log("main", `sink stored ${sink.lines.length} lines in ${sink.batches} batches, ignored ${sink.duplicates} duplicate(s), answered 503 ${sink.refused} time(s)`);
    }
    if (report.undelivered > 0) {
      console.error(`log-shipper: stopped with ${report.undelivered} lines not delivered (grace period of ${graceMs} ms ran out)`);
      return 1;
    }
    return 0;
  } finally {
    if (dir !== null) await fs.rm(dir, { recursive: true, force: true });
    await sink?.close();
  }
}

/** The error to report: nurseries group errors (nested, with cancellations of the other tasks). */
function firstError(e: unknown): unknown {
  if (!(e instanceof ExceptionGroup)) return e;
  for (const inner of e.errors) if (!isCancelled(inner)) return firstError(inner);
  return e;
}

const hardStop = new AbortController();
let interrupts = 0;
const onSigint = () => {
  interrupts++;
  if (interrupts === 1 && shipper !== null) {
    console.log(`log-shipper: interrupted: stopped reading, delivering what is buffered (up to ${graceMs} ms; Ctrl-C again to quit now)`);
    shipper.stop(graceMs);
  } else {
    hardStop.abort();
  }
};
process.on("SIGINT", onSigint);
try {
  process.exitCode = await run(main, { signal: hardStop.signal });
} catch (e) {
  if (hardStop.signal.aborted) {
    console.error("log-shipper: interrupted");
    process.exitCode = 130;
  } else if (e instanceof UsageError) {
    console.error(`log-shipper: ${e.message} (try --help)`);
    process.exitCode = 2;
  } else {
    console.error(`log-shipper: ${describeError(firstError(e))}`);
    process.exitCode = 1;
  }
} finally {
  process.off("SIGINT", onSigint);
}
