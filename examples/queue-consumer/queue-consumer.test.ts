// The queue-consumer example against a real redis-server (started here on a free loopback port,
// persistence off, stopped at the end): at-least-once processing, exactly-once acknowledgement, the
// in-order commit, the grace period, backpressure, and the CLI's bad-input and Ctrl-C paths.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import type { Redis } from "ioredis";
import { CancelScope, Event, checkpoint, isCancelled, openNursery, run, sleep, sleepForever } from "@quartet/core";
import { failsAttempt } from "./flaky.js";
import { StreamConsumer, connectRedis, ensureGroup, produce, type ConsumerStatistics } from "./queue-consumer.js";
import { freePort, startRedisServer, type RedisServer } from "./redis-server.js";

const here = fileURLToPath(new URL(".", import.meta.url));
const root = fileURLToPath(new URL("../..", import.meta.url));

let server: RedisServer;
beforeAll(async () => {
  // Without redis-server (CI installs the Debian package) every test here fails with this message.
  server = await startRedisServer();
}, 20_000);
afterAll(async () => {
  await server?.stop();
});

// Every connection and process a test opens is closed by its end.
let socketsBefore = 0;
const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === "TCPSocketWrap").length;
beforeEach(() => {
  socketsBefore = sockets();
});
afterEach(async () => {
  for (let i = 0; i < 50 && sockets() > socketsBefore; i++) await new Promise((r) => setTimeout(r, 10));
  expect(sockets(), "sockets left open").toBeLessThanOrEqual(socketsBefore);
});

let unique = 0;
const streamNames = (n: number): string[] => {
  const base = `t${process.pid}-${++unique}`;
  return Array.from({ length: n }, (_, i) => `${base}:${i}`);
};

/** Runs `fn` in a fresh Quartet run with a connection to the test server, closed afterwards. */
function withRedis<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
  return run(async () => {
    const redis = await connectRedis(server.url);
    try {
      return await fn(redis);
    } finally {
      await redis.quit().catch(() => undefined);
    }
  });
}

async function pendingIds(redis: Redis, stream: string, group: string): Promise<string[]> {
  const rows = (await redis.xpending(stream, group, "-", "+", 1_000_000)) as [string, string, number, number][];
  return rows.map((r) => r[0]);
}

async function groupInfo(redis: Redis, stream: string, group: string): Promise<Record<string, unknown>> {
  const groups = (await redis.call("XINFO", "GROUPS", stream)) as unknown[][];
  for (const flat of groups) {
    const info: Record<string, unknown> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) info[String(flat[i])] = flat[i + 1];
    if (info.name === group) return info;
  }
  throw new Error(`no group ${group} on ${stream}`);
}

async function streamIds(redis: Redis, stream: string): Promise<string[]> {
  return (await redis.xrange(stream, "-", "+")).map(([id]) => id);
}

