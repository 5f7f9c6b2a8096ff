// Following a log file the way `tail -F` does: read what is appended, split it into lines, and
// survive rotation (rename and recreate) and truncation. Every line goes through `send`, so when the
// consumer falls behind, the tailer parks there and stops reading the file: the file itself is the
// buffer, and the process holds at most one read chunk and one partial line.
import { promises as fs, type Stats } from "node:fs";
import { cancellable, sleep } from "@quartet/core";

/** Where lines go. A `MemorySendChannel<string>` is one; `send` must wait when the consumer is behind. */
export interface LineSink {
  send(line: string): Promise<void>;
}

/** Live figures of a tailer (read them while it runs). */
export interface TailStats {
  /** Lines handed to `send` (and accepted). */
  linesRead: number;
  /** Bytes read from all files so far (old files before rotation included). */
  bytesRead: number;
  /** Read position in the current file. */
  offset: number;
  /** Times the path was found to point to a new file. */
  rotations: number;
  /** Times the current file was found shorter than what had been read. */
  truncations: number;
}

/** Options of {@link tailFile}. */
export interface TailOptions {
  /** How long to wait at the end of the file before looking again (ms). Default 100. */
  pollIntervalMs?: number;
  /** Bytes read per `read()`: the most file data held in memory besides lines. Default 64 KiB. */
  readChunkBytes?: number;
  /** A line longer than this is cut into pieces of this size, so a file without newlines cannot
   * grow memory without bound. Default 1 MiB. */
  maxLineBytes?: number;
  /** Start at the current end of the file instead of its beginning. Default false. */
  fromEnd?: boolean;
  /** Figures to update while tailing (pass your own object to watch them live). */
  stats?: TailStats;
  /** Called on rotation and truncation (for logging). */
  onEvent?: (event: TailEvent) => void;
}

/** What {@link TailOptions.onEvent} reports. */
export type TailEvent =
  | { type: "rotated"; path: string; oldFileBytes: number }
  | { type: "truncated"; path: string; size: number; offset: number };

/** A fresh, zeroed {@link TailStats}. */
export function newTailStats(): TailStats {
  return { linesRead: 0, bytesRead: 0, offset: 0, rotations: 0, truncations: 0 };
}

/** An error about the tailed file itself: it cannot be opened or is not a regular file. */
export class TailError extends Error {
  override name = "TailError";
}

interface OpenFile {
  handle: fs.FileHandle;
  stat: Stats;
}

/**
 * Opens `path` for reading and checks it is a regular file. Throws {@link TailError} with a one-line
 * message otherwise. Use it to check a path before starting the pipeline.
 *
 * @example
 * ```ts
 * const file = await openLogFile("/var/log/app.log"); // TailError: cannot open …: ENOENT …
 * await file.handle.close();
 * ```
 */
