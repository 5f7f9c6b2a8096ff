// The db-batches example against the real things: PGlite (always) and the machine's PostgreSQL server
// (a throwaway cluster, when its binaries are present), a real HTTP API on 127.0.0.1, and the CLI as
// a user runs it. The reorder buffer's own logic is tested on virtual time.
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { PGlite } from "@electric-sql/pglite";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from "vitest";
import {
  BusyResourceError,
  ExceptionGroup,
  TooSlowError,
  failAfter,
  moveOnAfter,
  openNursery,
  run,
  sleep,
} from "@quartet/core";
import { currentStatistics } from "@quartet/core/lowlevel";
import { quartetTest } from "@quartet/testing";
import { newBatchJobStats, runBatchJob, type BatchJobStats } from "./batch-job.js";
import { ITEMS_TABLE, connectPostgres, openCursors, pgliteDb, seedItems, type BatchDb, type PgConnection } from "./db.js";
import { ReorderBuffer } from "./reorder-buffer.js";
import { defaultDelay, scoreBatch, startScoreApi, type BatchScore, type Item, type ScoreApi } from "./score-api.js";
import { clusterSetup, startThrowawayCluster, type ThrowawayCluster } from "./throwaway-cluster.js";

const ROWS = 100_000;
const BATCH = 500;
const BATCHES = ROWS / BATCH;
const SELECT = `SELECT id, value FROM ${ITEMS_TABLE} ORDER BY id`;

/** What the scenarios need from a backend, beyond the job's own `BatchDb`. */
interface Backend {
  db: BatchDb;
  expectedSum: number;
  /** `SELECT count(*) FROM pg_cursors`, literally, on the job's session (simple protocol). */
  cursorCount(): Promise<number>;
  /** Whether the job's session is in a transaction, as seen by the database itself. */
  serverSaysInTransaction(): Promise<boolean>;
}

// ---------------------------------------------------------------------------------------------------
// Helpers

/** Polls `cond` every 5 ms (real time, inside a run) until it holds; fails after `ms`. */
async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const ok = await moveOnAfter(ms, async () => {
    while (!cond()) await sleep(5);
    return true;
  });
  if (ok !== true) throw new Error(`timed out waiting for ${what}`);
}

/** The messages of the errors in a (nested) ExceptionGroup. */
function leaves(e: unknown): string[] {
  return e instanceof ExceptionGroup ? e.errors.flatMap(leaves) : [(e as Error).message];
}

/** A promise the test resolves when it wants the API to answer held batches. */
function gate(): { wait: Promise<void>; open(): void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => (open = r));
  return { wait, open };
}

/** Collects what the job emits and checks it is exactly batches 0…n-1 of the table, in order. */
function collector() {
  const seen: BatchScore[] = [];
  return {
    seen,
    emit: (score: BatchScore, index: number) => {
      expect(score.batch).toBe(index);
      seen.push(score);
    },
    expectInOrder(batches: number) {
      expect(seen.map((s) => s.batch)).toEqual(Array.from({ length: batches }, (_, i) => i));
      seen.forEach((s, i) => {
        expect(s.firstId).toBe(i * BATCH + 1);
        expect(s.lastId).toBe((i + 1) * BATCH);
        expect(s.count).toBe(BATCH);
      });
    },
  };
}

/** The runtime of the current run is quiet: only the main task, nothing parked, no deadline. */
function expectRunQuiet(): void {
  const s = currentStatistics();
  expect({ tasksLiving: s.tasksLiving, waitersParked: s.waitersParked, pendingDeadlines: s.pendingDeadlines, foreignWaits: s.foreignWaits })
    .toEqual({ tasksLiving: 1, waitersParked: 0, pendingDeadlines: 0, foreignWaits: 0 });
}

/** After a failed or cancelled job: no cursor, no transaction, and the API has nothing running. */
async function expectCleanedUp(b: Backend, stats: BatchJobStats, api: ScoreApi, heldRequests: boolean): Promise<void> {
  expect(stats.outcome).toBe("rolled back");
  expect(await b.cursorCount()).toBe(0);
  expect(b.db.inTransaction()).toBe(false);
  expect(await b.serverSaysInTransaction()).toBe(false);
  // The aborted HTTP requests reach the server as closed connections.
  await until(() => api.inFlight === 0, "the API to see every request end", 5000);
  // Requests still unanswered at the cancellation were given up by the client, not left hanging.
  if (heldRequests) expect(api.abandoned).toBeGreaterThan(0);
}

