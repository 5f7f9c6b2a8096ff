// A `node:http` server whose requests are Quartet tasks. The serving task holds a nursery; the
// server's 'request' callback starts one task per request in it (`startSoon` is synchronous and may
// be called from any callback). Each request task runs in its own cancel scope, which is cancelled
// when the client goes away, so everything the handler started (child tasks, upstream requests,
// timers) stops with it. Cancelling the serving task stops accepting connections, cancels every
// request in flight, waits for the handlers to finish, and then closes the remaining connections.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import {
  cancellable,
  CancelScope,
  isCancelled,
  openNursery,
  sleepForever,
  TASK_STATUS_IGNORED,
  type TaskStatus,
} from "@quartet/core";

/** What a running server reports to the `start()` that started it. */
export interface HttpService {
  readonly server: http.Server;
  readonly port: number;
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
}

/** Per-request state shared by `serveHttp` and the handler. */
export class RequestContext {
  /** Set when the client closed the connection before the response was finished. */
  clientGone = false;
  constructor(
    /** 1, 2, 3, … per server. */
    readonly id: number,
  ) {}
}

/**
 * Handles one request, as a task. It may throw: the error is reported to `onError` and the response
 * is failed (500, or the connection is cut if the headers were already sent); other requests go on.
 */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => Promise<void>;

export interface ServeOptions {
  /** Default `127.0.0.1`. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  /** The highWaterMark of every request and response stream (bytes); Node's default if omitted. */
  highWaterMark?: number;
  /** Names the request tasks (`<name> #<id> <method> <url>`). */
  name?: string;
  /** Errors thrown by handlers (never `Cancelled`). Default: `console.error`. */
  onError?: (error: unknown, ctx: RequestContext) => void;
}

/**
 * Serves HTTP until cancelled; `start()` it to get the {@link HttpService} once it is listening. A
 * failure to listen (bad port, port in use) rejects the `start()`.
 *
 * @example
 * ```ts
 * await openNursery(async (n) => {
 *   const hello: RequestHandler = async (req, res) => void res.end("hi\n");
 *   const api = await n.start((s: TaskStatus<HttpService>) => serveHttp(hello, { port: 8080 }, s));
 *   console.log(`listening on ${api.url}`);
 * }); // runs until the surrounding scope is cancelled
 * ```
 */
export async function serveHttp(
  handler: RequestHandler,
  opts: ServeOptions = {},
  status: TaskStatus<HttpService> = TASK_STATUS_IGNORED,
): Promise<never> {
  const host = opts.host ?? "127.0.0.1";
  const name = opts.name ?? "http";
  const onError = opts.onError ?? ((e: unknown) => console.error(`${name}: ${describeError(e)}`));
  const server = http.createServer(opts.highWaterMark === undefined ? {} : { highWaterMark: opts.highWaterMark });
  // Not events.once: that would reject on 'error', and nothing awaits this until the end.
  const closed = new Promise<void>((resolve) => server.once("close", resolve));
  let nextId = 0;
  let accepting = true;
  try {
    await openNursery(async (requests) => {
      server.on("request", (req, res) => {
        if (!accepting) {
          // A kept-alive connection may still bring a request while we shut down; the nursery may be
          // closed already (startSoon would throw in this callback).
          res.writeHead(503, { connection: "close", "content-type": "text/plain; charset=utf-8" }).end("shutting down\n");
          return;
        }
        const ctx = new RequestContext(++nextId);
        requests.startSoon(() => handleRequest(handler, req, res, ctx, onError), {
          name: `${name} #${ctx.id} ${req.method} ${req.url}`,
        });
      });
      try {
        await cancellable((signal) => {
          server.listen({ host, port: opts.port ?? 0, signal });
          return once(server, "listening", { signal });
        });
        const port = (server.address() as AddressInfo).port;
        status.started({ server, port, url: `http://${host}:${port}` });
        await sleepForever();
      } finally {
        accepting = false;
        server.close(); // stop accepting; the nursery now cancels the requests in flight and waits for them
      }
    });
  } finally {
    server.removeAllListeners("request");
    // Every handler has finished (and flushed its response, see endResponse): what is left is idle
    // kept-alive connections, which would otherwise hold the server open for keepAliveTimeout.
    server.closeAllConnections();
    await new CancelScope({ shield: true, relativeDeadline: END_GRACE_MS }).run(() => cancellable(closed));
  }
  throw new Error("unreachable: sleepForever returned");
}

async function handleRequest(
  handler: RequestHandler,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
  onError: (error: unknown, ctx: RequestContext) => void,
): Promise<void> {
  const scope = new CancelScope();
  // 'close' before 'finish' means the connection went away: cancel everything this request started.
  const onClose = (): void => {
    if (res.writableFinished) return;
    ctx.clientGone = true;
    scope.cancel("the client closed the connection");
  };
  res.once("close", onClose);
  try {
    await scope.run(() => handler(req, res, ctx));
  } catch (e) {
    if (isCancelled(e)) throw e; // the server is shutting down: the serving nursery expects it
    onError(e, ctx);
    if (!res.headersSent && !res.destroyed) {
      res.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
      await endResponse(res, "internal error\n");
    } else {
      res.destroy(); // the client must not mistake a truncated body for a complete one
    }
  } finally {
    res.off("close", onClose);
  }
}

/**
 * Writes `chunk` and, if the response's buffer is now at its highWaterMark (`write()` returned
 * false), waits for 'drain'. A cancel point only when it waits.
 *
 * @example
 * ```ts
 * for await (const chunk of rx) await writeChunk(res, chunk);
 * ```
 */
export async function writeChunk(res: ServerResponse, chunk: Buffer | string): Promise<void> {
  if (res.write(chunk)) return;
  await cancellable((signal) => once(res, "drain", { signal }));
}

/** How long `endResponse` waits for the end of a response to be flushed. */
export const END_GRACE_MS = 1000;

/**
 * Ends the response (with `body` or `trailers`) and waits until it has been handed to the socket (or
 * the socket closed), even in cancelled code, for at most {@link END_GRACE_MS}. So a handler that
 * returns has really sent its response, and closing the server's connections afterwards loses nothing.
 *
 * @example
 * ```ts
 * await endResponse(res, { "x-upstream-status": "complete" });
 * ```
 */
export async function endResponse(res: ServerResponse, last?: string | Record<string, string>): Promise<void> {
  if (res.writableEnded || res.destroyed) return;
  const done = new Promise<void>((resolve) => {
    const settle = (): void => {
      res.off("finish", settle);
      res.off("close", settle);
      resolve();
    };
    res.on("finish", settle);
    res.on("close", settle);
  });
  if (typeof last === "object") res.addTrailers(last);
  if (typeof last === "string") res.end(last);
  else res.end();
  await new CancelScope({ shield: true, relativeDeadline: END_GRACE_MS }).run(() => cancellable(done));
}

/** One line for a log or an error message: the first real error of a group, its code if it has one. */
export function describeError(e: unknown): string {
  if (e instanceof AggregateError && e.errors.length > 0) {
    return describeError(e.errors.find((x) => !isCancelled(x)) ?? e.errors[0]);
  }
  if (e instanceof Error) {
    const code = (e as NodeJS.ErrnoException).code;
    return code !== undefined && !e.message.includes(code) ? `${e.message} (${code})` : e.message;
  }
  return String(e);
}
