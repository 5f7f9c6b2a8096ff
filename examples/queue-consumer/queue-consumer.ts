/**
 * A Kafka-style consumer for Redis Streams, built on Quartet: one fetcher reads batches with
 * `XREADGROUP … COUNT` into a bounded channel, N workers process entries through a `CapacityLimiter`,
 * and entries are acknowledged (`XACK`) per stream, in delivery order, only once they and everything
 * before them are processed. Stopping (AbortSignal, `stop()`, or cancelling the caller) stops the
 * fetcher, lets in-flight entries finish within a grace period, cancels what is left and
 * acknowledges exactly the processed prefix; a restart first drains this consumer's pending entries.
 */
import { Redis, type RedisOptions } from "ioredis";
import {
  CancelScope,
  CapacityLimiter,
  ClosedResourceError,
  EndOfChannel,
  BrokenResourceError,
  cancellable,
  currentSignal,
  failAfter,
  isCancelled,
  moveOnAfter,
  openNursery,
  sleep,
} from "@quartet/core";
import { openMemoryChannel, type MemoryReceiveChannel, type MemorySendChannel } from "@quartet/channels";
import { CommitLog } from "./commit-log.js";

// ------------------------------------------------------------------ connecting

/** Options for `connectRedis`. */
export interface ConnectOptions {
  /** Bound on the TCP connect plus the ready check (default 3000 ms). */
  connectTimeoutMs?: number;
}

/**
 * Connects to `url` and fails fast instead of retrying forever: one connection attempt bounded by
 * `connectTimeoutMs`, no reconnects, no offline queue (a command on a dead connection fails at once).
 * The connection error becomes a one-line `Error` ("cannot connect to redis://…: connect ECONNREFUSED …").
 *
 * @example
 * ```ts
 * const redis = await connectRedis("redis://127.0.0.1:6379");
 * try { await redis.ping(); } finally { redis.disconnect(); }
 * ```
 */
export async function connectRedis(url: string, opts: ConnectOptions = {}): Promise<Redis> {
  const timeout = opts.connectTimeoutMs ?? 3000;
  if (!/^rediss?:\/\/[^/]/.test(url)) throw new Error(`not a redis URL: ${url} (expected redis://host:port)`);
  const options: RedisOptions = {
    lazyConnect: true,
    connectTimeout: timeout,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null, // no reconnect: a consumer that lost its server should fail, visibly
    enableOfflineQueue: false,
  };
  const redis = new Redis(url, options);
  // Without a listener ioredis prints every connection error to the console itself. The listener also
  // keeps the cause: connect() itself only rejects with "Connection is closed."
  let cause: unknown = null;
  const onError = (e: unknown): void => void (cause ??= e);
  redis.on("error", onError);
  try {
    // The ready check after connecting has no timeout of its own: bound the whole thing.
    await failAfter(timeout + 1000, () => cancellable(redis.connect()));
  } catch (e) {
    // (Not on an ended connection: ioredis would then hold the process for its 2 s disconnect timer.)
    if (redis.status !== "end") redis.disconnect();
    if (isCancelled(e)) throw e;
    throw new Error(`cannot connect to ${url}: ${describeError(cause ?? e)}`);
  }
  redis.off("error", onError);
  redis.on("error", noop);
  return redis;
}

/** Creates `group` on each stream (and the stream itself), reading from the start; an existing group is kept. */
export async function ensureGroup(redis: Redis, streams: readonly string[], group: string): Promise<void> {
  for (const stream of streams) {
    try {
      await cancellable(redis.xgroup("CREATE", stream, group, "0", "MKSTREAM"));
    } catch (e) {
      if (!(e instanceof Error && e.message.startsWith("BUSYGROUP"))) throw e;
    }
  }
}

/**
 * Appends `count` entries `{ n: "<i>" }` round-robin over `streams` (entry i goes to stream
 * i % streams.length), pipelined in chunks of 1000.
 */