// Process-level leak check: every test leaves no more sockets, servers or timers than it found.
const HANDLES = ["Timeout", "TCPSocketWrap", "TCPServerWrap"];
function handleCounts(): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of process.getActiveResourcesInfo()) if (HANDLES.includes(k)) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}
let handlesBefore = new Map<string, number>();
beforeEach(() => {
  handlesBefore = handleCounts();
});
afterEach(async () => {
  const over = () => HANDLES.filter((k) => (handleCounts().get(k) ?? 0) > (handlesBefore.get(k) ?? 0));
  for (let i = 0; i < 50 && over().length > 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(over(), "handles left behind").toEqual([]);
});

// ---------------------------------------------------------------------------------------------------
// The scenarios, for each backend

function jobScenarios(backend: () => Backend): void {
  test(`full run: ${ROWS.toLocaleString("en-US")} rows in ${BATCHES} batches, in order, at most k API calls at once`, async () => {
    const b = backend();
    // ~10 ms per batch, every 16th ~100 ms: slow ones hold the window while the rest overtake them.
    const api = await startScoreApi({ delay: defaultDelay(10) });
    try {
      const out = collector();
      const stats = await run(async () => {
        const s = await runBatchJob<Item, BatchScore>({
          db: b.db, select: SELECT, batchSize: BATCH, concurrency: 8, window: 24,
          processBatch: (rows, i) => scoreBatch(api.url, i, rows),
          emit: out.emit,
        });
        expectRunQuiet();
        return s;
      });
      out.expectInOrder(BATCHES);
      expect(out.seen.reduce((sum, s) => sum + s.sum, 0)).toBe(b.expectedSum);
      expect(stats).toMatchObject({ fetched: BATCHES, batches: BATCHES, rows: ROWS, inFlight: 0, pending: 0, outcome: "committed" });
      // Bounded, and actually concurrent: seen by the job and, over real sockets, by the API.
      expect(stats.peakInFlight).toBeLessThanOrEqual(8);
      expect(api.peakInFlight).toBeLessThanOrEqual(8);
      expect(api.peakInFlight).toBeGreaterThan(1);
      expect(stats.peakPending).toBeLessThanOrEqual(24);
      expect(await b.cursorCount()).toBe(0);
      expect(await b.serverSaysInTransaction()).toBe(false);
    } finally {
      await api.close();
    }
  });

  test("backpressure: while batch 0 is stuck, the fetcher stops `window` batches ahead", async () => {
    const b = backend();
    const stuck = gate();
    const api = await startScoreApi({ delay: (i) => (i === 0 ? stuck.wait : 1) });
    try {
      const out = collector();
      const stats = newBatchJobStats();
      await run(() =>
        openNursery(async (n) => {
          n.startSoon(() =>
            runBatchJob<Item, BatchScore>({
              db: b.db, select: SELECT, batchSize: BATCH, concurrency: 4, window: 10, stats,
              processBatch: (rows, i) => scoreBatch(api.url, i, rows),
              emit: out.emit,
            }),
          );
          await until(() => stats.fetched >= 10 && api.received.length >= 10, "10 batches fetched and sent");
          await sleep(300); // time to run further ahead, if it could
          expect(stats.fetched).toBe(10);
          expect(stats.batches).toBe(0); // nothing can be emitted before batch 0
          expect(stats.pending).toBe(10);
          expect(api.received).toHaveLength(10);
          stuck.open();
        }),
      );
      out.expectInOrder(BATCHES);
      expect(stats.peakPending).toBe(10);
      expect(stats.outcome).toBe("committed");
    } finally {
      stuck.open();
      await api.close();
    }
  });

  test("a timeout on the whole job closes the cursor and rolls the transaction back", async () => {
    const b = backend();
    const never = gate(); // batches ≥ 3 never get an answer: the timeout always hits mid-job
    const api = await startScoreApi({ delay: (i) => (i >= 3 ? never.wait : 1) });
    try {
      const out = collector();
      const stats = newBatchJobStats();
      let cursorsDuring: string[] = [];
      await run(async () => {
        const err = await failAfter(1500, () =>
          runBatchJob<Item, BatchScore>({
            db: b.db, select: SELECT, batchSize: BATCH, concurrency: 4, stats,
            processBatch: (rows, i) => scoreBatch(api.url, i, rows),
            emit: async (score, i) => {
              out.emit(score, i);
              // The same session, mid-job: the cursor is there (so the check after is meaningful).
              if (i === 0) cursorsDuring = await openCursors(b.db);
            },
          }),
        ).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(TooSlowError);
        expectRunQuiet();
      });
      expect(cursorsDuring).toEqual(["batches"]);
      out.expectInOrder(3);
      expect(stats.fetched).toBeGreaterThan(3);
      await expectCleanedUp(b, stats, api, true);
    } finally {
      never.open();
      await api.close();
    }
  });

  test("Ctrl-C (the run's AbortSignal) closes the cursor and rolls the transaction back", async () => {
    const b = backend();
    const never = gate();
    const ctrlC = new AbortController();
    const api = await startScoreApi({
      delay: (i) => {
        if (i === 5) setImmediate(() => ctrlC.abort(new Error("interrupted"))); // signal while calls are in flight
        return i >= 5 ? never.wait : 1;
      },
    });
    try {
      const stats = newBatchJobStats();
      const out = collector();
      const err = await run(
        () =>
          runBatchJob<Item, BatchScore>({
            db: b.db, select: SELECT, batchSize: BATCH, concurrency: 4, stats,
            processBatch: (rows, i) => scoreBatch(api.url, i, rows),
            emit: out.emit,
          }),
        { signal: ctrlC.signal },
      ).then(() => undefined, (e: unknown) => e);
      expect((err as Error).message).toBe("interrupted");
      expect(stats.batches).toBeLessThanOrEqual(5);
      await expectCleanedUp(b, stats, api, true);
    } finally {
      never.open();
      await api.close();
    }
  });

  test("a failing API call fails the job: the error comes out, the transaction is rolled back", async () => {
    const b = backend();
    const api = await startScoreApi({ delay: () => 1, fail: (i) => i === 7 });
    try {
      const stats = newBatchJobStats();
      const out = collector();
      const err = await run(() =>
        runBatchJob<Item, BatchScore>({
          db: b.db, select: SELECT, batchSize: BATCH, concurrency: 4, stats,
          processBatch: (rows, i) => scoreBatch(api.url, i, rows),
          emit: out.emit,
        }),
      ).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(ExceptionGroup);
      expect(leaves(err)).toEqual(["score API answered 500 Internal Server Error for batch 7"]);
      // Batches 0…6 may or may not have been emitted when batch 7 failed (they run concurrently),
      // but whatever came out came out in order, and nothing from batch 7 on.
      expect(out.seen.length).toBeLessThanOrEqual(7);
      out.expectInOrder(out.seen.length);
      await expectCleanedUp(b, stats, api, false);
    } finally {
      await api.close();
    }
  });
}

// ---------------------------------------------------------------------------------------------------
// PGlite: always

describe("on PGlite (Postgres in WebAssembly)", () => {
  let pglite: PGlite;
  let backend: Backend;

  beforeAll(async () => {
    pglite = await PGlite.create(); // 5-10 s on a busy 2-core machine: once for the whole file
    const db = pgliteDb(pglite);
    const expectedSum = await seedItems(db, ROWS);
    backend = {
      db,
      expectedSum,
      cursorCount: async () => (await pglite.exec("SELECT count(*)::int AS n FROM pg_cursors"))[0]!.rows[0]!.n as number,
      serverSaysInTransaction: async () => pglite.isInTransaction(),
    };
  }, 120_000);
  afterAll(async () => {
    await pglite?.close();
  });

  jobScenarios(() => backend);
});

// ---------------------------------------------------------------------------------------------------
// The machine's PostgreSQL server: when its binaries are here

const setup = clusterSetup();
const skipServer = typeof setup === "string" ? setup : undefined;

describe.skipIf(skipServer !== undefined)(
  `on a PostgreSQL server (throwaway cluster)${skipServer ? ` — skipped: ${skipServer}` : ""}`,
  () => {
    let cluster: ThrowawayCluster;
    let conn: PgConnection;
    let observer: pg.Client;
    let backend: Backend;

    beforeAll(async () => {
      cluster = await startThrowawayCluster();
      conn = await connectPostgres(cluster.url(), 5000);
      observer = new pg.Client({ connectionString: cluster.url() });
      await observer.connect();
      const pid = (await conn.client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
      const expectedSum = await seedItems(conn.db, ROWS);
      backend = {
        db: conn.db,
        expectedSum,
        cursorCount: async () =>
          (await conn.client.query<{ n: number }>("SELECT count(*)::int AS n FROM pg_cursors")).rows[0]!.n,
        // From another session: 'idle' is done, 'idle in transaction' would be a leak.
        serverSaysInTransaction: async () => {
          const { rows } = await observer.query<{ state: string }>("SELECT state FROM pg_stat_activity WHERE pid = $1", [pid]);
          expect(rows).toHaveLength(1);
          return rows[0]!.state !== "idle";
        },
      };
    }, 120_000);
    afterAll(async () => {
      await observer?.end();
      await conn?.close();
      await cluster?.stop();
    }, 30_000);

    jobScenarios(() => backend);

    test("the connection dies mid-job: the job fails with the driver's error, the cleanup gives up at once", async () => {
      const own = await connectPostgres(cluster.url(), 5000);
      const stuck = gate();
      const api = await startScoreApi({ delay: (i) => (i === 2 ? stuck.wait : 1) });
      try {
        await seedItems(own.db, 20_000);
        const pid = (await own.client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid;
        const stats = newBatchJobStats();
        const err = await run(() =>
          openNursery(async (n) => {
            n.startSoon(() =>
              runBatchJob<Item, BatchScore>({
                db: own.db, select: SELECT, batchSize: BATCH, concurrency: 4, window: 6, stats,
                processBatch: (rows, i) => scoreBatch(api.url, i, rows),
                emit: () => {},
              }),
            );
            // Batches 0 and 1 are emitted; batch 2 is held, so the fetcher stops with 6 pending (2…7).
            await until(() => api.received.includes(2) && stats.pending === 6, "batch 2 held and the window full");
            expect(stats.fetched).toBe(8);
            await observer.query("SELECT pg_terminate_backend($1)", [pid]);
            stuck.open(); // the job uses the connection again: the next FETCH fails
          }),
        ).then(() => undefined, (e: unknown) => e);
        expect(err).toBeInstanceOf(ExceptionGroup);
        // Which one depends on whether the driver saw the connection drop before the next FETCH.
        const messages = leaves(err);
        expect(messages).toHaveLength(1);
        // node-postgres words a dead connection three ways, depending on when it noticed: each is right.
        const dead = "(Client has encountered a connection error and is not queryable|terminating connection due to administrator command|Connection terminated( unexpectedly)?)";
        expect(messages[0]).toMatch(new RegExp(`^${dead}$`));
        expect(stats.outcome).toMatch(new RegExp(`^cleanup failed: ${dead}$`));
        // The server rolled the dead session back: it is gone (a terminated backend can linger in
        // pg_stat_activity for a moment while its process exits, so give it a few seconds).
        let rows: unknown[] = [];
        for (let i = 0; i < 100; i++) {
          rows = (await observer.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [pid])).rows;
          if (rows.length === 0) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        expect(rows).toEqual([]);
      } finally {
        stuck.open();
        await api.close();
        await own.close();
      }
    });

    test("the CLI: a full run against the server", async () => {
      const r = await runCli(["--rows", "20000", "--api-delay", "2"], { DATABASE_URL: cluster.url() });
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^done: 20,000 rows in 40 batches, in order, .*sum [\d,]+ matches; transaction committed$/m);
      expect(r.stdout).toMatch(/peak in flight [1-8] \(limit 8; the API saw [1-8]\)/);
    });

    test("the CLI: --timeout stops the job, cursor closed, nothing left open (exit 124)", async () => {
      const r = await runCli(["--timeout", "800", "--api-delay", "100"], { DATABASE_URL: cluster.url() });
      expect(r.code).toBe(124);
      expect(r.stdout).toMatch(/transaction rolled back; open cursors: 0; in transaction: no$/m);
      expect(oneLine(r.stderr)).toBe("db-batches: timed out after 800 ms (--timeout)");
    });

    test("the CLI: Ctrl-C stops the job, cursor closed, nothing left open (exit 130)", async () => {
      const r = await runCli(["--api-delay", "100"], { DATABASE_URL: cluster.url() }, { interruptOn: /^ {2}batch /m });
      expect(r.code).toBe(130);
      expect(r.stdout).toMatch(/transaction rolled back; open cursors: 0; in transaction: no$/m);
      expect(oneLine(r.stderr)).toBe("db-batches: interrupted (Ctrl-C)");
    });

    test("the CLI: wrong password, unknown database → one line, exit 1", async () => {
      const [bad, nodb] = await Promise.all([
        runCli([], { DATABASE_URL: cluster.url({ password: "wrong" }) }),
        runCli([], { DATABASE_URL: cluster.url({ database: "nope" }) }),
      ]);
      expect(bad.code).toBe(1);
      expect(oneLine(bad.stderr)).toBe(
        `db-batches: cannot connect to postgres://test:***@127.0.0.1:${cluster.port}/postgres: password authentication failed for user "test"`,
      );
      expect(nodb.code).toBe(1);
      expect(oneLine(nodb.stderr)).toMatch(/cannot connect to .*\/nope: database "nope" does not exist$/);
    });
  },
);

// ---------------------------------------------------------------------------------------------------
// The CLI's bad input (no database needed) and Ctrl-C on PGlite

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const tsxCli = path.join(repo, "node_modules/tsx/dist/cli.mjs");
const tsxLoader = pathToFileURL(path.join(repo, "node_modules/tsx/dist/loader.mjs")).href;
const mainTs = path.join(repo, "examples/db-batches/main.ts");

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs main.ts as a user would, through tsx's CLI. `interruptOn`: send SIGINT once stdout matches.
 * Killed after `limitMs`.
 *
 * The Ctrl-C tests load tsx in the same process instead (`node --import tsx`, as `pnpm example`
 * does): tsx's CLI runs the script in a child process, relays a SIGINT to it, and SIGKILLs the child
 * if it does not acknowledge within 30 ms — which a busy child on a loaded machine cannot promise.
 */
function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  opts: { interruptOn?: RegExp; limitMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const childEnv = { ...process.env, ...env };
    if (env.DATABASE_URL === undefined) delete childEnv.DATABASE_URL;
    const node = opts.interruptOn ? ["--import", tsxLoader] : [tsxCli];
    const child = spawn(process.execPath, [...node, "--conditions=quartet-source", mainTs, ...args], {
      cwd: repo,
      env: childEnv,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let interrupted = false;
    child.stdout.on("data", (c: Buffer) => {
      stdout += c.toString();
      if (opts.interruptOn && !interrupted && opts.interruptOn.test(stdout)) {
        interrupted = true;
        child.kill("SIGINT");
      }
    });
    child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const limit = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`the CLI did not finish within ${opts.limitMs ?? 30_000} ms\n${stdout}\n${stderr}`));
    }, opts.limitMs ?? 30_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(limit);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The text, asserting it is exactly one line (plus its newline). */
function oneLine(text: string): string {
  expect(text.endsWith("\n") ? text.slice(0, -1) : text).not.toContain("\n");
  return text.trim();
}

describe("the CLI", () => {
  test("bad arguments → one line on stderr, exit 2", async () => {
    const cases = [
      [["--concurrency", "0"], `db-batches: --concurrency must be an integer ≥ 1, got "0" (see --help)`],
      [["--timeout", "soon"], `db-batches: --timeout must be an integer ≥ 1, got "soon" (see --help)`],
      [["--bogus"], "db-batches: Unknown option '--bogus' (see --help)"],
    ] as const;
    const results = await Promise.all(cases.map(([args]) => runCli([...args], { DATABASE_URL: undefined })));
    results.forEach((r, i) => {
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(oneLine(r.stderr)).toBe(cases[i]![1]);
    });
  });

  test("a malformed or non-postgres DATABASE_URL → one line, exit 2", async () => {
    const [bad, mysql] = await Promise.all([
      runCli([], { DATABASE_URL: "not a url" }),
      runCli([], { DATABASE_URL: "mysql://root:pw@127.0.0.1/db" }),
    ]);
    expect(bad.code).toBe(2);
    expect(oneLine(bad.stderr)).toBe(
      "db-batches: DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)",
    );
    expect(mysql.code).toBe(2);
    expect(oneLine(mysql.stderr)).toBe("db-batches: DATABASE_URL must start with postgres:// or postgresql://, got mysql://…");
  });

  test("nothing listening on the port → one line, exit 1, password not shown", async () => {
    const port = await closedPort();
    const r = await runCli([], { DATABASE_URL: `postgres://u:hunter2@127.0.0.1:${port}/db` });
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr)).toBe(
      `db-batches: cannot connect to postgres://u:***@127.0.0.1:${port}/db: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    expect(r.stderr + r.stdout).not.toContain("hunter2");
  });

  test("a server that accepts but never answers → gives up after --connect-timeout, exit 1", async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((s) => sockets.add(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const r = await runCli(["--connect-timeout", "500"], { DATABASE_URL: `postgres://u@127.0.0.1:${port}/db` }, { limitMs: 15_000 });
      expect(r.code).toBe(1);
      expect(oneLine(r.stderr)).toBe(`db-batches: cannot connect to postgres://u@127.0.0.1:${port}/db: no answer within 500 ms`);
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise((r) => silent.close(r));
    }
  });

  test("Ctrl-C on PGlite: cursor closed, transaction rolled back, exit 130", async () => {
    // PGlite's start-up (5-10 s here) dominates this test.
    const r = await runCli(["--api-delay", "100"], { DATABASE_URL: undefined }, { interruptOn: /^ {2}batch /m, limitMs: 90_000 });
    expect(r.code, r.stdout + r.stderr).toBe(130);
    expect(r.stdout).toMatch(/^PGlite ready \(PostgreSQL [\d.]+ in WebAssembly, in memory\)/);
    expect(r.stdout, r.stdout).toMatch(/transaction rolled back; open cursors: 0; in transaction: no$/m);
    expect(oneLine(r.stderr)).toBe("db-batches: interrupted (Ctrl-C)");
  }, 120_000);
});

