/**
 * The database side of the example: the few operations the batch job needs, as one small interface
 * with two implementations (PGlite in-process, node-postgres against a server), so the job itself
 * is the same code for both.
 *
 * These methods return plain (foreign) promises; the job awaits them through `cancellable`, which
 * makes each one a Quartet checkpoint. A query that is abandoned that way still runs to completion on
 * the connection: both drivers queue statements per connection, so the cleanup's `CLOSE`/`ROLLBACK`
 * simply run after it.
 */
import type { PGlite } from "@electric-sql/pglite";
import { cancellable, isCancelled } from "@quartet/core";
import pg from "pg";

/** One database session: a PGlite instance or one server connection (a cursor lives in a session). */
export interface BatchDb {
  /** Runs one statement; resolves with its rows. */
  query<R>(sql: string, params?: unknown[]): Promise<R[]>;
  /** `BEGIN`. */
  begin(): Promise<void>;
  /** `DECLARE <name> NO SCROLL CURSOR FOR <select>`: needs an open transaction. */
  declareCursor(name: string, select: string): Promise<void>;
  /** `FETCH <n> FROM <name>`: the next `n` rows, fewer at the end, none once exhausted. */
  fetch<R>(name: string, n: number): Promise<R[]>;
  /** `CLOSE <name>`. */
  closeCursor(name: string): Promise<void>;
  /** `COMMIT`. */
  commit(): Promise<void>;
  /** `ROLLBACK` (also drops every cursor the transaction opened). */
  rollback(): Promise<void>;
  /**
   * Whether the session is inside a transaction block, as last reported by the server (the
   * ReadyForQuery status). Synchronous: used to check that a cancelled job left nothing open.
   */
  inTransaction(): boolean;
}

/** What both drivers have in common: `query(sql, params)` resolving with `{ rows }`. */
interface Queryable {
  query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }>;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

function cursorName(fn: string, name: string): string {
  if (typeof name !== "string" || !IDENTIFIER.test(name)) {
    throw new TypeError(`${fn}: cursor name must be a lower-case SQL identifier, got ${JSON.stringify(name)}`);
  }
  return name;
}

/** The statements, written once; only `query` and the transaction status differ per driver. */
class SqlSession implements BatchDb {
  constructor(
    private readonly conn: Queryable,
    private readonly txStatus: () => boolean,
  ) {}

  async query<R>(sql: string, params?: unknown[]): Promise<R[]> {
    const res = await (params === undefined ? this.conn.query(sql) : this.conn.query(sql, params));
    return res.rows as R[];
  }
  async begin(): Promise<void> {
    await this.conn.query("BEGIN");
  }
  async declareCursor(name: string, select: string): Promise<void> {
    await this.conn.query(`DECLARE ${cursorName("declareCursor", name)} NO SCROLL CURSOR FOR ${select}`);
  }
  fetch<R>(name: string, n: number): Promise<R[]> {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`fetch: n must be a positive integer, got ${n}`);
    return this.query<R>(`FETCH ${n} FROM ${cursorName("fetch", name)}`);
  }
  async closeCursor(name: string): Promise<void> {
    await this.conn.query(`CLOSE ${cursorName("closeCursor", name)}`);
  }
  async commit(): Promise<void> {
    await this.conn.query("COMMIT");
  }
  async rollback(): Promise<void> {
    await this.conn.query("ROLLBACK");
  }
  inTransaction(): boolean {
    return this.txStatus();
  }
}

/**
 * A `BatchDb` on a PGlite instance (real Postgres compiled to WebAssembly, in this process).
 *
 * @example
 * ```ts
 * const pglite = await PGlite.create();
 * const db = pgliteDb(pglite);
 * ```
 */
export function pgliteDb(pglite: PGlite): BatchDb {
  return new SqlSession(pglite as Queryable, () => pglite.isInTransaction());
}

/**
 * A `BatchDb` on one connected node-postgres `Client` (not a `Pool`: the cursor belongs to one
 * session, so every statement must go to the same connection).
 *
 * @example
 * ```ts
 * const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
 * await client.connect();
 * const db = pgClientDb(client);
 * ```
 */
export function pgClientDb(client: pg.Client): BatchDb {
  // "I" idle, "T" in a transaction block, "E" in a failed one (null before the first ReadyForQuery).
  return new SqlSession(client as unknown as Queryable, () => {
    const s = client.getTransactionStatus();
    return s === "T" || s === "E";
  });
}

/** A problem the user can fix (bad DATABASE_URL, server unreachable, wrong password): one line. */
export class DatabaseUrlError extends Error {
  override name = "DatabaseUrlError";
  /** `true` when the URL itself is wrong (not a postgres:// URL), `false` when connecting failed. */
  readonly malformed: boolean;
  constructor(message: string, malformed: boolean) {
    super(message);
    this.malformed = malformed;
  }
}