export async function produce(redis: Redis, streams: readonly string[], count: number, first = 0): Promise<void> {
  for (let start = first; start < first + count; start += 1000) {
    const end = Math.min(first + count, start + 1000);
    const pipeline = redis.pipeline();
    for (let i = start; i < end; i++) pipeline.xadd(streams[i % streams.length], "*", "n", String(i));
    const results = (await cancellable(pipeline.exec())) ?? [];
    for (const [err] of results) if (err) throw err;
  }
}

// ------------------------------------------------------------------ the consumer

/** One stream entry handed to the handler. */
export interface StreamEntry {
  readonly stream: string;
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
  /** True if it came back from this consumer's pending list (delivered before, never acknowledged). */
  readonly redelivered: boolean;
}

/** Processes one entry; throwing (anything but `Cancelled`) counts as a failed attempt and is retried. */
export type EntryHandler = (entry: StreamEntry, attempt: number) => Promise<void> | void;

/** Options for `StreamConsumer`. */
export interface ConsumerOptions {
  /** A connected client (see `connectRedis`). XACK goes through it; blocking reads use a duplicate of it. */
  redis: Redis;
  /** The streams ("partitions") to consume; order is kept per stream. */
  streams: readonly string[];
  group: string;
  /** This consumer's name in the group. Restart with the same name to get its pending entries back. */
  consumer: string;
  handler: EntryHandler;
  /** Worker tasks (default 8). */
  workers?: number;
  /** Bounds how many entries are processed at once (default: a new limiter with `workers` tokens).
   *  Pass a shared one to cap several consumers together. */
  limiter?: CapacityLimiter;
  /** XREADGROUP COUNT (default 100). */
  batchSize?: number;
  /** Entries buffered between the fetcher and the workers (default `batchSize`). */
  bufferSize?: number;
  /** XREADGROUP BLOCK in ms (default 5000). Cancellation does not wait for it (see README). */
  blockMs?: number;
  /** How long in-flight entries may still run after a stop (default 5000 ms). */
  graceMs?: number;
  /** Attempts per entry before the consumer fails with `EntryFailedError` (default 5). */
  maxAttempts?: number;
  /** Pause before attempt `attempt + 1` (default 10 ms · 2^(attempt-1), at most 1000 ms). */
  retryDelayMs?: (attempt: number) => number;
  /** Bound on one XACK (default 5000 ms). */
  ackTimeoutMs?: number;
  /** Aborting it stops the consumer gracefully (as `stop()`). */
  signal?: AbortSignal;
  /** Called after each XACK with the ids sent and the server's count of entries it acknowledged. */
  onAck?: (stream: string, ids: readonly string[], acked: number) => void;
}

/** What a consumer did (and, while it runs, is doing). */
export interface ConsumerStatistics {
  /** XREADGROUP calls issued. */
  fetchCalls: number;
  /** Entries read from Redis, new and redelivered. */
  delivered: number;
  /** Of those, entries read back from this consumer's pending list. */
  redelivered: number;
  /** Entries whose handler succeeded. */
  processed: number;
  /** Failed handler attempts (each was retried, or failed the consumer). */
  failures: number;
  /** XACK commands sent. */
  ackCalls: number;
  /** Sum of XACK replies: entries the server moved out of the pending list. */
  acked: number;
  /** Ids sent in an XACK that the server did not acknowledge (0 unless something else acked them). */
  ackMisses: number;
  /** Entries in a read reply that arrived after the stop: never handed to a worker, left pending. */
  readAfterStop: number;
  /** Read in this run and not acknowledged (yet), `readAfterStop` included: what this run leaves in the
   *  consumer's pending list (XPENDING) when it ends. */
  unacked: number;
  /** Entries being processed now, and the most at once. */
  inFlight: number;
  peakInFlight: number;
  /** Entries waiting in the channel now, its capacity, and the most it ever held. */
  bufferUsed: number;
  bufferSize: number;
  peakBufferUsed: number;
  /** True while the fetcher is parked in `send` because the workers are behind (backpressure). */
  fetcherWaiting: boolean;
}

