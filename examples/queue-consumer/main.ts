// queue-consumer: a Kafka-style Redis Streams consumer group with backpressure, in-order XACK and
// graceful shutdown. Starts a private redis-server (or uses --redis), produces entries, consumes them,
// stops half-way as Ctrl-C would, restarts, and checks that every entry was acknowledged exactly once.
//
//   npx pnpm@10.34.8 example queue-consumer [--count 10000] [--fail-rate 0.05] [--redis redis://host:port]
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import type { Redis } from "ioredis";
import { CancelScope, cancellable, currentTime, moveOnAfter, openNursery, run, sleep } from "@quartet/core";
import { failsAttempt } from "./flaky.js";
import {
  StreamConsumer,
  connectRedis,
  describeError,
  ensureGroup,
  produce,
  type ConsumerStatistics,
} from "./queue-consumer.js";
import { withRedisServer } from "./redis-server.js";

const USAGE = `usage: main.ts [options]
  --redis URL          use this server (redis://host:port) instead of starting a private redis-server
  --redis-server PATH  the redis-server binary to start (default: redis-server on PATH)
  --count N            entries to produce (default 10000)
  --streams N          streams ("partitions") to spread them over (default 2)
  --workers N          worker tasks, and CapacityLimiter tokens (default 8)
  --batch N            XREADGROUP COUNT (default 50)
  --buffer N           channel buffer between fetcher and workers (default 100)
  --delay MS           processing time per entry (default 1)
  --fail-rate P        probability that one attempt fails, retried (default 0.05)
  --attempts N         attempts per entry before the consumer gives up (default 8)
  --grace MS           how long in-flight entries may finish after a stop (default 2000)
  --restart-after N    stop after N entries processed, then restart (default 4000; 0: no restart)
  --seed N             seed of the simulated failures (default 1)`;

interface Options {
  redis: string | undefined;
  redisServer: string;
  count: number;
  streams: number;
  workers: number;
  batch: number;
  buffer: number;
  delay: number;
  failRate: number;
  attempts: number;
  grace: number;
  restartAfter: number;
  seed: number;
}

