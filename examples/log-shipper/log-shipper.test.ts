import { spawn } from "node:child_process";
import { appendFile, mkdtemp, rename, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, test } from "vitest";
import { openMemoryChannel } from "@quartet/channels";
import { currentTime, failAfter, openNursery, run, sleep, TooSlowError } from "@quartet/core";
import { quartetTest } from "@quartet/testing";
import {
  backoffDelay,
  type Batch,
  DeliveryError,
  httpDeliver,
  LogShipper,
  LogSink,
  newTailStats,
  numberedLine,
  seededRandom,
  shipLines,
  SinkUnavailableError,
  tailFile,
  writeNumberedLines,
  type ShipperReport,
  type WriterStats,
} from "./log-shipper.js";
import { installLeakCheck } from "../../test/support/quartet.js";

installLeakCheck();

const here = fileURLToPath(new URL(".", import.meta.url));
const root = join(here, "..", "..");

/** Polls (real time) until `done()` holds; fails with `what` after `ms`. */
async function until(what: string, done: () => boolean, ms = 10_000): Promise<void> {
  try {
    await failAfter(ms, async () => {
      while (!done()) await sleep(5);
    });
  } catch (e) {
    if (e instanceof TooSlowError) throw new Error(`timed out waiting until ${what}`);
    throw e;
  }
}

describe("shipLines (virtual time)", () => {
  test(
    "a batch is cut at batchMaxLines, at batchMaxWaitMs after its first line, or at the end of the channel",
    quartetTest(async () => {
      const [tx, rx] = openMemoryChannel<string>(100);
      const got: { at: number; seq: number; lines: string[] }[] = [];
      await openNursery(async (n) => {
        n.startSoon(async () => {
          using send = tx;
          for (const l of ["1", "2", "3", "4", "5"]) await send.send(l);
          await sleep(50);
          await send.send("6");
          await sleep(450);
          for (const l of ["7", "8", "9"]) await send.send(l);
        });
        await shipLines(rx, async (b) => void got.push({ at: currentTime(), seq: b.seq, lines: b.lines }), {
          stream: "s",
          batchMaxLines: 4,
          batchMaxWaitMs: 100,
        });
      });
      expect(got).toEqual([
        { at: 0, seq: 1, lines: ["1", "2", "3", "4"] }, // full
        { at: 100, seq: 2, lines: ["5", "6"] }, // 100 ms after "5"
        { at: 500, seq: 3, lines: ["7", "8", "9"] }, // the channel ended
      ]);
    }),
  );

  test(
    "a failed batch is retried as is (same seq, same lines) with full-jitter exponential backoff",
    quartetTest(async () => {
      const [tx, rx] = openMemoryChannel<string>(10);
      tx.sendNowait("a");
      tx.sendNowait("b");
      tx.close();
      const attempts: { at: number; batch: Batch }[] = [];
      const delays: number[] = [];
      const deliver = async (batch: Batch) => {
        attempts.push({ at: currentTime(), batch: structuredClone(batch) });
        if (attempts.length === 1) throw new DeliveryError("503", true);
        if (attempts.length === 2) await sleep(60_000); // hangs: cut by requestTimeoutMs
        if (attempts.length === 3) throw new TypeError("fetch failed");
      };
      await shipLines(rx, deliver, {
        stream: "s",
        requestTimeoutMs: 1000,
        backoffBaseMs: 100,
        backoffMaxMs: 300,
        random: seededRandom(3),
        onRetry: (r) => delays.push(r.delayMs),
      });
      // The same seed gives the same delays: each is uniform in [0, min(300, 100·2^(attempt-1))).
      const r = seededRandom(3);
      const expected = [1, 2, 3].map((a) => backoffDelay(a, 100, 300, r));
      expect(delays).toEqual(expected);
      expect(delays[0]).toBeLessThan(100);
      expect(delays[1]).toBeLessThan(200);
      expect(delays[2]).toBeLessThan(300);
      expect(attempts.map((a) => a.batch)).toEqual(Array(4).fill({ stream: "s", seq: 1, lines: ["a", "b"] }));
      let t = 0;
      const times = [t];
      t += expected[0];
      times.push(t);
      t += 1000 + expected[1]; // the hung attempt took the whole request timeout
      times.push(t);
      t += expected[2];
      times.push(t);
      expect(attempts.map((a) => a.at)).toEqual(times);
    }),
  );

  test(
    "gives up after giveUpAfterMs, and at once on a non-retryable error",
    quartetTest(async () => {
      const stats = { batchesSent: 0, linesDelivered: 0, retries: 0, linesInHand: 0 };
      const [tx, rx] = openMemoryChannel<string>(1);
      tx.sendNowait("x");
      const down = async () => {
        throw new TypeError("fetch failed", { cause: new Error("connect ECONNREFUSED 127.0.0.1:9") });
      };
      const e = await shipLines(rx, down, { stream: "s", giveUpAfterMs: 5000, stats }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SinkUnavailableError);
      expect((e as Error).message).toMatch(/^gave up on batch 1 after \d+ attempts in \d+ ms: connect ECONNREFUSED/);
      expect(currentTime()).toBeGreaterThanOrEqual(5000);
      expect(stats.linesInHand).toBe(1);

      const [tx2, rx2] = openMemoryChannel<string>(1);
      tx2.sendNowait("y");
      const stats2 = { batchesSent: 0, linesDelivered: 0, retries: 0, linesInHand: 0 };
      const bad = async () => {
        throw new DeliveryError("POST … answered 400", false);
      };
      await expect(shipLines(rx2, bad, { stream: "s", stats: stats2 })).rejects.toThrow("answered 400");
      expect(stats2.retries).toBe(0);
    }),
  );

  test(
    "while a batch is retried nothing is received: the channel fills and the producer waits",
    quartetTest(async () => {
      const [tx, rx] = openMemoryChannel<string>(10);
      let sent = 0;
      let sinkUp = false;
      await openNursery(async (n) => {
        n.startSoon(async () => {
          using send = tx;
          for (let i = 0; i < 100; i++) {
            await send.send(String(i));
            sent++;
          }
        });
        n.startSoon(() =>
          shipLines(
            rx,
            async () => {
              if (!sinkUp) throw new DeliveryError("503", true);
            },
            { stream: "s", batchMaxLines: 5, backoffMaxMs: 50 },
          ),
        );
        await sleep(10_000); // ten virtual seconds of a sink that is down
        expect(sent).toBe(5 + 10); // one batch in hand, a full buffer, and no more
        expect(rx.statistics()).toMatchObject({ currentBufferUsed: 10, tasksWaitingSend: 1 });
        sinkUp = true;
      });
      expect(sent).toBe(100);
      expect(rx.statistics().peakBufferUsed).toBe(10);
    }),
  );
});

