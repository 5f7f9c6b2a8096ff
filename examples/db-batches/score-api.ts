/**
 * The "external API" of the example: a real HTTP service on 127.0.0.1 (node:http) that scores a batch
 * of rows after a variable, sometimes long, delay, and the client call that the job makes to it.
 *
 * The server counts the requests it is handling at once, so the bounded concurrency of the client is
 * checked from the other end of a real socket, and it notices when a client gives up on a request
 * (the connection closes before the answer), which is how a cancelled job shows up on a server.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { cancellable, isCancelled } from "@quartet/core";

/** A row as the job sends it. */
export interface Item {
  id: number;
  value: number;
}

/** What the API answers for one batch. */
export interface BatchScore {
  batch: number;
  count: number;
  firstId: number;
  lastId: number;
  sum: number;
}

/** How the fake service behaves, per batch index. */
export interface ScoreApiOptions {
  /**
   * How long to take over batch `batch`: milliseconds, or a promise to wait for (tests use one to
   * hold a batch until they release it). Default: `defaultDelay(20)`.
   */
  delay?: (batch: number) => number | Promise<void>;
  /** Answer `500` for this batch instead of a score. */
  fail?: (batch: number) => boolean;
}

/** A running score API. */
export interface ScoreApi {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Requests being handled right now. */
  readonly inFlight: number;
  /** The most requests ever handled at once. */
  readonly peakInFlight: number;
  /** Requests received, by batch index, in arrival order. */
  readonly received: number[];
  /** Requests whose client went away before the answer was sent. */
  readonly abandoned: number;
  /** Stops listening, drops every connection and pending answer. */
  close(): Promise<void>;
}

/**
 * Usually `base/2 … 3·base/2` ms, and every 16th batch ten times that: "variable, sometimes slow".
 * Deterministic (a hash of the batch index), so runs are comparable.
 */
export function defaultDelay(base: number): (batch: number) => number {
  return (batch) => {
    const h = Math.imul(batch + 1, 2654435761) >>> 0;
    const jitter = base * (0.5 + (h % 1000) / 1000);
    return Math.round(batch % 16 === 7 ? jitter * 10 : jitter);
  };
}

/**
 * Starts the score API on a free port of 127.0.0.1: `POST /score` with `{ batch, rows: Item[] }`
 * answers `{ batch, count, firstId, lastId, sum }`.
 *
 * @example
 * ```ts
 * const api = await startScoreApi({ delay: defaultDelay(20) });
 * try { console.log(await scoreBatch(api.url, 0, [{ id: 1, value: 5 }])); } finally { await api.close(); }
 * ```
 */
export async function startScoreApi(opts: ScoreApiOptions = {}): Promise<ScoreApi> {
  const delay = opts.delay ?? defaultDelay(20);
  const fail = opts.fail ?? (() => false);
  const timers = new Set<NodeJS.Timeout>();
  const stats = { inFlight: 0, peakInFlight: 0, abandoned: 0, received: [] as number[] };

  const server = http.createServer((req, res) => {
    if (req.method !== "POST" || req.url !== "/score") {
      res.writeHead(404).end();
      return;
    }
    stats.inFlight++;
    stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
    let finished = false;
    const done = () => {
      if (finished) return;
      finished = true;
      stats.inFlight--;
    };
    res.on("close", () => {
      if (!res.writableFinished) stats.abandoned++;
      done();
    });
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      let body: { batch: number; rows: Item[] };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        if (!Number.isInteger(body.batch) || !Array.isArray(body.rows) || body.rows.length === 0) throw new Error();
      } catch {
        res.writeHead(400).end("expected { batch, rows }");
        return;
      }
      stats.received.push(body.batch);
      const answer = () => {
        if (res.destroyed) return;
        if (fail(body.batch)) {
          res.writeHead(500, { "content-type": "text/plain" }).end("scoring failed");
          return;
        }
        let sum = 0;
        for (const r of body.rows) sum += r.value;
        const score: BatchScore = {
          batch: body.batch,
          count: body.rows.length,
          firstId: body.rows[0]!.id,
          lastId: body.rows[body.rows.length - 1]!.id,
          sum,
        };
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(score));
      };
      const d = delay(body.batch);
      if (typeof d === "number") {
        const t = setTimeout(() => {
          timers.delete(t);
          answer();
        }, d);
        timers.add(t);
        // A client that gives up must not leave a timer behind.
        res.on("close", () => {
          clearTimeout(t);
          timers.delete(t);
        });
      } else {
        d.then(answer, () => res.destroy());
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    get inFlight() {
      return stats.inFlight;
    },
    get peakInFlight() {
      return stats.peakInFlight;
    },
    get received() {
      return stats.received;
    },
    get abandoned() {
      return stats.abandoned;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Sends one batch to the score API and returns its answer. A Quartet checkpoint: when the calling
 * task is cancelled, the request is aborted (the server sees the connection go) and this rejects with
 * `Cancelled` at once.
 *
 * @example
 * ```ts
 * const score = await scoreBatch(api.url, 3, rows);
 * ```
 */
export async function scoreBatch(apiUrl: string, batch: number, rows: Item[]): Promise<BatchScore> {
  try {
    return await cancellable(async (signal) => {
      const res = await fetch(`${apiUrl}/score`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ batch, rows }),
        signal,
      });
      if (!res.ok) {
        await res.body?.cancel();
        throw new Error(`score API answered ${res.status} ${res.statusText} for batch ${batch}`);
      }
      return (await res.json()) as BatchScore;
    });
  } catch (e) {
    if (isCancelled(e) || !(e instanceof TypeError)) throw e;
    // fetch reports network failures as TypeError("fetch failed") with the reason in `cause`.
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw new Error(`score API at ${apiUrl} is unreachable: ${cause?.code ?? cause?.message ?? e.message}`);
  }
}