/** Polls `cond` every 10 ms (real time) for at most `ms`. */
async function waitFor(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  for (let waited = 0; !cond(); waited += 10) {
    if (waited >= ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe("StreamConsumer", () => {
  test("10,000 entries, failures retried, a stop mid-run and a restart: each processed at least once, acknowledged exactly once", async () => {
    const N = 10_000;
    const SEED = 7;
    const RATE = 0.1;
    const ATTEMPTS = 6;
    // The failures are a function of (seed, entry, attempt): check the seed never exhausts the attempts.
    for (let n = 0; n < N; n++) {
      let a = 1;
      while (failsAttempt(SEED, n, a, RATE)) a++;
      expect(a, `entry ${n} would fail ${ATTEMPTS} times`).toBeLessThanOrEqual(ATTEMPTS);
    }

    await withRedis(async (redis) => {
      const streams = streamNames(2);
      const group = "g";
      await ensureGroup(redis, streams, group);
      await produce(redis, streams, N);

      const timesProcessed = new Uint8Array(N);
      const ackCount = new Map<string, number>(); // "stream id" → how often it was sent in an XACK
      let xackTotal = 0;
      let failedAttempts = 0;

      const makeConsumer = (opts: {
        onProcessed: (consumer: StreamConsumer, processedHere: number) => void;
        signal?: AbortSignal;
      }) => {
        const processedHere = new Set<string>();
        const redelivered = new Set<string>();
        const active = new Set<string>();
        const cancelledHandlers: string[] = [];
        const consumer: StreamConsumer = new StreamConsumer({
          redis,
          streams,
          group,
          consumer: "c1",
          workers: 8,
          batchSize: 50,
          bufferSize: 100,
          graceMs: 5000,
          maxAttempts: ATTEMPTS,
          retryDelayMs: () => 1,
          signal: opts.signal,
          handler: async (entry, attempt) => {
            const key = `${entry.stream} ${entry.id}`;
            const n = Number(entry.fields.n);
            if (entry.redelivered) redelivered.add(key);
            active.add(key);
            try {
              if (n % 4 === 0) await sleep(1);
              else await checkpoint();
            } catch (e) {
              if (isCancelled(e)) cancelledHandlers.push(key);
              throw e;
            } finally {
              active.delete(key);
            }
            if (failsAttempt(SEED, n, attempt, RATE)) {
              failedAttempts++;
              throw new Error(`simulated failure of ${n}`);
            }
            timesProcessed[n]++;
            processedHere.add(key);
            opts.onProcessed(consumer, processedHere.size);
          },
          onAck: (stream, ids, acked) => {
            xackTotal += acked;
            for (const id of ids) {
              const key = `${stream} ${id}`;
              // Only what this very run processed may be acknowledged by it.
              expect(processedHere.has(key), `${key} acknowledged without being processed`).toBe(true);
              ackCount.set(key, (ackCount.get(key) ?? 0) + 1);
            }
            if (xackTotal === N) consumer.stop();
          },
        });
        return { consumer, processedHere, redelivered, active, cancelledHandlers };
      };

      // Run 1: stopped through its AbortSignal (as Ctrl-C does in main.ts) after 3000 entries.
      const abort = new AbortController();
      let activeAtStop: string[] = [];
      const one = makeConsumer({
        signal: abort.signal,
        onProcessed: (_c, count) => {
          if (count === 3000) {
            activeAtStop = [...one.active]; // in a handler call now, so not among the 3000
            abort.abort();
          }
        },
      });
      const s1 = await one.consumer.run();
      // In-flight entries (retries included) finish within the grace period, and nothing new is taken.
      expect(one.cancelledHandlers).toEqual([]);
      for (const key of activeAtStop) expect(one.processedHere.has(key), `${key} was in flight`).toBe(true);
      expect(s1.processed).toBeGreaterThanOrEqual(3000 + activeAtStop.length);
      expect(s1.processed).toBeLessThanOrEqual(3000 + 7); // 8 workers: at most the 7 others
      expect(s1.ackMisses).toBe(0);
      expect(s1.acked).toBe(xackTotal);

      // What run 1 left pending is exactly what it read and did not acknowledge, and per stream the
      // acknowledged entries are a prefix of the stream: in-order commit.
      const pendingAfter1 = new Set<string>();
      for (const stream of streams) {
        const pending = await pendingIds(redis, stream, group);
        for (const id of pending) pendingAfter1.add(`${stream} ${id}`);
        const all = await streamIds(redis, stream);
        const acked = all.filter((id) => ackCount.has(`${stream} ${id}`));
        expect(acked).toEqual(all.slice(0, acked.length));
        expect(pending).toEqual(all.slice(acked.length, acked.length + pending.length));
        const info = await groupInfo(redis, stream, group);
        expect(info["entries-read"]).toBe(acked.length + pending.length);
      }
      expect(pendingAfter1.size).toBe(s1.unacked);
      expect(s1.delivered + s1.readAfterStop).toBe(s1.acked + s1.unacked);

      // Run 2: the same consumer name; runs until all N are acknowledged.
      const two = makeConsumer({ onProcessed: () => {} });
      const s2 = await two.consumer.run();
      expect(two.cancelledHandlers).toEqual([]);
      // The restart redelivered exactly the entries run 1 left unacknowledged.
      expect(s2.redelivered).toBe(pendingAfter1.size);
      expect([...two.redelivered].sort()).toEqual([...pendingAfter1].sort());

      // Every entry processed at least once, acknowledged exactly once, none lost.
      expect(timesProcessed.every((t) => t >= 1)).toBe(true);
      expect(ackCount.size).toBe(N);
      expect([...ackCount.values()].every((c) => c === 1)).toBe(true);
      expect(xackTotal).toBe(N);
      expect(s1.acked + s2.acked).toBe(N);
      expect(s2.ackMisses).toBe(0);
      for (const stream of streams) {
        expect(await pendingIds(redis, stream, group)).toEqual([]);
        const info = await groupInfo(redis, stream, group);
        expect(info.pending).toBe(0);
        expect(info.lag).toBe(0);
      }
      // The simulated failures happened and were retried.
      expect(failedAttempts).toBeGreaterThan(500);
      expect(s1.failures + s2.failures).toBe(failedAttempts);
      await redis.del(...streams);
    });
  });

  test("the grace period ends: a stuck entry is cancelled, and only the processed prefix is acknowledged", async () => {
    await withRedis(async (redis) => {
      const [stream] = streamNames(1);
      await ensureGroup(redis, [stream], "g");
      await produce(redis, [stream], 20);
      const ids = await streamIds(redis, stream);

      let processed = 0;
      let stuckCancelled = false;
      const first = new StreamConsumer({
        redis,
        streams: [stream],
        group: "g",
        consumer: "c1",
        workers: 4,
        graceMs: 100,
        handler: async (entry) => {
          if (entry.fields.n === "5") {
            try {
              await sleepForever();
            } catch (e) {
              stuckCancelled = isCancelled(e);
              throw e;
            }
          }
          if (++processed === 19) first.stop(); // everything but the stuck entry
        },
      });
      const s1 = await first.run();
      expect(stuckCancelled).toBe(true);
      expect(s1.processed).toBe(19);
      // 6…19 are processed, but 5 is not: only 0…4 may be acknowledged.
      expect(s1.acked).toBe(5);
      expect(await pendingIds(redis, stream, "g")).toEqual(ids.slice(5));

      const seen: string[] = [];
      const second = new StreamConsumer({
        redis,
        streams: [stream],
        group: "g",
        consumer: "c1",
        workers: 1,
        handler: (entry) => {
          seen.push(entry.id);
          if (seen.length === 15) second.stop();
        },
      });
      const s2 = await second.run();
      expect(s2.redelivered).toBe(15);
      expect(seen).toEqual(ids.slice(5)); // one worker: the pending entries, in order
      expect(s2.acked).toBe(15);
      expect(await pendingIds(redis, stream, "g")).toEqual([]);
      await redis.del(stream);
    });
  });

  test("cancelling the caller is a graceful stop: in-flight entries finish and are acknowledged", async () => {
    await withRedis(async (redis) => {
      const [stream] = streamNames(1);
      await ensureGroup(redis, [stream], "g");
      await produce(redis, [stream], 50);
      let started = 0;
      let finished = 0;
      let stats: ConsumerStatistics | undefined;
      const scope = new CancelScope();
      await scope.run(async () => {
        const consumer = new StreamConsumer({
          redis,
          streams: [stream],
          group: "g",
          consumer: "c1",
          workers: 3,
          handler: async () => {
            if (++started === 10) scope.cancel(); // with 3 entries in flight
            await sleep(20);
            finished++;
          },
        });
        stats = await consumer.run();
        await checkpoint(); // where the cancellation of the caller arrives
        throw new Error("not reached");
      });
      expect(scope.cancelledCaught).toBe(true);
      expect(finished).toBe(started);
      expect(stats!.processed).toBe(started);
      expect(stats!.acked).toBe(started);
      const pending = await pendingIds(redis, stream, "g");
      expect(pending.length).toBe(stats!.unacked);
      await redis.del(stream);
    });
  });

  test("backpressure: while the workers are stuck the fetcher parks in send and issues no XREADGROUP", async () => {
    await withRedis(async (redis) => {
      const [stream] = streamNames(1);
      await ensureGroup(redis, [stream], "g");
      await produce(redis, [stream], 300);
      const WORKERS = 3;
      const BUFFER = 4;
      const BATCH = 5;
      const gate = new Event();
      let acked = 0;
      const consumer = new StreamConsumer({
        redis,
        streams: [stream],
        group: "g",
        consumer: "c1",
        workers: WORKERS,
        bufferSize: BUFFER,
        batchSize: BATCH,
        handler: () => gate.wait(),
        onAck: (_s, _ids, n) => {
          if ((acked += n) === 300) consumer.stop();
        },
      });
      await openNursery(async (n) => {
        n.startSoon(async () => {
          await consumer.run();
        });
        await waitFor("the fetcher to park", () => {
          const s = consumer.statistics();
          return s.fetcherWaiting && s.inFlight === WORKERS && s.bufferUsed === BUFFER;
        });
        const parked = consumer.statistics();
        await sleep(300); // real time: a fetcher that kept reading would have read everything by now
        const later = consumer.statistics();
        expect(later.fetchCalls).toBe(parked.fetchCalls);
        expect(later.delivered).toBe(parked.delivered);
        // Read so far: the entries in flight, the full buffer, and at most the rest of one batch.
        expect(parked.delivered).toBeLessThanOrEqual(WORKERS + BUFFER + BATCH);
        expect((await pendingIds(redis, stream, "g")).length).toBe(parked.delivered);
        expect((await groupInfo(redis, stream, "g"))["entries-read"]).toBe(parked.delivered);
        gate.set();
      });
      const s = consumer.statistics();
      expect(s.processed).toBe(300);
      expect(s.acked).toBe(300);
      expect(s.peakInFlight).toBe(WORKERS);
      expect(s.peakBufferUsed).toBe(BUFFER);
      expect(s.fetchCalls).toBeGreaterThanOrEqual(300 / BATCH);
      await redis.del(stream);
    });
  });

  test("bad options throw at once, naming the option", () => {
    return withRedis(async (redis) => {
      const base = { redis, streams: ["s"], group: "g", consumer: "c", handler: () => {} };
      expect(() => new StreamConsumer({ ...base, workers: 0 })).toThrow(/workers must be >= 1, got 0/);
      expect(() => new StreamConsumer({ ...base, batchSize: 1.5 })).toThrow(/batchSize must be an integer/);
      expect(() => new StreamConsumer({ ...base, streams: [] })).toThrow(/streams/);
      const c = new StreamConsumer(base);
      c.stop();
      await c.run(); // stopped before it started: returns at once
      await expect(c.run()).rejects.toThrow(/runs once/);
    });
  });
});

// ------------------------------------------------------------------ the CLI

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * Runs main.ts with tsx's loader in one Node process (`node --import tsx`: the tsx CLI would add a
 * second process); `onStdout` may act on the output as it arrives (e.g. send SIGINT).
 */
function cli(args: string[], onStdout?: (text: string, child: ReturnType<typeof spawn>) => void): Promise<Exit> {
  const started = performance.now();
  const child = spawn(
    process.execPath,
    ["--import", "tsx", "--conditions=quartet-source", `${here}main.ts`, ...args],
    { cwd: root, stdio: ["ignore", "pipe", "pipe"] },
  );
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
    onStdout?.(stdout, child);
  });
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const killer = setTimeout(() => child.kill("SIGKILL"), 15_000); // a hang fails the test, not the suite
  return new Promise((resolve) =>
    child.on("close", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    }),
  );
}