describe("tailFile (real files)", () => {
  test("follows appends, joins partial lines, reads a rotated file to its end, restarts after truncation", async () => {
    const dir = await mkdtemp(join(tmpdir(), "log-shipper-test-"));
    const file = join(dir, "app.log");
    try {
      await writeFile(file, "a\nb");
      const events: string[] = [];
      const stats = newTailStats();
      await run(async () => {
        const [tx, rx] = openMemoryChannel<string>(0);
        const next = () => failAfter(5000, () => rx.receive());
        await openNursery(async (n) => {
          n.startSoon(async () => {
            using send = tx;
            await tailFile(file, send, { pollIntervalMs: 5, stats, onEvent: (e) => events.push(e.type) });
          });
          expect(await next()).toBe("a");
          await appendFile(file, "c\r\n"); // the rest of "b", with a CRLF ending
          expect(await next()).toBe("bc");
          // logrotate's create mode: rename; the app still writes to the old file for a while
          await rename(file, `${file}.1`);
          await appendFile(`${file}.1`, "d\n");
          expect(await next()).toBe("d"); // read while the path does not exist
          await appendFile(`${file}.1`, "no newline at the end");
          await sleep(30);
          await writeFile(file, "eeee\n"); // the app reopens: a new file
          expect(await next()).toBe("no newline at the end");
          expect(await next()).toBe("eeee");
          await writeFile(file, "f\n"); // truncated and rewritten (copytruncate)
          expect(await next()).toBe("f");
          n.cancelScope.cancel();
        });
      });
      expect(events).toEqual(["rotated", "truncated"]);
      expect(stats).toMatchObject({ linesRead: 6, rotations: 1, truncations: 1, offset: 2 });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("a missing file or a directory is a one-line TailError", async () => {
    const dir = await mkdtemp(join(tmpdir(), "log-shipper-test-"));
    try {
      await run(async () => {
        const [tx] = openMemoryChannel<string>(0);
        await expect(tailFile(join(dir, "nope.log"), tx)).rejects.toThrow(/^cannot open .*nope\.log: ENOENT: no such file or directory$/);
        await expect(tailFile(dir, tx)).rejects.toThrow(/^cannot tail .*: not a regular file$/);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("end to end: a real file, a real HTTP sink on 127.0.0.1", () => {
  test("slow, stalled, down, 503, back: every line delivered once and in order, the buffer bounded, the tailer paused", async () => {
    const dir = await mkdtemp(join(tmpdir(), "log-shipper-test-"));
    const file = join(dir, "app.log");
    await writeFile(file, "");
    const sink = await LogSink.start({ slowMs: 100 });
    const LINES = 2000;
    const BUFFER = 100;
    const BATCH = 50;
    const CHUNK = 1024;
    const written: WriterStats = { linesWritten: 0, bytesWritten: 0 };
    let report: ShipperReport | undefined;
    let endOfOutage: { lag: number; bufferUsed: number; linesRead: number; linesDelivered: number } | undefined;
    let mostLinesInProcess = 0;
    try {
      await run(async () => {
        const shipper = new LogShipper({
          file,
          deliver: httpDeliver(sink.url),
          bufferLines: BUFFER,
          batchMaxLines: BATCH,
          batchMaxWaitMs: 30,
          requestTimeoutMs: 250,
          backoffBaseMs: 20,
          backoffMaxMs: 200,
          pollIntervalMs: 10,
          readChunkBytes: CHUNK,
          random: seededRandom(7),
        });
        // Lines the process holds (read from the file, not yet acknowledged by the sink).
        const watch = (what: string, done: () => boolean) =>
          until(what, () => {
            const f = shipper.figures();
            mostLinesInProcess = Math.max(mostLinesInProcess, f.linesRead - f.linesDelivered);
            return done();
          });
        await openNursery(async (n) => {
          n.startSoon(async () => {
            report = await shipper.run();
          });
          n.startSoon(() =>
            writeNumberedLines(file, { lines: LINES, linesPerTick: 20, tickMs: 20, rotateAfter: LINES / 2, stats: written }),
          );
          // The phases follow the writer's progress, not the clock, so a slow machine only stretches them.
          await sink.setMode("slow"); // answers after 100 ms: slower than the writer, the buffer fills
          await watch("400 lines are written", () => written.linesWritten >= 400);
          sink.slowMs = 600; // stores each batch but answers after the 250 ms request timeout: retries are duplicates
          await watch("a duplicate reached the sink", () => written.linesWritten >= 800 && sink.duplicates >= 1);
          await sink.setMode("down"); // connections refused; the writer rotates the log meanwhile
          await watch("1500 lines are written", () => written.linesWritten >= 1500);
          const f = shipper.figures();
          endOfOutage = {
            lag: written.bytesWritten - f.bytesRead,
            bufferUsed: f.bufferUsed,
            linesRead: f.linesRead,
            linesDelivered: f.linesDelivered,
          };
          await sink.setMode("503");
          await watch("the sink refused twice", () => sink.refused >= 2);
          await sink.setMode("ok");
          await watch("every line is stored", () => written.linesWritten === LINES && sink.lines.length >= LINES);
          shipper.stop(5000);
        });
      });
    } finally {
      await sink.close();
      await rm(dir, { recursive: true, force: true });
    }

    // Every line once, in order, across the rotation and every failure.
    expect(sink.lines.length).toBe(LINES);
    expect(sink.lines).toEqual(Array.from({ length: LINES }, (_, i) => numberedLine(i + 1)));
    // The failures did happen: timed-out requests the sink had stored, refusals, retries.
    expect(sink.duplicates).toBeGreaterThanOrEqual(1);
    expect(sink.refused).toBeGreaterThanOrEqual(2);
    expect(report).toMatchObject({ linesRead: LINES, linesDelivered: LINES, rotations: 1, undelivered: 0 });
    expect(report!.retries).toBeGreaterThanOrEqual(3);
    // Memory stayed flat: the buffer never went past its bound (and did fill), and the process never
    // held more lines than the buffer plus the batch in flight.
    expect(report!.peakBufferUsed).toBe(BUFFER);
    expect(mostLinesInProcess).toBeLessThanOrEqual(BUFFER + BATCH);
    // The tailer paused: at the end of the outage the buffer was full and the file was further ahead
    // of the read offset than everything the pipeline can hold (buffer, batch, one read chunk).
    const lineBytes = numberedLine(1).length + 1;
    expect(endOfOutage!.bufferUsed).toBe(BUFFER);
    expect(endOfOutage!.lag).toBeGreaterThan((BUFFER + BATCH) * lineBytes + CHUNK);
    expect(endOfOutage!.linesRead - endOfOutage!.linesDelivered).toBeLessThanOrEqual(BUFFER + BATCH);
  });
});

describe("the CLI", () => {
  function cli(args: string[], opts: { onStdout?: (text: string, child: ReturnType<typeof spawn>) => void } = {}) {
    const child = spawn(
      process.execPath,
      [join(root, "node_modules/tsx/dist/cli.mjs"), "--conditions=quartet-source", join(here, "main.ts"), ...args],
      { cwd: here, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d: Buffer) => {
      stdout += d;
      opts.onStdout?.(stdout, child);
    });
    child.stderr!.on("data", (d: Buffer) => (stderr += d));
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      // A hang fails the test instead of the run. The bound is generous: on a loaded 2-core machine
      // starting tsx alone can take seconds.
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`log-shipper ${args.join(" ")} did not exit within 40 s\n${stdout}\n${stderr}`));
      }, 40_000);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    await new Promise((r) => server.close(r));
    return port;
  }

  test("bad input: one line on stderr, a non-zero exit, no hang", async () => {
    const port = await closedPort();
    const cases: [string[], number, RegExp][] = [
      [["--file", "/nonexistent/app.log"], 1, /^log-shipper: cannot open \/nonexistent\/app\.log: ENOENT: no such file or directory$/],
      [["--sink", `http://127.0.0.1:${port}/logs`], 1, new RegExp(`^log-shipper: sink http://127\\.0\\.0\\.1:${port}/logs is unreachable: connect ECONNREFUSED`)],
      [["--sink", "not a url"], 2, /^log-shipper: --sink must be an http:\/\/ or https:\/\/ URL, got "not a url"/],
      [["--request-timeout", "soon"], 2, /^log-shipper: --request-timeout must be a number ≥ 1, got "soon"/],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    results.forEach((r, i) => {
      const [args, code, message] = cases[i];
      expect({ args, code: r.code }).toEqual({ args, code });
      const lines = r.stderr.trimEnd().split("\n");
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(message);
    });
  }, 60_000);

  test("Ctrl-C stops reading and flushes what is buffered; lines left when the grace period runs out fail the run", async () => {
    const dir = await mkdtemp(join(tmpdir(), "log-shipper-test-"));
    const file = join(dir, "app.log");
    try {
      await writeFile(file, Array.from({ length: 50 }, (_, i) => numberedLine(i + 1) + "\n").join(""));
      const common = ["--file", file, "--status-every", "0", "--poll", "20"];
      const interrupt = (when: RegExp) => (out: string, child: ReturnType<typeof spawn>) => {
        if (when.test(out) && child.exitCode === null && !child.killed) child.kill("SIGINT");
      };
      const [flushed, cut] = await Promise.all([
        // The sink is slow: at Ctrl-C a batch is in flight, and it is delivered within the grace period.
        cli([...common, "--grace", "10000", "--sink-schedule", "slow", "--sink-slow-ms", "200", "--batch", "10"], {
          onStdout: interrupt(/sink: batch 1,/),
        }),
        // The sink is down: nothing can be delivered in 500 ms.
        cli([...common, "--grace", "500", "--sink-schedule", "down"], { onStdout: interrupt(/attempt 2 failed/) }),
      ]);
      expect(flushed.stdout).toMatch(/interrupted: stopped reading/);
      expect(flushed.stdout).toMatch(/lines read 50, delivered 50 in 5 batches/);
      expect(flushed.code).toBe(0);
      expect(cut.stdout).toMatch(/interrupted: stopped reading/);
      expect(cut.stderr.trimEnd()).toBe("log-shipper: stopped with 50 lines not delivered (grace period of 500 ms ran out)");
      expect(cut.code).toBe(1);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
