/**
 * The job: read a query's rows through a server-side cursor in batches, send every batch to a slow
 * external service with bounded concurrency, and hand the results on in batch order.
 *
 *   fetcher task ── FETCH n ──▶ one task per batch (CapacityLimiter(k) around the call)
 *                                        │ results, any order
 *                                        ▼
 *        emitter (the nursery body) ◀── ReorderBuffer(window): in order, bounded
 *
 * The reorder buffer's window is the backpressure: the fetcher reserves a place before each FETCH,
 * and places come back only as batches are emitted in order, so a single slow batch stops the
 * reading `window` batches later instead of letting results pile up in memory.
 *
 * Everything runs in one transaction. However the job ends (done, an error, a timeout, Ctrl-C), the
 * cursor is closed and the transaction ended before `runBatchJob` returns or rejects.
 */
import { CancelScope, CapacityLimiter, cancellable, currentTime, isCancelled, openNursery } from "@quartet/core";
import type { BatchDb } from "./db.js";
import { ReorderBuffer } from "./reorder-buffer.js";

/** Options of `runBatchJob`. */
export interface BatchJobOptions<Row, Result> {
  /** The session to read from (one connection: the cursor lives in it). */
  db: BatchDb;
  /** The query, with an `ORDER BY` if the order of the batches matters. */
  select: string;
  /** Sends one batch out; runs under the concurrency limit. Must honour cancellation (use `cancellable`). */
  processBatch: (rows: Row[], index: number) => Promise<Result>;
  /** Receives each result in batch order (0, 1, 2, …); the next batch waits while this runs. */
  emit: (result: Result, index: number, rows: Row[]) => void | Promise<void>;
  /** Rows per `FETCH` (default 500). */
  batchSize?: number;
  /** At most this many `processBatch` calls at once (default 8). */
  concurrency?: number;
  /** At most this many batches fetched but not yet emitted (default `2 * concurrency`). */
  window?: number;
  /** Cursor name (default `"batches"`). */
  cursor?: string;
  /** How long the cleanup may take after a failure or a cancellation (default 5000 ms). */
  cleanupTimeout?: number;
  /** Pass your own to watch the figures while the job runs. */
  stats?: BatchJobStats;
}

/** Figures of a run, updated live. */
export interface BatchJobStats {
  /** Batches fetched from the cursor. */
  fetched: number;
  /** Batches emitted, in order. */
  batches: number;
  /** Rows emitted. */
  rows: number;
  /** `processBatch` calls running right now, and the most at once. */
  inFlight: number;
  peakInFlight: number;
  /** Batches fetched and not yet emitted right now (in flight, or done and waiting for their turn), and the most at once (≤ `window`). */
  pending: number;
  peakPending: number;
  /** Milliseconds from the start to the end (or to now, while running). */
  elapsed: number;
  /**
   * How the transaction ended: `"committed"`, `"rolled back"` (after a failure or a cancellation),
   * or `"cleanup failed: …"` when even the rollback could not be done (a dead connection: closing it
   * makes the server roll back). `"open"` while running.
   */
  outcome: "open" | "committed" | "rolled back" | `cleanup failed: ${string}`;
}

/** Fresh, zeroed figures. */
export function newBatchJobStats(): BatchJobStats {
  return { fetched: 0, batches: 0, rows: 0, inFlight: 0, peakInFlight: 0, pending: 0, peakPending: 0, elapsed: 0, outcome: "open" };
}

