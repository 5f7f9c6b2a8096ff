// The pipeline: tailer task → bounded channel of lines → shipper task. The channel's bound is the
// whole memory budget: when the sink is slow or down the shipper stops receiving, the channel fills,
// the tailer parks in `send` and stops reading the file until there is room again.
import { randomUUID } from "node:crypto";
import { openMemoryChannel, type MemoryReceiveChannel } from "@quartet/channels";
import { CancelScope, ExceptionGroup, isCancelled, openNursery } from "@quartet/core";
import { type Deliver, newShipStats, type RetryInfo, type ShipOptions, shipLines, type ShipStats } from "./ship.js";
import { newTailStats, type TailEvent, tailFile, type TailOptions, type TailStats } from "./tail.js";

export { tailFile, openLogFile, newTailStats, TailError, type TailStats, type TailEvent, type TailOptions } from "./tail.js";
export {
  shipLines,
  backoffDelay,
  seededRandom,
  describeError,
  newShipStats,
  DeliveryError,
  SinkUnavailableError,
  type Batch,
  type Deliver,
  type ShipStats,
  type ShipOptions,
  type RetryInfo,
} from "./ship.js";
export { httpDeliver, checkReachable, SinkUnreachableError } from "./http-deliver.js";
export { LogSink, type SinkMode, type LogSinkOptions } from "./sink.js";
export { writeNumberedLines, numberedLine, type WriterOptions, type WriterStats } from "./writer.js";

/** Options of {@link LogShipper}: the tailer's and the shipper's, plus the buffer between them. */
export interface LogShipperOptions
  extends Omit<TailOptions, "stats" | "onEvent">,
    Omit<ShipOptions, "stream" | "stats" | "onRetry"> {
  /** The log file to follow. */
  file: string;
  /** How batches leave the process, e.g. `httpDeliver(url)`. */
  deliver: Deliver;
  /** Lines the channel between tailer and shipper holds at most. Default 1000. */
  bufferLines?: number;
  /** The stream name the sink de-duplicates under. Default: a random UUID per shipper. */
  stream?: string;
  /** Rotations, truncations and failed attempts, for logging. */
  onEvent?: (event: ShipperEvent) => void;
}

/** What {@link LogShipperOptions.onEvent} reports. */
export type ShipperEvent = TailEvent | ({ type: "retry" } & RetryInfo);

/** Figures of a running or finished shipper. */
export interface ShipperFigures extends TailStats, ShipStats {
  /** The channel's bound (`bufferLines`). */
  bufferBound: number;
  /** Lines in the channel now. */
  bufferUsed: number;
  /** The most lines the channel ever held (never more than `bufferBound`). */
  peakBufferUsed: number;
}

/** What {@link LogShipper.run} resolves with. */
export interface ShipperReport extends ShipperFigures {
  /** Lines read but not delivered because the grace period ran out (0 after a clean stop). */
  undelivered: number;
}

/**
 * Tails `file` and ships its lines in batches through `deliver`, with a bounded buffer between the
 * two. Runs until {@link stop} (or until cancelled, or a fatal error).
 *
 * @example
 * ```ts
 * const shipper = new LogShipper({ file: "/var/log/app.log", deliver: httpDeliver(url), bufferLines: 1000 });
 * process.once("SIGINT", () => shipper.stop(5000));
 * const report = await shipper.run();
 * console.log(`${report.linesDelivered} lines in ${report.batchesSent} batches, peak buffer ${report.peakBufferUsed}`);
 * ```
 */
export class LogShipper {
  readonly tailStats: TailStats = newTailStats();
  readonly shipStats: ShipStats = newShipStats();
  readonly stream: string;
  private readonly bufferBound: number;
  private readonly tailScope = new CancelScope();
  private readonly shipScope = new CancelScope();
  private rx: MemoryReceiveChannel<string> | null = null;

  constructor(private readonly opts: LogShipperOptions) {
    this.bufferBound = opts.bufferLines ?? 1000;
    this.stream = opts.stream ?? randomUUID();
  }

  /**
   * Runs the pipeline. Resolves after {@link stop}, once the buffered lines are delivered or the grace
   * period has run out. Rejects with the error that stopped it (a `TailError`, `SinkUnavailableError`,
   * non-retryable `DeliveryError`); with an `ExceptionGroup` if both tasks failed.
   */
  async run(): Promise<ShipperReport> {
    const [tx, rx] = openMemoryChannel<string>(this.bufferBound);
    this.rx = rx;
    const { onEvent } = this.opts;
    try {
      await openNursery(async (n) => {
        n.startSoon(
          async () => {
            // Closing the send side is how the shipper learns that no more lines will come.
            using send = tx;
            await this.tailScope.run(() =>
              tailFile(this.opts.file, send, { ...this.opts, stats: this.tailStats, onEvent }),
            );
          },
          { name: "tailer" },
        );
        n.startSoon(
          () =>
            this.shipScope.run(() =>
              shipLines(rx, this.opts.deliver, {
                ...this.opts,
                stream: this.stream,
                stats: this.shipStats,
                onRetry: onEvent && ((info) => onEvent({ type: "retry", ...info })),
              }),
            ),
          { name: "shipper" },
        );
      });
    } catch (e) {
      throw unwrapSingle(e);
    }
    const figures = this.figures();
    const undelivered = this.shipScope.cancelledCaught ? figures.linesInHand + figures.bufferUsed : 0;
    rx.close();
    return { ...figures, undelivered };
  }

  /**
   * Stops reading the file at once and gives the shipper `graceMs` to deliver what it holds. Safe to
   * call from anywhere (a signal handler), before or during {@link run}. A later call can shorten the
   * grace period left, never extend it.
   */
  stop(graceMs = 5000): void {
    if (!this.tailScope.cancelCalled) {
      this.tailScope.cancel("stopping");
      this.shipScope.relativeDeadline = graceMs;
    } else if (graceMs < this.shipScope.relativeDeadline) {
      this.shipScope.relativeDeadline = graceMs;
    }
  }

  /** Whether {@link stop} has been called. */
  get stopping(): boolean {
    return this.tailScope.cancelCalled;
  }

  /** The figures so far. */
  figures(): ShipperFigures {
    const ch = this.rx?.statistics();
    return {
      ...this.tailStats,
      ...this.shipStats,
      bufferBound: this.bufferBound,
      bufferUsed: ch?.currentBufferUsed ?? 0,
      peakBufferUsed: ch?.peakBufferUsed ?? 0,
    };
  }
}

/** A nursery always raises a group; one failure reads better bare. Cancellations are dropped. */
function unwrapSingle(e: unknown): unknown {
  if (!(e instanceof ExceptionGroup)) return e;
  const real = e.errors.filter((x) => !isCancelled(x));
  return real.length === 1 ? real[0] : e;
}