function parseOptions(argv: string[]): Options {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      redis: { type: "string" },
      "redis-server": { type: "string", default: "redis-server" },
      count: { type: "string", default: "10000" },
      streams: { type: "string", default: "2" },
      workers: { type: "string", default: "8" },
      batch: { type: "string", default: "50" },
      buffer: { type: "string", default: "100" },
      delay: { type: "string", default: "1" },
      "fail-rate": { type: "string", default: "0.05" },
      attempts: { type: "string", default: "8" },
      grace: { type: "string", default: "2000" },
      "restart-after": { type: "string", default: "4000" },
      seed: { type: "string", default: "1" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  if (positionals.length > 0) throw new Error(`unexpected argument ${positionals[0]}`);
  const int = (name: keyof typeof values, min: number): number => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer >= ${min}, got ${values[name]}`);
    return v;
  };
  const failRate = Number(values["fail-rate"]);
  if (!(failRate >= 0 && failRate < 1)) throw new Error(`--fail-rate must be a number in [0, 1), got ${values["fail-rate"]}`);
  return {
    redis: values.redis,
    redisServer: values["redis-server"],
    count: int("count", 1),
    streams: int("streams", 1),
    workers: int("workers", 1),
    batch: int("batch", 1),
    buffer: int("buffer", 0),
    delay: int("delay", 0),
    failRate,
    attempts: int("attempts", 1),
    grace: int("grace", 0),
    restartAfter: int("restart-after", 0),
    seed: int("seed", 0),
  };
}

const t0 = performance.now();
const log = (msg: string): void => console.log(msg);
const pct = (x: number): string => `${Math.round(x * 1000) / 10}%`;

async function pendingOnServer(redis: Redis, streams: string[], group: string): Promise<number> {
  let total = 0;
  for (const s of streams) {
    const [count] = (await cancellable(redis.xpending(s, group))) as [number, ...unknown[]];
    total += count;
  }
  return total;
}

// The consumer running now, for a second Ctrl-C.
let current: StreamConsumer | null = null;

async function main(opts: Options): Promise<void> {
  if (opts.redis !== undefined) return consumeAll(opts, opts.redis);
  await withRedisServer(
    async (server) => {
      log(`redis-server ${server.version} on ${server.url} (private, persistence off)`);
      await consumeAll(opts, server.url);
    },
    { binary: opts.redisServer },
  );
}

async function consumeAll(opts: Options, url: string): Promise<void> {
  const redis = await connectRedis(url);
  // Fresh names per run, so an existing server's data is never touched (and is deleted at the end).
  const prefix = `queue-consumer:${randomBytes(3).toString("hex")}`;
  const streams = Array.from({ length: opts.streams }, (_, i) => `${prefix}:orders:${i}`);
  const group = "billing";
  try {
    await ensureGroup(redis, streams, group);
    await produce(redis, streams, opts.count);
    log(`produced ${opts.count} entries into ${streams.join(", ")}; group "${group}"`);

    const timesProcessed = new Uint8Array(opts.count);
    let ackedTotal = 0;
    const restartAfter = opts.restartAfter < opts.count ? opts.restartAfter : 0;

    const runOnce = async (label: string, stopAfterProcessed: number): Promise<ConsumerStatistics> => {
      let processedHere = 0;
      const consumer = new StreamConsumer({
        redis,
        streams,
        group,
        consumer: "consumer-1", // the same name on restart: its pending entries come back to it
        workers: opts.workers,
        batchSize: opts.batch,
        bufferSize: opts.buffer,
        graceMs: opts.grace,
        maxAttempts: opts.attempts,
        retryDelayMs: () => 2,
        handler: async (entry, attempt) => {
          const n = Number(entry.fields.n);
          if (opts.delay > 0) await sleep(opts.delay);
          if (failsAttempt(opts.seed, n, attempt, opts.failRate)) throw new Error(`simulated failure of entry ${n}`);
          timesProcessed[n]++;
          if (++processedHere === stopAfterProcessed) {
            log(`  stop() after ${processedHere} entries processed, as Ctrl-C would (grace ${opts.grace} ms)`);
            consumer.stop();
          }
        },
        onAck: (_stream, _ids, acked) => {
          ackedTotal += acked;
          if (ackedTotal === opts.count) consumer.stop(); // everything is done
        },
      });
      current = consumer;
      log(`${label}: ${opts.workers} workers, XREADGROUP COUNT ${opts.batch}, buffer ${opts.buffer}, fail rate ${pct(opts.failRate)}`);
      const started = currentTime();
      const stats = await openNursery(async (n) => {
        n.startSoon(async () => {
          for (;;) {
            await sleep(500);
            const s = consumer.statistics();
            log(
              `  ${((currentTime() - started) / 1000).toFixed(1)} s  processed ${s.processed}  acked ${s.acked}  ` +
                `in flight ${s.inFlight}  buffer ${s.bufferUsed}/${s.bufferSize}  ` +
                `fetcher ${s.fetcherWaiting ? "parked in send" : "reading"}  XREADGROUP calls ${s.fetchCalls}`,
            );
          }
        }, { name: "progress" });
        const s = await consumer.run();
        n.cancelScope.cancel();
        // Report before the next checkpoint: after Ctrl-C that checkpoint ends the program.
        report(label, s, currentTime() - started);
        return s;
      });
      current = null;
      return stats;
    };

    const report = (label: string, stats: ConsumerStatistics, ms: number): void => {
      log(
        `${label} stopped after ${Math.round(ms)} ms: delivered ${stats.delivered}` +
          (stats.redelivered ? ` (${stats.redelivered} redelivered)` : "") +
          `, processed ${stats.processed}, failed attempts retried ${stats.failures}, acknowledged ${stats.acked}` +
          ` in ${stats.ackCalls} XACKs, left pending ${stats.unacked}` +
          (stats.readAfterStop ? ` (${stats.readAfterStop} of them from the read the stop cancelled)` : ""),
      );
      log(
        `  backpressure: peak buffer ${stats.peakBufferUsed}/${stats.bufferSize}, peak in flight ` +
          `${stats.peakInFlight}/${opts.workers}, ${stats.fetchCalls} XREADGROUP calls for ${stats.delivered} entries`,
      );
    };

    if (restartAfter > 0) {
      await runOnce("run 1", restartAfter);
      log(`  XPENDING after run 1: ${await pendingOnServer(redis, streams, group)} entries delivered, not acknowledged`);
      await runOnce("run 2 (restart, same consumer name)", 0);
    } else {
      await runOnce("run", 0);
    }

    const pending = await pendingOnServer(redis, streams, group);
    let missing = 0;
    let twice = 0;
    for (const t of timesProcessed) {
      if (t === 0) missing++;
      else if (t > 1) twice++;
    }
    log(
      `done in ${Math.round(performance.now() - t0)} ms: ${opts.count - missing}/${opts.count} entries processed ` +
        `(${twice} of them twice), XACK total ${ackedTotal}, XPENDING ${pending}`,
    );
    if (missing > 0 || ackedTotal !== opts.count || pending !== 0) {
      throw new Error(`check failed: ${missing} never processed, XACK total ${ackedTotal} of ${opts.count}, ${pending} pending`);
    }
  } finally {
    // Shielded: delete our streams (and their group) even when interrupted, but don't wait forever.
    await new CancelScope({ shield: true }).run(() =>
      moveOnAfter(2000, () => cancellable(redis.del(...streams))).catch(() => undefined),
    );
    redis.disconnect();
  }
}

let opts: Options;
try {
  opts = parseOptions(process.argv.slice(2));
} catch (e) {
  console.error(`queue-consumer: ${describeError(e)} (see --help)`);
  process.exit(2);
}

// Ctrl-C (or SIGTERM) cancels the run through its signal; the consumer treats that as a graceful stop.
// A second Ctrl-C cancels the in-flight entries at once. (One Ctrl-C can arrive twice a few ms apart,
// from the terminal and relayed by a wrapper such as the tsx CLI: those count as one.)
const interrupt = new AbortController();
let interruptedAt = -Infinity;
const onSignal = (signal: NodeJS.Signals): void => {
  if (!interrupt.signal.aborted) {
    interruptedAt = performance.now();
    console.error("\ninterrupted: stopping, in-flight entries may finish (Ctrl-C again to cancel them)");
    interrupt.abort(new Error("interrupted"));
  } else if (signal === "SIGINT" && performance.now() - interruptedAt > 250) {
    current?.stop(0);
  }
};
process.on("SIGINT", onSignal);
process.on("SIGTERM", onSignal);
try {
  await run(() => main(opts), { signal: interrupt.signal });
} catch (e) {
  if (interrupt.signal.aborted) {
    console.error("queue-consumer: interrupted");
    process.exitCode = 130;
  } else {
    console.error(`queue-consumer: ${describeError(e)}`);
    process.exitCode = 1;
  }
} finally {
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}