/** An entry failed `maxAttempts` times; the consumer stops (the entry stays pending). */
export class EntryFailedError extends Error {
  override name = "EntryFailedError";
  constructor(
    readonly entry: StreamEntry,
    readonly attempts: number,
    override readonly cause: unknown,
  ) {
    super(`entry ${entry.stream} ${entry.id} failed ${attempts} times, last: ${describeError(cause)}`);
  }
}

interface Delivery {
  entry: StreamEntry;
  log: CommitLog;
  position: number;
}

type RawEntry = [id: string, fields: string[] | null];
type ReadReply = [stream: string, entries: RawEntry[]][];

/**
 * A Redis Streams consumer-group member with bounded buffering, bounded concurrency, in-order
 * acknowledgement and graceful shutdown. `run()` consumes until stopped (`stop()`, `signal`, or a
 * cancellation of the code that awaits `run()`), then resolves with its statistics.
 *
 * @example
 * ```ts
 * const consumer = new StreamConsumer({
 *   redis, streams: ["orders:0", "orders:1"], group: "billing", consumer: "billing-1",
 *   handler: async (entry) => { await charge(entry.fields); },
 *   signal: controller.signal, // Ctrl-C → controller.abort()
 * });
 * const stats = await consumer.run();
 * console.log(stats.peakBufferUsed, stats.peakInFlight, stats.acked);
 * ```
 */
export class StreamConsumer {
  private readonly redis: Redis;
  private readonly streams: readonly string[];
  private readonly group: string;
  private readonly consumer: string;
  private readonly handler: EntryHandler;
  private readonly workers: number;
  private readonly limiter: CapacityLimiter;
  private readonly batchSize: number;
  private readonly bufferSize: number;
  private readonly blockMs: number;
  private readonly graceMs: number;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: (attempt: number) => number;
  private readonly ackTimeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly onAck: ConsumerOptions["onAck"];

  private readonly logs = new Map<string, CommitLog>();
  // Cancelled by stop(): ends the fetcher (and its blocking read) at once.
  private readonly fetchScope = new CancelScope();
  // Shielded from the caller's cancellation; stop() gives it a deadline: the grace period.
  private readonly workScope = new CancelScope({ shield: true });
  private receivers: MemoryReceiveChannel<Delivery>[] = [];
  private tx: MemorySendChannel<Delivery> | null = null;
  private started = false;
  private stopping = false;
  private committing = false;
  private readonly stats = {
    fetchCalls: 0,
    delivered: 0,
    redelivered: 0,
    processed: 0,
    failures: 0,
    ackCalls: 0,
    acked: 0,
    ackMisses: 0,
    readAfterStop: 0,
    inFlight: 0,
    peakInFlight: 0,
  };

  constructor(opts: ConsumerOptions) {
    if (!(opts.redis instanceof Redis)) throw new TypeError("StreamConsumer: opts.redis must be an ioredis client");
    if (!Array.isArray(opts.streams) || opts.streams.length === 0 || !opts.streams.every(isName)) {
      throw new TypeError(`StreamConsumer: opts.streams must be a non-empty array of names, got ${String(opts.streams)}`);
    }
    if (!isName(opts.group)) throw new TypeError(`StreamConsumer: opts.group must be a non-empty string, got ${String(opts.group)}`);
    if (!isName(opts.consumer)) throw new TypeError(`StreamConsumer: opts.consumer must be a non-empty string, got ${String(opts.consumer)}`);
    if (typeof opts.handler !== "function") throw new TypeError("StreamConsumer: opts.handler must be a function");
    this.redis = opts.redis;
    this.streams = [...opts.streams];
    this.group = opts.group;
    this.consumer = opts.consumer;
    this.handler = opts.handler;
    this.workers = count("workers", opts.workers ?? 8, 1);
    this.limiter = opts.limiter ?? new CapacityLimiter(this.workers);
    this.batchSize = count("batchSize", opts.batchSize ?? 100, 1);
    this.bufferSize = count("bufferSize", opts.bufferSize ?? this.batchSize, 0);
    this.blockMs = count("blockMs", opts.blockMs ?? 5000, 1);
    this.graceMs = count("graceMs", opts.graceMs ?? 5000, 0);
    this.maxAttempts = count("maxAttempts", opts.maxAttempts ?? 5, 1);
    this.retryDelayMs = opts.retryDelayMs ?? ((attempt) => Math.min(1000, 10 * 2 ** (attempt - 1)));
    this.ackTimeoutMs = count("ackTimeoutMs", opts.ackTimeoutMs ?? 5000, 1);
    this.signal = opts.signal;
    this.onAck = opts.onAck;
    for (const s of this.streams) this.logs.set(s, new CommitLog());
  }