function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------------------------------------------
// The pieces on their own

describe("ReorderBuffer (virtual time)", () => {
  test("results put in any order come out in index order; take() ends after end()", quartetTest(async () => {
    const buf = new ReorderBuffer<string>(4);
    const out: string[] = [];
    await openNursery(async (n) => {
      n.startSoon(async () => {
        for (let r = await buf.take(); r !== undefined; r = await buf.take()) out.push(`${r.index}:${r.value}`);
      });
      for (let i = 0; i < 4; i++) await buf.reserve();
      for (const i of [2, 0, 3, 1]) {
        await sleep(10);
        buf.put(i, String.fromCharCode(97 + i));
      }
      buf.end(4);
    });
    expect(out).toEqual(["0:a", "1:b", "2:c", "3:d"]);
    expect(buf.peakPending).toBe(4);
  }));

  test("reserve() waits while `window` items are pending, until the oldest is taken", quartetTest(async (clock) => {
    const buf = new ReorderBuffer<number>(2);
    await buf.reserve();
    await buf.reserve();
    let third = -1;
    await openNursery(async (n) => {
      n.startSoon(async () => {
        await buf.reserve();
        third = clock.currentTime();
      });
      await sleep(100);
      buf.put(1, 1); // not the oldest: no room yet
      await sleep(100);
      expect(third).toBe(-1);
      buf.put(0, 0);
      expect(await buf.take()).toEqual({ index: 0, value: 0 });
    });
    expect(third).toBe(200);
    expect(buf.pending).toBe(2);
  }));

  test("a cancelled reserve() holds nothing; a second concurrent take() is refused", quartetTest(async () => {
    const buf = new ReorderBuffer<number>(1);
    await buf.reserve();
    expect(await moveOnAfter(50, () => buf.reserve())).toBeUndefined();
    expect(buf.pending).toBe(1);
    await openNursery(async (n) => {
      n.startSoon(() => buf.take());
      await sleep(1);
      await expect(buf.take()).rejects.toBeInstanceOf(BusyResourceError);
      buf.put(0, 7);
    });
    expect(() => new ReorderBuffer(0)).toThrow(RangeError);
  }));
});

test("scoreBatch: an unreachable API is one clear error", async () => {
  const port = await closedPort();
  await expect(scoreBatch(`http://127.0.0.1:${port}`, 0, [{ id: 1, value: 1 }])).rejects.toThrow(
    `score API at http://127.0.0.1:${port} is unreachable: ECONNREFUSED`,
  );
});
