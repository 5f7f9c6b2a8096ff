#!/usr/bin/env node
// Quartet's benchmark suite: every workload, for Quartet, a raw-JavaScript baseline and peers, each
// contender in its own fresh process (`--expose-gc`), so Quartet's AsyncLocalStorage does not slow the
// baseline and one contender's garbage does not bill the next. Every process runs with
// `--single-threaded-gc`: on a 2-vCPU machine V8's parallel GC helper threads made the same contender
// bimodal across processes (e.g. 440 vs 770 ns/item), which no number of rounds averages out. Prints a table and writes
// bench/results/latest.json (and node<major>.json) with each workload's figures, the ratio
// Quartet / raw and Quartet / best peer, the targets and the Node version.
//
//   npx pnpm@10.34.8 bench                      all workloads on this Node
//   npx pnpm@10.34.8 bench --only channel,cancel
//   npx pnpm@10.34.8 bench --node /path/to/node24/bin/node
//   npx pnpm@10.34.8 bench --no-build           reuse packages/*/dist
//   npx pnpm@10.34.8 bench --rounds 1           one process per contender (default 3, median)
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { median } from "./lib/measure.mjs";
import { targets } from "./targets.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..");

const args = process.argv.slice(2);
function flag(name) {
  const i = args.indexOf(name);
  if (i < 0) return undefined;
  return args[i + 1];
}
const only = (flag("--only") ?? "").split(",").filter(Boolean);
const nodeBin = flag("--node") ?? process.execPath;
const noBuild = args.includes("--no-build");
const timeoutMs = Number(flag("--timeout") ?? 180_000);
const rounds = Number(flag("--rounds") ?? 3);

if (!noBuild) {
  for (const pkg of ["core", "channels", "testing"]) {
    const r = spawnSync(process.execPath, [path.join(root, "scripts/build-package.mjs")], {
      cwd: path.join(root, "packages", pkg),
      stdio: ["ignore", "ignore", "inherit"],
    });
    if (r.status !== 0) {
      console.error(`bench: building @quartet/${pkg} failed`);
      process.exit(1);
    }
  }
}

const nodeVersion = spawnSync(nodeBin, ["--version"], { encoding: "utf8" }).stdout.trim();
const files = readdirSync(path.join(here, "workloads"))
  .filter((f) => f.endsWith(".mjs"))
  .sort()
  .map((f) => path.join(here, "workloads", f));

const results = [];
const started = performance.now();
for (const file of files) {
  const { workloads } = await import(pathToFileURL(file).href);
  for (const w of workloads) {
    if (only.length > 0 && !only.some((o) => w.id.includes(o))) continue;
    const entry = { id: w.id, title: w.title, unit: w.unit, better: w.better, contenders: [] };
    const rows = Object.entries(w.contenders).map(([name, c]) => ({ name, kind: c.kind, label: c.label, values: [], seconds: 0 }));
    // Rounds interleave the contenders (q, raw, ref, peers, q, raw, …), each in a fresh process, so a
    // burst of noise on this shared machine hits one sample, not one contender. Slow peers run once.
    for (let round = 0; round < rounds; round++) {
      for (const row of rows) {
        if (row.error !== undefined) continue;
        if (round > 0 && row.kind === "peer" && row.seconds > 3) continue;
        const t0 = performance.now();
        const r = spawnSync(nodeBin, ["--expose-gc", "--single-threaded-gc", "--max-old-space-size=4096", path.join(here, "child.mjs"), file, w.id, row.name], {
          cwd: here,
          encoding: "utf8",
          timeout: timeoutMs,
          maxBuffer: 16 << 20,
        });
        row.seconds += (performance.now() - t0) / 1000;
        const line = (r.stdout ?? "").split("\n").find((l) => l.startsWith("RESULT "));
        if (r.status === 0 && line) {
          const out = JSON.parse(line.slice(7));
          row.values.push(out.value);
          if (out.notes) row.notes = out.notes;
        } else row.error = (r.error?.message ?? r.stderr?.trim().split("\n").slice(-3).join(" ")) || `exit ${r.status}`;
        process.stderr.write(`  ${w.id} / ${row.name} #${round + 1}: ${row.error ? `ERROR ${row.error}` : fmt(row.values.at(-1), w.unit)}\n`);
      }
    }
    for (const row of rows) {
      if (row.error === undefined) row.value = median(row.values);
      entry.contenders.push(row);
    }
    addRatios(entry);
    entry.targets = (targets[w.id] ?? []).map((t) => t(entry, nodeVersion));
    results.push(entry);
  }
}

function cost(entry, v) {
  return entry.better === "higher" ? 1 / v : v;
}

function addRatios(entry) {
  const ok = entry.contenders.filter((c) => c.error === undefined && typeof c.value === "number");
  const q = ok.find((c) => c.kind === "quartet");
  const raw = ok.find((c) => c.kind === "raw");
  const peers = ok.filter((c) => c.kind === "peer");
  const best = peers.sort((a, b) => cost(entry, a.value) - cost(entry, b.value))[0];
  entry.ratios = {
    // Cost ratios: above 1 means Quartet is slower (or bigger) than the other contender.
    quartetVsRaw: q && raw ? cost(entry, q.value) / cost(entry, raw.value) : null,
    quartetVsBestPeer: q && best ? cost(entry, q.value) / cost(entry, best.value) : null,
    bestPeer: best?.name ?? null,
  };
}

function fmt(v, unit) {
  if (typeof v !== "number") return String(v);
  if (unit.endsWith("/s")) return v >= 1e6 ? `${(v / 1e6).toFixed(2)} M${unit.slice(3) ? "" : ""} ${unit}` : `${(v / 1e3).toFixed(1)} k ${unit}`;
  return `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${unit}`;
}

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model ?? "unknown",
  memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
  os: `${os.type()} ${os.release()} ${os.arch()}`,
};
const report = { node: nodeVersion, date: new Date().toISOString(), machine, rounds, seconds: (performance.now() - started) / 1000, workloads: results };

console.log(`\nQuartet benchmarks on Node ${nodeVersion} (${machine.cpus} CPUs, ${machine.cpuModel})\n`);
for (const w of results) {
  console.log(w.title);
  for (const c of w.contenders) {
    console.log(`  ${c.kind.padEnd(9)} ${(c.error ? "error" : fmt(c.value, w.unit)).padStart(16)}  ${c.label}${c.notes ? ` (${c.notes})` : ""}${c.error ? ` [${c.error}]` : ""}`);
  }
  const r = w.ratios;
  const parts = [];
  if (r.quartetVsRaw !== null) parts.push(`quartet/raw ${r.quartetVsRaw.toFixed(2)}x cost`);
  if (r.quartetVsBestPeer !== null) parts.push(`quartet/best peer (${r.bestPeer}) ${r.quartetVsBestPeer.toFixed(2)}x cost`);
  if (parts.length) console.log(`  ${parts.join(", ")}`);
  for (const t of w.targets) console.log(`  target ${t.ok ? "met   " : "MISSED"} ${t.description}: ${t.actual}`);
  console.log("");
}
console.log(`total ${report.seconds.toFixed(0)} s`);

mkdirSync(path.join(here, "results"), { recursive: true });
const json = JSON.stringify(report, null, 2) + "\n";
if (only.length === 0) writeFileSync(path.join(here, "results", `node${nodeVersion.slice(1).split(".")[0]}.json`), json);
writeFileSync(path.join(here, "results", "latest.json"), json);
