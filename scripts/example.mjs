#!/usr/bin/env node
// `pnpm example <name>`: runs examples/<name>/main.ts with tsx on the current
// Node, resolving @quartet/* to their TypeScript sources (custom condition
// `quartet-source`), so no build is needed. With no name or an unknown one it
// lists the examples and exits 1.
import { existsSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const examplesDir = path.join(root, "examples");
const names = readdirSync(examplesDir, { withFileTypes: true })
  .filter((d) => d.isDirectory() && existsSync(path.join(examplesDir, d.name, "main.ts")))
  .map((d) => d.name)
  .sort();

const name = process.argv[2];
if (!name || !names.includes(name)) {
  if (name) console.error(`Unknown example: ${name}`);
  console.error("Usage: pnpm example <name>");
  console.error("Examples:");
  for (const n of names) console.error(`  ${n}`);
  process.exit(1);
}

const require = createRequire(path.join(examplesDir, "package.json"));
// tsx as a loader (`node --import tsx`), not its CLI: the CLI SIGKILLs the example 60 ms after
// Ctrl-C, which cuts a graceful shutdown short.
const tsxLoader = pathToFileURL(require.resolve("tsx")).href;
const main = path.join(examplesDir, name, "main.ts");
// The example runs in its own process group and this runner passes SIGINT/SIGTERM on, so the example
// gets exactly one signal however it was sent (Ctrl-C in a terminal reaches the whole foreground
// group, `kill` or `timeout` only this process), shuts down gracefully, and its exit status is ours.
process.on("SIGINT", () => child.kill("SIGINT"));
process.on("SIGTERM", () => child.kill("SIGTERM"));
const child = spawn(process.execPath, ["--import", tsxLoader, "--conditions=quartet-source", main, ...process.argv.slice(3)], {
  cwd: path.join(examplesDir, name),
  stdio: "inherit",
  detached: true,
});
child.on("error", (e) => {
  console.error(`example: could not start ${name}: ${e.message}`);
  process.exit(1);
});
child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