export async function openLogFile(path: string): Promise<OpenFile> {
  // `cancellable` abandons the foreign promise when the task is cancelled, but an abandoned open()
  // still produces a file handle: close it when it arrives, or it leaks until garbage collection.
  const opening = fs.open(path, "r");
  let handle: fs.FileHandle;
  try {
    handle = await cancellable(opening);
  } catch (e) {
    opening.then((h) => h.close(), () => {});
    throw errnoError(e) ? new TailError(`cannot open ${path}: ${errnoMessage(e)}`) : e;
  }
  try {
    const stat = await cancellable(handle.stat());
    if (!stat.isFile()) throw new TailError(`cannot tail ${path}: not a regular file`);
    return { handle, stat };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

/**
 * Follows the file at `path` and sends each line (without its `\n` or `\r\n`) to `out`, until
 * cancelled. When `out.send` waits, the tailer waits with it: reading resumes only when there is room.
 *
 * Rotation: when the path points to another file (another inode), the old file is read to its end
 * first (through the handle still open on it, even though it has been renamed), then the new file is
 * read from its beginning. If the path is missing for a while (between the rename and the re-create),
 * the tailer keeps reading the old file. A file that became shorter than what was read was truncated:
 * reading restarts at 0. A partial last line is sent when its file is left or truncated.
 *
 * Limits, as in `tail -F`: lines written to the old file after the tailer has moved on are not read,
 * and a file rotated twice while the tailer was behind is skipped. Shippers that must not lose those
 * follow each rotated file by name (`app.log.1`) until it has been idle for a while.
 *
 * @example
 * ```ts
 * const [tx, rx] = openMemoryChannel<string>(1000);
 * await openNursery(async (n) => {
 *   n.startSoon(async () => { using send = tx; await tailFile("/var/log/app.log", send); });
 *   for await (const line of rx) console.log(line);
 * });
 * ```
 */
export async function tailFile(path: string, out: LineSink, opts: TailOptions = {}): Promise<never> {
  const pollIntervalMs = opts.pollIntervalMs ?? 100;
  const maxLineBytes = opts.maxLineBytes ?? 1024 * 1024;
  const stats = opts.stats ?? newTailStats();
  const buf = Buffer.allocUnsafe(opts.readChunkBytes ?? 64 * 1024);
  let carry: Buffer | null = null; // a line whose end has not been read yet

  const sendLine = async (bytes: Buffer): Promise<void> => {
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
    await out.send(bytes.toString("utf8", 0, end));
    stats.linesRead++;
  };

  // Splitting on the byte 0x0A is safe in UTF-8 (it never occurs inside a multi-byte character),
  // so a line is decoded only once it is complete.
  const sendLines = async (chunk: Buffer): Promise<void> => {
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      let line = chunk.subarray(start, nl);
      if (carry !== null) {
        line = Buffer.concat([carry, line]);
        carry = null;
      }
      start = nl + 1;
      await sendLine(line);
    }
    if (start < chunk.length) {
      // `chunk` is the reused read buffer: copy what is kept.
      const rest = chunk.subarray(start);
      carry = carry === null ? Buffer.from(rest) : Buffer.concat([carry, rest]);
      while (carry !== null && carry.length >= maxLineBytes) {
        const piece = carry.subarray(0, maxLineBytes);
        carry = carry.length > maxLineBytes ? carry.subarray(maxLineBytes) : null;
        await sendLine(piece);
      }
    }
  };

  const flushPartialLine = async (): Promise<void> => {
    if (carry === null) return;
    const line = carry;
    carry = null;
    await sendLine(line);
  };

  let file = await openLogFile(path);
  try {
    stats.offset = opts.fromEnd ? file.stat.size : 0;
    // Reads from the current offset; returns how many bytes it got (0 at the end of the file).
    const readMore = async (): Promise<number> => {
      const { bytesRead } = await cancellable(file.handle.read(buf, 0, buf.length, stats.offset));
      if (bytesRead > 0) {
        stats.offset += bytesRead;
        stats.bytesRead += bytesRead;
        await sendLines(buf.subarray(0, bytesRead));
      }
      return bytesRead;
    };

    for (;;) {
      if ((await readMore()) > 0) continue;

      // At the end of the file: has it been rotated or truncated?
      const current = await statOrNull(path);
      if (current !== null && (current.ino !== file.stat.ino || current.dev !== file.stat.dev)) {
        // The writer may have appended to the old file between our last read and the stat.
        while ((await readMore()) > 0);
        const next = await openLogFile(path).catch((e: unknown) => {
          if (e instanceof TailError) return null; // rotated again, or not re-created yet
          throw e;
        });
        if (next !== null) {
          await flushPartialLine();
          const oldFileBytes = stats.offset;
          await file.handle.close();
          file = next;
          stats.offset = 0;
          stats.rotations++;
          opts.onEvent?.({ type: "rotated", path, oldFileBytes });
          continue;
        }
      } else if (current !== null && current.size < stats.offset) {
        await flushPartialLine();
        opts.onEvent?.({ type: "truncated", path, size: current.size, offset: stats.offset });
        stats.offset = 0;
        stats.truncations++;
        continue;
      }
      await sleep(pollIntervalMs);
    }
  } finally {
    // Waits for a read that a cancellation abandoned, then releases the descriptor.
    await file.handle.close();
  }
}

async function statOrNull(path: string): Promise<Stats | null> {
  try {
    return await cancellable(fs.stat(path));
  } catch (e) {
    if (errnoError(e) && e.code === "ENOENT") return null; // between rename and re-create
    throw e;
  }
}

function errnoError(e: unknown): e is NodeJS.ErrnoException {
  return e instanceof Error && typeof (e as NodeJS.ErrnoException).code === "string";
}

/** "ENOENT: no such file or directory" without the path Node repeats in its messages. */
function errnoMessage(e: NodeJS.ErrnoException): string {
  const i = e.message.indexOf(", ");
  return i === -1 ? e.message : e.message.slice(0, i);
}
