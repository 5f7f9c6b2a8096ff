// A downstream log collector on node:http, standing in for Loki, Elasticsearch or a vendor's intake.
// It can be made slow, answer 503, or go down (stop listening: connections are refused) and come back.
// It de-duplicates on (stream, seq): a shipper retries a batch whose answer it never saw, and the
// sink may well have stored that batch already.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/** `slow`: store the batch, answer after `slowMs`. `503`: refuse with 503. `down`: not listening. */
export type SinkMode = "ok" | "slow" | "503" | "down";

/** Options of {@link LogSink.start}. */
export interface LogSinkOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Delay of the answers in mode `slow` (ms). Default 500. */
  slowMs?: number;
  /** Called with a line for each request (for printing). */
  log?: (message: string) => void;
}

const MAX_BODY_BYTES = 16 * 1024 * 1024;

/**
 * An HTTP sink that stores the lines of each new batch and acknowledges repeats without storing them
 * again. Batches of one stream must arrive with `seq` 1, 2, 3, …: a repeat of the last one (or an older
 * one) is a duplicate, a gap is refused with 409. Keeping only the last `seq` per stream is enough
 * because a shipper has one batch in flight at a time and never skips one.
 *
 * @example
 * ```ts
 * const sink = await LogSink.start({ log: console.log });
 * console.log(sink.url); // http://127.0.0.1:40123/logs
 * await sink.setMode("down"); // connections refused from now on
 * await sink.setMode("ok");   // listening again, on the same port
 * await sink.close();
 * ```
 */
export class LogSink {
  /** Every stored line, in the order stored. */
  readonly lines: string[] = [];
  /** Batches stored. */
  batches = 0;
  /** Batches received again and acknowledged without storing them. */
  duplicates = 0;
  /** Requests answered 503 (mode `503`). */
  refused = 0;
  /** Requests received (any answer). */
  requests = 0;
  slowMs: number;
  private _mode: SinkMode = "ok";
  private readonly lastSeq = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly server: Server;
  private readonly log: (message: string) => void;
  private closed = false;

  private constructor(
    private readonly host: string,
    private _port: number,
    opts: LogSinkOptions,
  ) {
    this.slowMs = opts.slowMs ?? 500;
    this.log = opts.log ?? (() => {});
    this.server = createServer((req, res) => this.handle(req, res));
  }

  /** Starts listening; resolves once the port is open. */
  static async start(opts: LogSinkOptions = {}): Promise<LogSink> {
    const sink = new LogSink(opts.host ?? "127.0.0.1", opts.port ?? 0, opts);
    await sink.listen();
    return sink;
  }

  /** The URL to POST batches to. */
  get url(): string {
    return `http://${this.host}:${this._port}/logs`;
  }

  get mode(): SinkMode {
    return this._mode;
  }

  /** Switches behaviour. Entering `down` closes the port and every open connection; leaving it listens again. */
  async setMode(mode: SinkMode): Promise<void> {
    if (this.closed || mode === this._mode) return;
    const wasDown = this._mode === "down";
    this._mode = mode;
    if (mode === "down") await this.stopListening();
    else if (wasDown) await this.listen();
  }

  /** Stops for good: closes the port and connections, drops answers not sent yet. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this._mode !== "down") await this.stopListening();
  }

  private listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.server.once("error", onError);
      this.server.listen(this._port, this.host, () => {
        this.server.off("error", onError);
        this._port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private stopListening(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests++;
    if (req.method !== "POST") return this.reply(res, 405, "POST batches here", 0);
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => {
      if (size > MAX_BODY_BYTES) return this.reply(res, 413, "batch too large", 0);
      this.receive(Buffer.concat(chunks).toString("utf8"), res);
    });
  }

  private receive(body: string, res: ServerResponse): void {
    if (this._mode === "503") {
      this.refused++;
      this.log("answered 503 (unavailable)");
      return this.reply(res, 503, "unavailable", 0);
    }
    const delay = this._mode === "slow" ? this.slowMs : 0;
    let batch: { stream: string; seq: number; lines: string[] };
    try {
      batch = JSON.parse(body);
      if (
        typeof batch?.stream !== "string" ||
        !Number.isSafeInteger(batch.seq) ||
        batch.seq < 1 ||
        !Array.isArray(batch.lines) ||
        !batch.lines.every((l) => typeof l === "string")
      ) {
        throw new Error("expected { stream, seq, lines }");
      }
    } catch (e) {
      return this.reply(res, 400, `bad batch: ${(e as Error).message}`, 0);
    }
    const last = this.lastSeq.get(batch.stream) ?? 0;
    if (batch.seq <= last) {
      this.duplicates++;
      this.log(`batch ${batch.seq} again: duplicate, acknowledged and not stored`);
      return this.reply(res, 200, "duplicate", delay);
    }
    if (batch.seq !== last + 1) return this.reply(res, 409, `expected batch ${last + 1}`, 0);
    this.lastSeq.set(batch.stream, batch.seq);
    for (const line of batch.lines) this.lines.push(line);
    this.batches++;
    const range = batch.lines.length > 0 ? `: ${batch.lines[0]} … ${batch.lines[batch.lines.length - 1]}` : "";
    const late = delay > 0 ? ` (answering in ${delay} ms)` : "";
    this.log(`batch ${batch.seq}, ${batch.lines.length} lines${range}${late}`);
    this.reply(res, 200, "stored", delay);
  }

  private reply(res: ServerResponse, status: number, text: string, delayMs: number): void {
    const send = () => {
      if (!res.destroyed) res.writeHead(status, { "content-type": "text/plain" }).end(text);
    };
    if (delayMs <= 0) return send();
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      send();
    }, delayMs);
    this.timers.add(timer);
  }
}