  /**
   * Stops gracefully: no more fetching, no new entries taken by workers, in-flight entries get
   * `graceMs` (or the given, shorter, grace) to finish, then are cancelled. Synchronous, idempotent,
   * callable from anywhere (a signal handler, a handler, another task); a second call may shorten
   * the grace (`stop(0)`: cancel in-flight work now).
   */
  stop(graceMs: number = this.graceMs): void {
    count("graceMs", graceMs, 0);
    this.stopping = true;
    this.fetchScope.cancel();
    // A worker waiting for an entry wakes with ClosedResourceError and exits; entries still in the
    // buffer were delivered but never processed, so they stay pending on the server.
    for (const rx of this.receivers) rx.close();
    // Before run() enters the scope, this sets an offset counted from entry.
    if (graceMs < this.workScope.relativeDeadline) this.workScope.relativeDeadline = graceMs;
  }

  /** Live figures (see `ConsumerStatistics`). */
  statistics(): ConsumerStatistics {
    const ch = this.tx?.statistics();
    let unacked = this.stats.readAfterStop;
    for (const log of this.logs.values()) unacked += log.outstanding;
    return {
      ...this.stats,
      unacked,
      bufferUsed: ch?.currentBufferUsed ?? 0,
      bufferSize: this.bufferSize,
      peakBufferUsed: ch?.peakBufferUsed ?? 0,
      fetcherWaiting: (ch?.tasksWaitingSend ?? 0) > 0,
    };
  }

  /**
   * Consumes until stopped, then acknowledges the processed prefix and resolves with the statistics.
   * If an entry fails `maxAttempts` times (`EntryFailedError`) or Redis fails, the other tasks are
   * cancelled and run() rejects with the nursery's `ExceptionGroup` holding the error(s); in every
   * case the processed prefix is acknowledged first and nothing unprocessed is.
   */
  async run(): Promise<ConsumerStatistics> {
    if (this.started) throw new Error("StreamConsumer.run: a consumer runs once; create a new one to restart");
    this.started = true;
    // Cancelling the code that awaits run() is a graceful stop too: the work runs in a shielded scope.
    const callerSignal = currentSignal();
    const onAbort = (): void => this.stop();
    for (const s of [callerSignal, this.signal]) {
      if (s?.aborted) this.stop();
      else s?.addEventListener("abort", onAbort);
    }
    // Blocking reads get a connection of their own, so a read parked in BLOCK never delays an XACK.
    const reader = this.redis.duplicate({ lazyConnect: true });
    reader.on("error", noop);
    let failed = false;
    try {
      if (!this.stopping) await failAfter(this.ackTimeoutMs, () => cancellable(reader.connect()));
      const [tx, rx] = openMemoryChannel<Delivery>(this.bufferSize);
      this.tx = tx;
      await this.workScope.run(() =>
        openNursery(async (n) => {
          n.startSoon(() => this.fetchScope.run(() => this.fetch(reader, tx)), { name: "fetcher" });
          for (let i = 0; i < this.workers; i++) {
            const mine = rx.clone();
            this.receivers.push(mine);
            n.startSoon(() => this.work(mine), { name: `worker ${i}` });
          }
          rx.close();
          if (this.stopping) for (const r of this.receivers) r.close();
        }),
      );
    } catch (e) {
      failed = true;
      throw e;
    } finally {
      await new CancelScope({ shield: true }).run(() => closeConnection(reader, this.ackTimeoutMs));
      for (const s of [callerSignal, this.signal]) s?.removeEventListener("abort", onAbort);
      // The last processed prefix; shielded so that a cancelled caller still gets it acknowledged.
      try {
        await new CancelScope({ shield: true }).run(() => this.commit());
      } catch (e) {
        if (!failed) throw e; // otherwise the first error is the one to report
      }
    }
    return this.statistics();
  }