/**
 * Checks that `url` is a `postgres://` or `postgresql://` URL and returns it with the password
 * masked, for messages. Throws `DatabaseUrlError` otherwise.
 */
export function describeDatabaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DatabaseUrlError("DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)", true);
  }
  if (u.protocol !== "postgres:" && u.protocol !== "postgresql:") {
    throw new DatabaseUrlError(`DATABASE_URL must start with postgres:// or postgresql://, got ${u.protocol}//…`, true);
  }
  if (u.password !== "") u.password = "***";
  return u.toString();
}

/** An open server session and how to close it. */
export interface PgConnection {
  client: pg.Client;
  db: BatchDb;
  /** Ends the session (the server rolls back anything still open). Never rejects. */
  close(): Promise<void>;
}

/**
 * Connects one node-postgres client to `url`, giving up after `connectTimeoutMs`. Every failure
 * (malformed URL, refused or unreachable host, wrong password, unknown database, timeout) becomes a
 * `DatabaseUrlError` with a one-line message naming the (password-masked) URL.
 *
 * A Quartet checkpoint: if the caller is cancelled (Ctrl-C) while connecting, it rejects with
 * `Cancelled` at once, and the client is ended as soon as the abandoned connect settles.
 *
 * @example
 * ```ts
 * const conn = await connectPostgres(process.env.DATABASE_URL!, 5000);
 * try { await runBatchJob({ db: conn.db, … }); } finally { await conn.close(); }
 * ```
 */
export async function connectPostgres(url: string, connectTimeoutMs: number): Promise<PgConnection> {
  const shown = describeDatabaseUrl(url);
  const client = new pg.Client({
    connectionString: url,
    connectionTimeoutMillis: connectTimeoutMs,
    application_name: "quartet db-batches",
  });
  // A connection that dies mid-job fails the running query, which is what reports it; without a
  // listener the 'error' event would crash the process instead.
  client.on("error", () => {});
  const end = () => client.end().catch(() => {});
  const connecting = client.connect();
  try {
    await cancellable(connecting);
  } catch (e) {
    if (isCancelled(e)) {
      connecting.then(end, end); // end the client once the abandoned connect settles
      throw e;
    }
    void end();
    // node-postgres reports its own connect timeout as "timeout expired" (or, in some versions,
    // "Connection terminated due to connection timeout"): say which limit that was.
    const why = /timeout expired|connection timeout/i.test(oneLine(e)) ? `no answer within ${connectTimeoutMs} ms` : oneLine(e);
    throw new DatabaseUrlError(`cannot connect to ${shown}: ${why}`, false);
  }
  return { client, db: pgClientDb(client), close: end };
}

/** The first line of an error's message, with the code of errors that only have one (ECONNREFUSED). */
export function oneLine(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) return oneLine(e.errors[0]);
  if (e instanceof Error) {
    const msg = e.message.split("\n")[0]!.trim();
    const code = (e as { code?: unknown }).code;
    if (msg !== "") return msg;
    if (typeof code === "string") return code;
    return e.name;
  }
  return String(e);
}

/** The example's table: `id` 1…rows in order, `value` a deterministic 0…999. */
export const ITEMS_TABLE = "db_batches_items";

/**
 * Creates and fills the temporary table `db_batches_items(id int primary key, value int)` in this
 * session (a TEMP table: it disappears with the session and touches nothing else in the database).
 * Resolves with the sum of `value`, for checking the job's results.
 */
export async function seedItems(db: BatchDb, rows: number): Promise<number> {
  await db.query(`DROP TABLE IF EXISTS pg_temp.${ITEMS_TABLE}`);
  await db.query(`CREATE TEMP TABLE ${ITEMS_TABLE} (id int PRIMARY KEY, value int NOT NULL)`);
  await db.query(
    `INSERT INTO ${ITEMS_TABLE} SELECT g, (g * 7919) % 1000 FROM generate_series(1, $1::int) AS g`,
    [rows],
  );
  const [{ total }] = await db.query<{ total: number }>(
    `SELECT coalesce(sum(value), 0)::int AS total FROM ${ITEMS_TABLE}`,
  );
  return total;
}

/**
 * Named cursors open in this session. (Filtered on the name because PGlite runs `query` through the
 * extended protocol, whose unnamed portal — this very query — is listed in `pg_cursors` too.)
 */
export async function openCursors(db: BatchDb): Promise<string[]> {
  const rows = await db.query<{ name: string }>("SELECT name FROM pg_cursors WHERE name <> '' ORDER BY name");
  return rows.map((r) => r.name);
}
