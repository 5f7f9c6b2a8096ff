#!/usr/bin/env node
// Entry point of the benchmark suite (`pnpm bench` at the repo root).
// Stub: the suites (tinybench, against raw promises and peers) come later.
console.log("no benchmarks yet");