  // ---------------------------------------------------------------- fetcher

  private async fetch(reader: Redis, tx: MemorySendChannel<Delivery>): Promise<void> {
    try {
      // 1. Entries delivered to this consumer before (a previous run) and never acknowledged: read the
      //    pending list from ID 0 until it is exhausted. They come first and in ID order, so the
      //    per-stream commit order stays the delivery order.
      const cursors = new Map(this.streams.map((s) => [s, "0"]));
      while (cursors.size > 0) {
        const keys = [...cursors.keys()];
        const reply = await this.read(reader, keys, [...cursors.values()], false);
        if (reply === null) break;
        for (const [stream, entries] of reply) {
          if (entries.length < this.batchSize) cursors.delete(stream);
          else cursors.set(stream, entries[entries.length - 1][0]);
        }
        await this.deliver(tx, reply, true);
      }
      // 2. New entries. The fetcher only reads again once it has handed the whole batch to the
      //    channel: when the workers fall behind it parks in send() and issues no XREADGROUP.
      const ids = this.streams.map(() => ">");
      for (;;) {
        const reply = await this.read(reader, this.streams, ids, true);
        if (reply !== null) await this.deliver(tx, reply, false);
      }
    } catch (e) {
      // Every worker is gone (they stop taking entries once the consumer stops): stop too.
      if (e instanceof BrokenResourceError && this.stopping) return;
      throw e;
    } finally {
      tx.close();
      // Closing the connection ends a read still parked in BLOCK (the server sees the connection
      // close). A reply already on its way still arrives and is dropped (read() counts it): its
      // entries are in this consumer's pending list and come back on restart, through step 1.
      // Shielded and bounded: wait for the socket to close, so nothing outlives run().
      await new CancelScope({ shield: true }).run(() => closeConnection(reader, this.ackTimeoutMs));
    }
  }

  private read(reader: Redis, streams: readonly string[], ids: readonly string[], block: boolean): Promise<ReadReply | null> {
    this.stats.fetchCalls++;
    const args: (string | number)[] = ["GROUP", this.group, this.consumer, "COUNT", this.batchSize];
    if (block) args.push("BLOCK", this.blockMs);
    args.push("STREAMS", ...streams, ...ids);
    const signal = currentSignal();
    const reply = reader.call("XREADGROUP", ...args) as Promise<ReadReply | null>;
    const result = cancellable(reply);
    // This reaction runs right after cancellable's own one, so the signal says whether the fetcher was
    // cancelled before the reply came (nobody takes it) or not (cancellable hands it over).
    reply.then((r) => {
      if (signal.aborted && r !== null) for (const [, entries] of r) this.stats.readAfterStop += entries.length;
    }, noop);
    return result;
  }

