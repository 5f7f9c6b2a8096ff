/**
 * `pnpm example db-batches [options]`: reads 100,000 rows through a Postgres cursor in batches of
 * 500, scores every batch on a local HTTP API with bounded concurrency, prints the results in order.
 *
 * DATABASE_URL unset: PGlite (Postgres in WebAssembly, in memory, in this process). Set: that server,
 * through node-postgres; the rows go into a TEMP table of the session, so nothing else is touched.
 * Exit codes: 0 done, 1 failed (database, API), 2 bad arguments or DATABASE_URL, 124 --timeout,
 * 130 Ctrl-C.
 */
import { parseArgs } from "node:util";
import {
  CancelScope,
  ExceptionGroup,
  TooSlowError,
  cancellable,
  currentTime,
  failAfter,
  isCancelled,
  run,
} from "@quartet/core";
import { newBatchJobStats, runBatchJob, type BatchJobStats } from "./batch-job.js";
import {
  DatabaseUrlError,
  ITEMS_TABLE,
  connectPostgres,
  describeDatabaseUrl,
  oneLine,
  openCursors,
  pgliteDb,
  seedItems,
  type BatchDb,
} from "./db.js";
import { defaultDelay, scoreBatch, startScoreApi, type BatchScore, type Item, type ScoreApi } from "./score-api.js";

const USAGE = `usage: pnpm example db-batches [--rows N] [--batch-size N] [--concurrency K] [--window N]
                                [--api-delay MS] [--timeout MS] [--connect-timeout MS]
  DATABASE_URL=postgres://user:password@host:port/db  use that server instead of PGlite`;

class UsageError extends Error {}
class Interrupted extends Error {}

interface Options {
  rows: number;
  batchSize: number;
  concurrency: number;
  window: number;
  apiDelay: number;
  timeout: number | undefined;
  connectTimeout: number;
  databaseUrl: string | undefined;
}

