// The streaming proxy: each request is a task (see serve-http.ts) that opens a nursery with two tasks.
//
//   upstream socket ──► producer ──► channel (channelSize chunks) ──► consumer ──► client socket
//   (highWaterMark)     per-read timeout,                             waits for 'drain'
//                       splits into chunkSize pieces                  (highWaterMark)
//
// The producer reads the upstream response through `fromReadable` with a timeout around each read; a
// stall ends the stream cleanly. The consumer writes to the client and respects backpressure. If the
// client goes away, serveHttp cancels the request's scope: the producer is cancelled at its read or
// its send, and closing its `fromReadable` channel destroys the upstream response, so the upstream
// sees its connection close.
import http, { type IncomingMessage, type ServerResponse } from "node:http";
import net from "node:net";
import { fromReadable, openMemoryChannel, type MemorySendChannel } from "@quartet/channels";
import {
  cancellable,
  EndOfChannel,
  failAfter,
  isCancelled,
  moveOnAfter,
  openNursery,
  TooSlowError,
  type TaskStatus,
} from "@quartet/core";
import { describeError, endResponse, writeChunk, type RequestContext, type RequestHandler } from "./serve-http.js";

/**
 * The three numbers that bound how much of a stream one request holds in memory. They are aligned on
 * one chunk: see the README for the arithmetic.
 */
export interface StreamLimits {
  /**
   * Bytes per chunk. The highWaterMark of the upstream socket (Node stops reading it when this much
   * is buffered), the size of the pieces the producer puts in the channel (bigger reads are split),
   * and the highWaterMark of the client response (`serveHttp`'s `highWaterMark`).
   */
  chunkSize: number;
  /** Chunks the channel holds between the producer and the consumer. */
  channelSize: number;
  /** Timeout (ms) for the upstream's response headers, and for each read of its body. */
  readTimeoutMs: number;
}

export const DEFAULT_LIMITS: StreamLimits = { chunkSize: 16 * 1024, channelSize: 4, readTimeoutMs: 2000 };

/** How a proxied stream ended (sent to the client as the `X-Upstream-Status` trailer). */
export type Outcome = "complete" | "read-timeout" | "failed" | "cancelled";

export type ProxyEvent =
  | { type: "request"; id: number; url: string }
  | { type: "upstream-response"; id: number; status: number }
  | { type: "upstream-failed"; id: number; status: 502 | 504; error: string }
  /** The producer task has exited: how, and what it read from the upstream. */
  | { type: "producer-exit"; id: number; outcome: Outcome; reads: number; bytes: number }
  /** The response to the client ended (or the client was gone). */
  | { type: "response-end"; id: number; outcome: Outcome | "client-gone"; bytes: number };

export interface ProxyOptions extends StreamLimits {
  /** Where to forward: the request's path and query are resolved against it. */
  upstream: URL;
  onEvent?: (event: ProxyEvent) => void;
}

/** What the producer reports once the upstream's headers are in. */
interface UpstreamHead {
  status: number;
  contentType: string;
}

/** The request's progress, shared by its producer and its handler. */
interface Progress {
  outcome: Outcome;
  reads: number;
  bytes: number;
}

/** GET `url` on a fresh connection whose socket buffers at most `highWaterMark` bytes. */
function requestUpstream(url: URL, signal: AbortSignal, highWaterMark: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, {
      signal,
      // No agent: one connection per request, closed at the end ("Connection: close"). net.Socket
      // passes stream options on to its Duplex (net.createServer's highWaterMark works that way), but
      // @types/node does not list them for sockets, hence the cast.
      createConnection: (o) => net.createConnection({ ...o, highWaterMark } as net.NetConnectOpts),
    });
    req.once("response", resolve);
    req.on("error", reject); // stays attached: a later socket error is reported on the response
  });
}

/**
 * The producer task: connects (the `start()` returns once the upstream's headers are in, or rejects
 * with why not), then moves the body into `tx`, one read at a time.
 */