  private async deliver(tx: MemorySendChannel<Delivery>, reply: ReadReply, redelivered: boolean): Promise<void> {
    // Register the whole reply first: every entry read is pending on the server from now on, including
    // those still in the fetcher's hand when a stop cancels it in send().
    const batch: Delivery[] = [];
    let deleted = false;
    for (const [stream, entries] of reply) {
      const log = this.logs.get(stream)!;
      for (const [id, flat] of entries) {
        const position = log.register(id);
        if (flat === null) {
          // A pending entry that was deleted from the stream (XDEL, trimming): nothing left to process,
          // so it only needs acknowledging to leave the pending list.
          log.markDone(position);
          deleted = true;
          continue;
        }
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]] = flat[i + 1];
        batch.push({ entry: { stream, id, fields, redelivered }, log, position });
      }
      this.stats.delivered += entries.length;
      if (redelivered) this.stats.redelivered += entries.length;
    }
    if (deleted) await this.commit();
    for (const d of batch) await tx.send(d);
  }

  // ---------------------------------------------------------------- workers

  private async work(rx: MemoryReceiveChannel<Delivery>): Promise<void> {
    try {
      for (;;) {
        if (this.stopping) return;
        let d: Delivery;
        try {
          d = await rx.receive();
        } catch (e) {
          if (e instanceof ClosedResourceError || e instanceof EndOfChannel) return;
          throw e;
        }
        // Taken from the buffer after stop(): not in flight, so leave it pending for the next run.
        if (this.stopping) return;
        await this.limiter.run(() => this.process(d));
        await this.commit();
      }
    } finally {
      rx.close();
    }
  }

  private async process(d: Delivery): Promise<void> {
    const s = this.stats;
    if (++s.inFlight > s.peakInFlight) s.peakInFlight = s.inFlight;
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await this.handler(d.entry, attempt);
          break;
        } catch (e) {
          if (isCancelled(e)) throw e; // the grace period is over: leave it unprocessed
          s.failures++;
          if (attempt >= this.maxAttempts) throw new EntryFailedError(d.entry, attempt, e);
          await sleep(this.retryDelayMs(attempt));
        }
      }
    } finally {
      s.inFlight--;
    }
    d.log.markDone(d.position);
    s.processed++;
  }

  // ---------------------------------------------------------------- acknowledging

  /**
   * Acknowledges every stream's processed prefix. One task at a time does it (a worker that finished
   * an entry, or run() at the end); a worker that finds another one at it returns at once, and the
   * running one loops until nothing is left, so acks are batched under load and stay in order.
   */
  private async commit(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    try {
      for (let more = true; more; ) {
        more = false;
        for (const [stream, log] of this.logs) {
          const ids = log.takeReady();
          if (ids.length === 0) continue;
          more = true;
          await this.ack(stream, ids);
        }
      }
    } finally {
      this.committing = false;
    }
  }

  private async ack(stream: string, ids: string[]): Promise<void> {
    this.stats.ackCalls++;
    // Shielded: once sent, an XACK is waited for even after the grace period ran out, so the count of
    // acknowledged entries is exact. Bounded by ackTimeoutMs in case the server is gone.
    const acked = await failAfter(
      this.ackTimeoutMs,
      () => cancellable(this.redis.xack(stream, this.group, ...ids)),
      { shield: true },
    );
    this.stats.acked += acked;
    this.stats.ackMisses += ids.length - acked;
    this.onAck?.(stream, ids, acked);
  }
}

// ------------------------------------------------------------------ helpers

function noop(): void {}

/** Closes an ioredis connection and waits (at most `ms`) until it has ended. */
async function closeConnection(redis: Redis, ms: number): Promise<void> {
  if (redis.status === "end") return;
  const ended = new Promise<void>((resolve) => redis.once("end", resolve));
  redis.disconnect();
  await moveOnAfter(ms, () => cancellable(ended));
}

function isName(v: unknown): v is string {
  return typeof v === "string" && v.length > 0;
}

function count(name: string, value: number, min: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`StreamConsumer: ${name} must be an integer, got ${String(value)}`);
  }
  if (value < min) throw new RangeError(`StreamConsumer: ${name} must be >= ${min}, got ${value}`);
  return value;
}

/** One line for any error: its message, or its code, or its name. A group (a nursery's ExceptionGroup,
 * Node's AggregateError for a failed dual-stack connect) is described by its first error. */
export function describeError(e: unknown): string {
  const leaves: unknown[] = [];
  const flatten = (x: unknown): void => {
    if (x instanceof AggregateError && x.errors.length > 0) for (const y of x.errors) flatten(y);
    else if (!isCancelled(x)) leaves.push(x);
  };
  flatten(e);
  const first = leaves[0] ?? e;
  let msg = first instanceof Error ? first.message || (first as NodeJS.ErrnoException).code || first.name : String(first);
  msg = msg.split("\n")[0];
  return leaves.length > 1 ? `${msg} (and ${leaves.length - 1} more error${leaves.length > 2 ? "s" : ""})` : msg;
}
