// The application whose log is shipped: appends numbered lines at a steady pace and rotates its log
// the way logrotate's "create" mode does (rename, then the app reopens a new file).
import { promises as fs } from "node:fs";
import { cancellable, sleep } from "@quartet/core";

/** Options of {@link writeNumberedLines}. */
export interface WriterOptions {
  /** Lines to write in all. */
  lines: number;
  /** Lines per write. */
  linesPerTick: number;
  /** Pause between writes (ms). */
  tickMs: number;
  /** Rotate once this many lines have been written: rename to `<path>.1`, write a few more lines to
   * the renamed file (an app that has not reopened yet), then create a new file at `path`. */
  rotateAfter?: number;
  /** Lines written to the renamed file before the new one is created. Default 3. */
  linesAfterRename?: number;
  /** Figures to update while writing. */
  stats?: WriterStats;
  /** Called once the new file exists. */
  onRotate?: () => void;
}

/** Live figures of the writer. */
export interface WriterStats {
  linesWritten: number;
  /** Bytes written to all files. */
  bytesWritten: number;
}

/** The text of line `n` (1-based): `line 000042 GET /items/42 200`. */
export function numberedLine(n: number): string {
  return `line ${String(n).padStart(6, "0")} GET /items/${n % 1000} 200`;
}

/**
 * Appends `numberedLine(1) … numberedLine(lines)` to `path`, `linesPerTick` at a time, rotating once
 * if asked. Creates the file if needed.
 *
 * @example
 * ```ts
 * await writeNumberedLines("/tmp/app.log", { lines: 1000, linesPerTick: 10, tickMs: 20, rotateAfter: 500 });
 * ```
 */
export async function writeNumberedLines(path: string, opts: WriterOptions): Promise<void> {
  const stats = opts.stats ?? { linesWritten: 0, bytesWritten: 0 };
  const rotateAfter = opts.rotateAfter ?? Infinity;
  const linesAfterRename = opts.linesAfterRename ?? 3;
  let handle = await openForAppend(path);
  try {
    const write = async (count: number) => {
      let text = "";
      for (let i = 0; i < count; i++) text += numberedLine(stats.linesWritten + i + 1) + "\n";
      await cancellable(handle.appendFile(text));
      stats.linesWritten += count;
      stats.bytesWritten += Buffer.byteLength(text);
    };
    let rotated = false;
    while (stats.linesWritten < opts.lines) {
      if (!rotated && stats.linesWritten >= rotateAfter) {
        rotated = true;
        await cancellable(fs.rename(path, `${path}.1`));
        await write(Math.min(linesAfterRename, opts.lines - stats.linesWritten));
        const next = await openForAppend(path);
        await handle.close();
        handle = next;
        opts.onRotate?.();
        continue;
      }
      let count = Math.min(opts.linesPerTick, opts.lines - stats.linesWritten);
      if (!rotated) count = Math.min(count, rotateAfter - stats.linesWritten);
      await write(count);
      await sleep(opts.tickMs);
    }
  } finally {
    await handle.close();
  }
}

async function openForAppend(path: string): Promise<fs.FileHandle> {
  const opening = fs.open(path, "a");
  try {
    return await cancellable(opening);
  } catch (e) {
    // Cancelled while it opened: close the handle once it arrives instead of leaking it.
    opening.then((h) => h.close(), () => {});
    throw e;
  }
}