function parseOptions(argv: string[]): Options {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        rows: { type: "string" },
        "batch-size": { type: "string" },
        concurrency: { type: "string" },
        window: { type: "string" },
        "api-delay": { type: "string" },
        timeout: { type: "string" },
        "connect-timeout": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    throw new UsageError(oneLine(e));
  }
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const int = (name: string, raw: string | undefined, dflt: number, min: number): number => {
    if (raw === undefined) return dflt;
    const v = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(v) || v < min) {
      throw new UsageError(`--${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    }
    return v;
  };
  const concurrency = int("concurrency", values.concurrency, 8, 1);
  const url = process.env.DATABASE_URL;
  return {
    rows: int("rows", values.rows, 100_000, 0),
    batchSize: int("batch-size", values["batch-size"], 500, 1),
    concurrency,
    window: int("window", values.window, 2 * concurrency, 1),
    apiDelay: int("api-delay", values["api-delay"], 20, 0),
    timeout: values.timeout === undefined ? undefined : int("timeout", values.timeout, 0, 1),
    connectTimeout: int("connect-timeout", values["connect-timeout"], 5000, 1),
    databaseUrl: url === undefined || url === "" ? undefined : url,
  };
}

const fmt = (n: number) => n.toLocaleString("en-US");
const ms = (t: number) => `${Math.round(t)} ms`;

/** An open database: the job's session and how to end it. */
interface Session {
  db: BatchDb;
  close(): Promise<void>;
}

async function openSession(opts: Options): Promise<Session> {
  const t0 = currentTime();
  let session: Session;
  let label: string;
  if (opts.databaseUrl !== undefined) {
    const conn = await connectPostgres(opts.databaseUrl, opts.connectTimeout);
    session = conn;
    label = `connected to ${describeDatabaseUrl(opts.databaseUrl)} (PostgreSQL %v)`;
  } else {
    // Loaded only when needed: PGlite is large, and a DATABASE_URL run should not pay for it.
    const { PGlite } = await import("@electric-sql/pglite");
    const creating = PGlite.create();
    let pglite: Awaited<typeof creating>;
    try {
      pglite = await cancellable(creating);
    } catch (e) {
      creating.then((p) => p.close(), () => {}); // close it once the abandoned start-up is done
      throw e;
    }
    session = { db: pgliteDb(pglite), close: () => pglite.close().catch(() => {}) };
    label = "PGlite ready (PostgreSQL %v in WebAssembly, in memory)";
  }
  try {
    const [{ v }] = await cancellable(session.db.query<{ v: string }>("SELECT current_setting('server_version') AS v"));
    console.log(`${label.replace("%v", v.split(" ")[0]!)} in ${ms(currentTime() - t0)}`);
    return session;
  } catch (e) {
    await closeShielded(session.close);
    throw e;
  }
}

/**
 * Runs an async close in a shielded scope with a deadline: it runs even when the caller is cancelled
 * (Ctrl-C), and a dead peer cannot make it hang.
 */
async function closeShielded(close: () => Promise<void>): Promise<void> {
  await new CancelScope({ shield: true, relativeDeadline: 3000 }).run(() => cancellable(close()));
}

async function main(opts: Options): Promise<void> {
  const session = await openSession(opts);
  try {
    const api = await startScoreApi({ delay: defaultDelay(opts.apiDelay) });
    try {
      await seedAndRun(opts, session.db, api);
    } finally {
      await closeShielded(api.close);
    }
  } finally {
    await closeShielded(session.close);
  }
}

async function seedAndRun(opts: Options, db: BatchDb, api: ScoreApi): Promise<void> {
  const seedStart = currentTime();
  const expectedSum = await cancellable(seedItems(db, opts.rows));
  console.log(`seeded ${fmt(opts.rows)} rows into TEMP table ${ITEMS_TABLE} in ${ms(currentTime() - seedStart)}`);
  console.log(`score API on ${api.url}: ~${opts.apiDelay} ms per batch, every 16th ~${opts.apiDelay * 10} ms`);
  console.log(
    `job: FETCH ${opts.batchSize} from a cursor, ${opts.concurrency} API calls at once, ` +
      `at most ${opts.window} batches pending` + (opts.timeout === undefined ? "" : `, timeout ${ms(opts.timeout)}`),
  );

  const stats: BatchJobStats = newBatchJobStats();
  const totalBatches = Math.ceil(opts.rows / opts.batchSize);
  const every = Math.max(1, Math.ceil(totalBatches / 10));
  let nextId = 1;
  let sum = 0;
  const job = () =>
    runBatchJob<Item, BatchScore>({
      db,
      select: `SELECT id, value FROM ${ITEMS_TABLE} ORDER BY id`,
      batchSize: opts.batchSize,
      concurrency: opts.concurrency,
      window: opts.window,
      stats,
      processBatch: (rows, index) => scoreBatch(api.url, index, rows),
      emit: (score, index) => {
        // The order check: batch i must start right after batch i-1 ended.
        if (score.batch !== index || score.firstId !== nextId) {
          throw new Error(`batch ${index} out of order: got batch ${score.batch} starting at id ${score.firstId}`);
        }
        nextId = score.lastId + 1;
        sum += score.sum;
        if ((index + 1) % every === 0 || index + 1 === totalBatches) {
          console.log(
            `  batch ${String(index + 1).padStart(4)}/${totalBatches}  ids ${fmt(score.firstId).padStart(7)}–${fmt(score.lastId).padEnd(7)}` +
              `  in flight ${stats.inFlight}, pending ${String(stats.pending).padStart(2)}  ${ms(stats.elapsed)}`,
          );
        }
      },
    });
  try {
    await (opts.timeout === undefined ? job() : failAfter(opts.timeout, job));
  } catch (e) {
    await reportCleanup(db, stats, totalBatches);
    throw e;
  }
  if (sum !== expectedSum) throw new Error(`sum of scores ${sum} ≠ SELECT sum(value) ${expectedSum}`);
  console.log(
    `done: ${fmt(stats.rows)} rows in ${stats.batches} batches, in order, in ${ms(stats.elapsed)}; ` +
      `peak in flight ${stats.peakInFlight} (limit ${opts.concurrency}; the API saw ${api.peakInFlight}), ` +
      `peak pending ${stats.peakPending} (window ${opts.window}); sum ${fmt(sum)} matches; transaction ${stats.outcome}`,
  );
}

/** Shows, from the job's own session, that the cancelled or failed job left nothing open. */
async function reportCleanup(db: BatchDb, stats: BatchJobStats, totalBatches: number): Promise<void> {
  await new CancelScope({ shield: true, relativeDeadline: 2000 }).run(async () => {
    let cursors = "unknown (the connection is gone)";
    try {
      cursors = String((await cancellable(openCursors(db))).length);
    } catch (e) {
      if (isCancelled(e)) throw e;
    }
    console.log(
      `stopped after ${stats.batches} of ${totalBatches} batches (${fmt(stats.rows)} rows): transaction ${stats.outcome}; ` +
        `open cursors: ${cursors}; in transaction: ${db.inTransaction() ? "yes" : "no"}`,
    );
  });
}

/** The one line to print for an error, and the exit code. */
function describeFailure(e: unknown, opts: Options | undefined): [string, number] {
  if (e instanceof UsageError) return [`${e.message} (see --help)`, 2];
  if (e instanceof DatabaseUrlError) return [e.message, e.malformed ? 2 : 1];
  if (e instanceof Interrupted) return ["interrupted (Ctrl-C)", 130];
  if (e instanceof TooSlowError) return [`timed out after ${ms(opts!.timeout!)} (--timeout)`, 124];
  if (e instanceof ExceptionGroup) {
    const leaf = e.errors.find((x) => !isCancelled(x)) ?? e.errors[0];
    return describeFailure(leaf, opts);
  }
  return [oneLine(e), 1];
}

let opts: Options | undefined;
let code = 0;
const abort = new AbortController();
const onSigint = () => {
  abort.abort(new Interrupted("interrupted"));
  // A second Ctrl-C does not wait for the (bounded) cleanup. One within 500 ms is not a second press:
  // tsx's CLI (`npx tsx main.ts`) re-sends SIGINT to its child when the child is slow to acknowledge.
  const first = performance.now();
  process.on("SIGINT", () => {
    if (performance.now() - first > 500) process.exit(130);
  });
};
process.once("SIGINT", onSigint);
try {
  opts = parseOptions(process.argv.slice(2));
  if (opts.databaseUrl !== undefined) describeDatabaseUrl(opts.databaseUrl); // malformed: fail before anything starts
  const o = opts;
  await run(() => main(o), { signal: abort.signal });
} catch (e) {
  const [message, exitCode] = describeFailure(e, opts);
  console.error(`db-batches: ${message}`);
  code = exitCode;
}
process.off("SIGINT", onSigint);
process.exitCode = code;
// Everything was closed above; should a socket of a dead server linger, do not hang on it.
setTimeout(() => process.exit(code), 1000).unref();
