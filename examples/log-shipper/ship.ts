// The consumer side: collect lines into batches and deliver each batch, retrying until the sink takes
// it. One batch is in flight at a time and a batch is never re-cut, so the sink sees batches in order,
// each under one sequence number however many times it is sent: that is what lets it drop duplicates.
import type { MemoryReceiveChannel } from "@quartet/channels";
import {
  currentTime,
  EndOfChannel,
  failAfter,
  isCancelled,
  moveOnAt,
  sleep,
  TooSlowError,
  WouldBlock,
} from "@quartet/core";

/** One delivery: `seq` counts batches from 1 within `stream` (one stream per shipper run). */
export interface Batch {
  stream: string;
  seq: number;
  lines: string[];
}

/** Delivers one batch; rejects to ask for a retry (or with a non-retryable {@link DeliveryError}). */
export type Deliver = (batch: Batch) => Promise<void>;

/** A failed delivery. `retryable: false` (a 4xx answer, say) stops the shipper instead of retrying. */
export class DeliveryError extends Error {
  override name = "DeliveryError";
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** The sink has refused or failed every attempt for `giveUpAfterMs`. */
export class SinkUnavailableError extends Error {
  override name = "SinkUnavailableError";
}

/** Live figures of a shipper. */
export interface ShipStats {
  batchesSent: number;
  linesDelivered: number;
  /** Failed attempts (each one was followed by a backoff and another attempt, or by giving up). */
  retries: number;
  /** Lines received from the channel but not yet delivered (the batch in hand). */
  linesInHand: number;
}

/** A fresh, zeroed {@link ShipStats}. */
export function newShipStats(): ShipStats {
  return { batchesSent: 0, linesDelivered: 0, retries: 0, linesInHand: 0 };
}

/** Options of {@link shipLines}. */
export interface ShipOptions {
  /** Identifies this shipper's sequence of batches to the sink. */
  stream: string;
  /** Most lines per batch. Default 100. */
  batchMaxLines?: number;
  /** Longest wait for more lines once a batch has its first line (ms). Default 200. */
  batchMaxWaitMs?: number;
  /** Limit on one delivery attempt (ms), `failAfter`. Default 1000. */
  requestTimeoutMs?: number;
  /** First backoff cap (ms); the cap doubles after each failure. Default 100. */
  backoffBaseMs?: number;
  /** Largest backoff cap (ms). Default 2000. */
  backoffMaxMs?: number;
  /** Give up on a batch (and throw {@link SinkUnavailableError}) after failing for this long. Default ∞. */
  giveUpAfterMs?: number;
  /** Uniform random numbers in [0, 1) for the jitter (seed it in tests). Default `Math.random`. */
  random?: () => number;
  /** Figures to update while shipping. */
  stats?: ShipStats;
  /** Called after each failed attempt, before the backoff sleep (for logging). */
  onRetry?: (info: RetryInfo) => void;
}

/** What {@link ShipOptions.onRetry} gets. */
export interface RetryInfo {
  seq: number;
  /** 1 for the first failure of this batch. */
  attempt: number;
  error: unknown;
  delayMs: number;
}

/**
 * Exponential backoff with full jitter: a uniform delay in `[0, min(max, base·2^(attempt-1)))`.
 * Spreading retries over the whole interval keeps many shippers from hammering a recovering sink
 * in step.
 *
 * @example
 * ```ts
 * backoffDelay(3, 100, 2000, Math.random); // somewhere in [0, 400)
 * ```
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number): number {
  return random() * Math.min(maxMs, baseMs * 2 ** (attempt - 1));
}

/**
 * Receives lines from `rx`, groups them into batches of up to `batchMaxLines` lines (or whatever
 * arrived within `batchMaxWaitMs` of a batch's first line), and delivers each batch with
 * `failAfter(requestTimeoutMs, …)` per attempt and backoff between attempts, until it succeeds.
 * Returns when `rx` has ended (its last sender closed) and everything received was delivered.
 *
 * While a batch is being retried nothing is received, so `rx`'s buffer fills and its sender waits:
 * that is the backpressure that pauses the tailer.
 *
 * @example
 * ```ts
 * await shipLines(rx, httpDeliver("http://127.0.0.1:8080/logs"), { stream: crypto.randomUUID() });
 * ```
 */
export async function shipLines(rx: MemoryReceiveChannel<string>, deliver: Deliver, opts: ShipOptions): Promise<void> {
  const batchMaxLines = opts.batchMaxLines ?? 100;
  const batchMaxWaitMs = opts.batchMaxWaitMs ?? 200;
  const stats = opts.stats ?? newShipStats();
  let seq = 0;
  let ended = false;
  while (!ended) {
    // The first line of a batch may take forever to come: no deadline for it.
    let first: string;
    try {
      first = await rx.receive();
    } catch (e) {
      if (e instanceof EndOfChannel) return;
      throw e;
    }
    const lines = [first];
    stats.linesInHand = 1;
    const deadline = currentTime() + batchMaxWaitMs;
    while (lines.length < batchMaxLines) {
      // Take what is already buffered without waiting; wait (until the deadline) only when empty.
      try {
        lines.push(rx.receiveNowait());
        stats.linesInHand++;
        continue;
      } catch (e) {
        if (e instanceof EndOfChannel) {
          ended = true;
          break;
        }
        if (!(e instanceof WouldBlock)) throw e;
      }
      let line: string | undefined;
      try {
        // A receive cut short by the deadline consumed nothing (channel cancellation is atomic).
        line = await moveOnAt(deadline, () => rx.receive());
      } catch (e) {
        if (e instanceof EndOfChannel) {
          ended = true;
          break;
        }
        throw e;
      }
      if (line === undefined) break;
      lines.push(line);
      stats.linesInHand++;
    }
    seq++;
    await deliverWithRetries({ stream: opts.stream, seq, lines }, deliver, opts, stats);
    stats.batchesSent++;
    stats.linesDelivered += lines.length;
    stats.linesInHand = 0;
  }
}

async function deliverWithRetries(batch: Batch, deliver: Deliver, opts: ShipOptions, stats: ShipStats): Promise<void> {
  const requestTimeoutMs = opts.requestTimeoutMs ?? 1000;
  const baseMs = opts.backoffBaseMs ?? 100;
  const maxMs = opts.backoffMaxMs ?? 2000;
  const giveUpAfterMs = opts.giveUpAfterMs ?? Infinity;
  const random = opts.random ?? Math.random;
  const firstTry = currentTime();
  for (let attempt = 1; ; attempt++) {
    try {
      // The same batch object every time: same sequence number, same lines.
      await failAfter(requestTimeoutMs, () => deliver(batch));
      return;
    } catch (error) {
      if (isCancelled(error)) throw error; // our own cancellation (shutdown), not a failed attempt
      if (error instanceof DeliveryError && !error.retryable) throw error;
      stats.retries++;
      if (currentTime() - firstTry >= giveUpAfterMs) {
        throw new SinkUnavailableError(
          `gave up on batch ${batch.seq} after ${attempt} attempts in ${Math.round(currentTime() - firstTry)} ms: ${describeError(error)}`,
          { cause: error },
        );
      }
      const delayMs = backoffDelay(attempt, baseMs, maxMs, random);
      opts.onRetry?.({ seq: batch.seq, attempt, error, delayMs });
      await sleep(delayMs);
    }
  }
}

/** A short, one-line description of a delivery failure ("connect ECONNREFUSED 127.0.0.1:8080"). */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch() rejects with "TypeError: fetch failed" and the useful part in `cause`.
  const cause = error.cause;
  if (error.message === "fetch failed" && cause instanceof Error) {
    return cause.message || (cause as NodeJS.ErrnoException).code || cause.name;
  }
  if (error instanceof TooSlowError) return "request timed out";
  return error.message;
}

/**
 * A seeded uniform random generator (mulberry32) for reproducible jitter: the same seed gives the
 * same retry delays on every run.
 *
 * @example
 * ```ts
 * const random = seededRandom(42);
 * random(); // the same number in [0, 1) on every run
 * ```
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