function positiveInt(name: string, value: number | undefined, dflt: number): number {
  if (value === undefined) return dflt;
  if (!Number.isInteger(value) || value < 1) {
    throw new RangeError(`runBatchJob: ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

/**
 * Runs the job (see the module comment). Resolves with the figures once every batch was emitted and
 * the transaction committed; rejects with the first error (an `ExceptionGroup` from the nursery when
 * a batch failed) or `Cancelled`, after closing the cursor and rolling back.
 *
 * @example
 * ```ts
 * const stats = await failAfter(60_000, () =>
 *   runBatchJob({
 *     db,
 *     select: "SELECT id, value FROM items ORDER BY id",
 *     processBatch: (rows, i) => scoreBatch(apiUrl, i, rows),
 *     emit: (score, i) => console.log(i, score.sum),
 *     concurrency: 8,
 *   }),
 * );
 * ```
 */
export async function runBatchJob<Row, Result>(opts: BatchJobOptions<Row, Result>): Promise<BatchJobStats> {
  const { db, select, processBatch, emit } = opts;
  const batchSize = positiveInt("batchSize", opts.batchSize, 500);
  const concurrency = positiveInt("concurrency", opts.concurrency, 8);
  const window = positiveInt("window", opts.window, 2 * concurrency);
  const cursor = opts.cursor ?? "batches";
  const cleanupTimeout = opts.cleanupTimeout ?? 5000;
  if (typeof cleanupTimeout !== "number" || !(cleanupTimeout >= 0)) {
    throw new RangeError(`runBatchJob: cleanupTimeout must be a non-negative number of ms, got ${String(cleanupTimeout)}`);
  }
  const stats = opts.stats ?? newBatchJobStats();
  const started = currentTime();
  const limiter = new CapacityLimiter(concurrency);
  const reorder = new ReorderBuffer<{ result: Result; rows: Row[] }>(window);

  const work = async (index: number, rows: Row[]): Promise<void> => {
    const result = await limiter.run(async () => {
      stats.inFlight++;
      stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
      try {
        return await processBatch(rows, index);
      } finally {
        stats.inFlight--;
      }
    });
    reorder.put(index, { result, rows });
  };

  // Once begin() is called, BEGIN reaches the server even if we are cancelled while it runs: from
  // here on the transaction must be ended whatever happens.
  let committed = false;
  try {
    await cancellable(db.begin());
    await cancellable(db.declareCursor(cursor, select));
    await openNursery(async (n) => {
      n.startSoon(async () => {
        for (let index = 0; ; index++) {
          await reorder.reserve(); // backpressure: wait until fewer than `window` batches are pending
          const rows = await cancellable(db.fetch<Row>(cursor, batchSize));
          if (rows.length === 0) {
            reorder.unreserve();
            reorder.end(index);
            return;
          }
          stats.fetched++;
          stats.pending = reorder.pending;
          stats.peakPending = reorder.peakPending;
          n.startSoon(() => work(index, rows), { name: `batch ${index}` });
          if (rows.length < batchSize) {
            reorder.end(index + 1); // a short batch is the last one: skip the empty FETCH
            return;
          }
        }
      }, { name: "fetcher" });

      for (let item = await reorder.take(); item !== undefined; item = await reorder.take()) {
        stats.pending = reorder.pending;
        stats.elapsed = currentTime() - started;
        await emit(item.value.result, item.index, item.value.rows);
        stats.batches++;
        stats.rows += item.value.rows.length;
      }
    });
    // Every batch is out: finish even if a cancellation arrives now. A COMMIT that reached the server
    // commits, and the job must not then report a rollback.
    await new CancelScope({ shield: true, relativeDeadline: cleanupTimeout }).run(async () => {
      await cancellable(db.closeCursor(cursor));
      await cancellable(db.commit());
      committed = true;
    });
    if (!committed) throw new Error(`COMMIT did not finish within ${cleanupTimeout} ms`);
    stats.outcome = "committed";
  } finally {
    if (!committed) stats.outcome = await rollBack(db, cursor, cleanupTimeout);
    stats.elapsed = currentTime() - started;
  }
  return stats;
}

/**
 * Closes the cursor and rolls the transaction back, even though the calling task is (usually)
 * cancelled: every checkpoint in a cancelled scope raises `Cancelled`, so the cleanup runs in a
 * shielded scope, with a deadline of its own so a dead connection cannot hang it. Never throws: the
 * error that is leaving the job (often a `Cancelled`) must be the one that comes out.
 */
async function rollBack(db: BatchDb, cursor: string, timeout: number): Promise<BatchJobStats["outcome"]> {
  let problem = "timed out";
  await new CancelScope({ shield: true, relativeDeadline: timeout }).run(async () => {
    try {
      // ROLLBACK alone would drop the cursor too; closing it first says what we mean. It fails when
      // the cursor was never declared or the transaction is already aborted: the ROLLBACK still runs.
      await cancellable(db.closeCursor(cursor));
    } catch (e) {
      if (isCancelled(e)) throw e;
    }
    try {
      await cancellable(db.rollback());
      problem = "";
    } catch (e) {
      if (isCancelled(e)) throw e;
      problem = e instanceof Error ? e.message : String(e);
    }
  });
  return problem === "" ? "rolled back" : `cleanup failed: ${problem}`;
}
