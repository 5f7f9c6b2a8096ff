// The slow upstream: a stand-in for a service that streams its answer a little at a time (a log tail,
// an LLM, a long query). It sends a line every `interval` ms and can be told to stall. It runs on
// serveHttp too, so when the proxy goes away mid-stream its request task is cancelled at its sleep,
// which is how it "sees the abort".
//
//   GET /anything?chunks=20&interval=200&stallAfter=3&size=64
//     chunks      how many lines (default: the server's)
//     interval    ms before each line (default: the server's)
//     stallAfter  stop sending after this many lines, and keep the connection open (default: never)
//     size        pad each line to this many bytes (default: no padding)
import type { IncomingMessage, ServerResponse } from "node:http";
import { isCancelled, sleep, sleepForever } from "@quartet/core";
import { endResponse, writeChunk, type RequestContext, type RequestHandler } from "./serve-http.js";

export interface UpstreamOptions {
  /** ms before each line, unless the request says otherwise. */
  intervalMs: number;
  /** Lines per response, unless the request says otherwise. */
  chunks: number;
  onEvent?: (event: UpstreamEvent) => void;
}

export type UpstreamEvent =
  | { type: "request"; id: number; url: string }
  | { type: "stalled"; id: number; sent: number }
  | { type: "finished"; id: number; sent: number }
  /** The client (the proxy) closed the connection before the end. */
  | { type: "aborted"; id: number; sent: number };

/** Line `i` of `total`, padded with dots to `size` bytes (ASCII) when `size` is larger. */
export function upstreamLine(i: number, total: number, size = 0): string {
  const line = `chunk ${i}/${total}`;
  return size > line.length + 1 ? `${line} ${".".repeat(size - line.length - 2)}\n` : `${line}\n`;
}

function param(q: URLSearchParams, key: string, fallback: number): number {
  const raw = q.get(key);
  if (raw === null) return fallback;
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(n) || n < 0 || n > 100_000_000) {
    throw new RangeError(`${key} must be an integer >= 0, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** The upstream's request handler, for {@link serveHttp}. */
export function slowUpstream(opts: UpstreamOptions): RequestHandler {
  const emit = opts.onEvent ?? (() => undefined);
  return async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext) => {
    const { id } = ctx;
    emit({ type: "request", id, url: req.url ?? "/" });
    let chunks: number, interval: number, stallAfter: number, size: number;
    try {
      const q = new URL(req.url ?? "/", "http://upstream").searchParams;
      chunks = param(q, "chunks", opts.chunks);
      interval = param(q, "interval", opts.intervalMs);
      stallAfter = param(q, "stallAfter", Infinity);
      size = param(q, "size", 0);
    } catch (e) {
      res.writeHead(400, { "content-type": "text/plain; charset=utf-8" });
      return endResponse(res, `${(e as Error).message}\n`);
    }
    res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
    res.flushHeaders(); // the status line goes out now, not with the first line
    let sent = 0;
    try {
      for (let i = 1; i <= chunks; i++) {
        if (sent === stallAfter) {
          emit({ type: "stalled", id, sent });
          await sleepForever(); // until the client gives up
        }
        await sleep(interval);
        await writeChunk(res, upstreamLine(i, chunks, size));
        sent++;
      }
      await endResponse(res);
      emit({ type: "finished", id, sent });
    } catch (e) {
      if (isCancelled(e) && ctx.clientGone) emit({ type: "aborted", id, sent });
      throw e;
    }
  };
}