describe("main.ts", () => {
  test("bad input: one line on stderr, a non-zero exit, no hang", async () => {
    const closedPort = await freePort();
    const [refused, noBinary, badOption] = await Promise.all([
      cli(["--redis", `redis://127.0.0.1:${closedPort}`]),
      cli(["--redis-server", "/nonexistent/redis-server"]),
      cli(["--workers", "0"]),
    ]);
    for (const r of [refused, noBinary, badOption]) {
      expect(r.code).not.toBe(0);
      expect(r.code).not.toBeNull(); // not killed by the 15 s guard
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).not.toMatch(/\s+at /); // no stack
    }
    expect(refused.stderr).toMatch(/^queue-consumer: cannot connect to redis:\/\/127\.0\.0\.1:\d+: connect ECONNREFUSED/);
    expect(noBinary.stderr).toMatch(/^queue-consumer: \/nonexistent\/redis-server not found: install it/);
    expect(badOption.stderr).toMatch(/^queue-consumer: --workers must be an integer >= 1, got 0/);
  });

  test("a full run against its own redis-server, and Ctrl-C stopping one gracefully", async () => {
    let interrupted = false;
    const [full, ctrlC] = await Promise.all([
      cli(["--count", "600", "--restart-after", "250", "--fail-rate", "0.1"]),
      cli(["--count", "20000", "--delay", "5", "--restart-after", "0"], (out, child) => {
        if (!interrupted && /processed \d+/.test(out)) {
          interrupted = true;
          child.kill("SIGINT");
        }
      }),
    ]);
    expect(full.stderr).toBe("");
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(/run 2 \(restart, same consumer name\) stopped after \d+ ms: delivered \d+ \(\d+ redelivered\)/);
    expect(full.stdout).toMatch(/600\/600 entries processed .*XACK total 600, XPENDING 0/);

    expect(ctrlC.code).toBe(130);
    expect(ctrlC.stdout).toMatch(/run stopped after \d+ ms: .*left pending \d+/);
    expect(ctrlC.stderr).toMatch(/interrupted/);
    // Both stopped their redis-server: nothing listens on its port any more.
    for (const r of [full, ctrlC]) {
      const port = /on redis:\/\/127\.0\.0\.1:(\d+)/.exec(r.stdout)?.[1];
      expect(port).toBeDefined();
      await expect(
        run(() => connectRedis(`redis://127.0.0.1:${port}`).then((c) => c.disconnect())),
      ).rejects.toThrow(/ECONNREFUSED/);
    }
  });
});