async function produce(
  url: URL,
  tx: MemorySendChannel<Buffer>,
  opts: ProxyOptions,
  progress: Progress,
  status: TaskStatus<UpstreamHead>,
): Promise<void> {
  using send = tx; // closed however the producer ends: the consumer's loop then ends
  const upRes = await failAfter(opts.readTimeoutMs, () =>
    cancellable((signal) => requestUpstream(url, signal, opts.chunkSize)),
  );
  // Closing this channel (on any exit) destroys the upstream response, and so its connection.
  using body = fromReadable<Buffer>(upRes, { maxBufferSize: 0 });
  status.started({
    status: upRes.statusCode ?? 502,
    contentType: upRes.headers["content-type"] ?? "application/octet-stream",
  });
  for (;;) {
    let chunk: Buffer | undefined;
    try {
      chunk = await moveOnAfter(opts.readTimeoutMs, () => body.receive()); // one read, bounded
    } catch (e) {
      if (e instanceof EndOfChannel) {
        progress.outcome = "complete";
        return;
      }
      throw e;
    }
    if (chunk === undefined) {
      progress.outcome = "read-timeout"; // the upstream stalled: end what we have cleanly
      return;
    }
    progress.reads++;
    progress.bytes += chunk.length;
    // A socket read can bring up to 64 KiB at once: split it, so that one channel slot is one chunk.
    for (let at = 0; at < chunk.length; at += opts.chunkSize) {
      await send.send(chunk.subarray(at, at + opts.chunkSize));
    }
  }
}

/** The proxy's request handler, for {@link serveHttp}. */
export function proxyHandler(opts: ProxyOptions): RequestHandler {
  const emit = opts.onEvent ?? (() => undefined);
  return async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const { id } = ctx;
    emit({ type: "request", id, url: req.url ?? "/" });
    const url = new URL((req.url ?? "/").replace(/^\/+/, ""), opts.upstream);
    const progress: Progress = { outcome: "cancelled", reads: 0, bytes: 0 };
    const [tx, rx] = openMemoryChannel<Buffer>(opts.channelSize);
    using chunks = rx;
    let written = 0;
    try {
      await openNursery(async (n) => {
        let head: UpstreamHead;
        try {
          head = await n.start(
            async (status: TaskStatus<UpstreamHead>) => {
              try {
                await produce(url, tx, opts, progress, status);
              } catch (e) {
                progress.outcome = isCancelled(e) ? "cancelled" : "failed";
                throw e;
              } finally {
                emit({ type: "producer-exit", id, outcome: progress.outcome, reads: progress.reads, bytes: progress.bytes });
              }
            },
            { name: `producer #${id}` },
          );
        } catch (e) {
          if (isCancelled(e)) throw e;
          const code = e instanceof TooSlowError ? 504 : 502;
          const error = e instanceof TooSlowError ? `no answer within ${opts.readTimeoutMs} ms` : describeError(e);
          emit({ type: "upstream-failed", id, status: code, error });
          res.writeHead(code, { "content-type": "text/plain; charset=utf-8" });
          return endResponse(res, `upstream ${url.origin}: ${error}\n`);
        }
        emit({ type: "upstream-response", id, status: head.status });
        res.writeHead(head.status, { "content-type": head.contentType, trailer: "X-Upstream-Status" });
        // The consumer: every write waits for 'drain' once the response holds chunkSize bytes.
        for await (const chunk of chunks) {
          await writeChunk(res, chunk);
          written += chunk.length;
        }
      });
    } catch (e) {
      if (isCancelled(e)) throw e; // the client went away, or the server is shutting down
      // The upstream broke mid-stream (the status line is out, so a 502 is no longer possible).
      progress.outcome = "failed";
    } finally {
      if (ctx.clientGone) {
        emit({ type: "response-end", id, outcome: "client-gone", bytes: written });
      } else if (res.headersSent && !res.writableEnded) {
        // Complete, stalled, failed, or cut short by a shutdown: end the body properly and say which.
        await endResponse(res, { "X-Upstream-Status": progress.outcome });
        emit({ type: "response-end", id, outcome: progress.outcome, bytes: written });
      }
    }
  };
}
