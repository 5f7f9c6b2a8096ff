// The targets of the bench issue, as checks over one workload's results. Each returns
// { description, ok, actual }.
function q(entry) {
  return entry.contenders.find((c) => c.kind === "quartet" && c.error === undefined);
}
function named(entry, name) {
  return entry.contenders.find((c) => c.name === name && c.error === undefined);
}
const x = (v) => `${v.toFixed(2)}x`;

export const targets = {
  "spawn-join-100k": [
    (e) => ({ description: "within 3x raw", ok: e.ratios.quartetVsRaw !== null && e.ratios.quartetVsRaw <= 3, actual: e.ratios.quartetVsRaw === null ? "n/a" : `${x(e.ratios.quartetVsRaw)} raw` }),
    (e) => {
      const ef = named(e, "effection");
      const qq = q(e);
      const speedup = ef && qq ? ef.value / qq.value : null;
      return { description: "at least 3x faster than Effection", ok: speedup !== null && speedup >= 3, actual: speedup === null ? "n/a" : `${speedup.toFixed(0)}x faster` };
    },
  ],
  "channel-16": channelTargets(),
  "channel-inf": channelTargets(),
  "timeout-scope": [
    (e, node) => {
      const v = q(e)?.value ?? 0;
      return { description: `moveOnAfter >= 1 M/s${node.startsWith("v20") ? "" : " (target set for Node 20)"}`, ok: v >= 1e6, actual: `${(v / 1e6).toFixed(2)} M/s` };
    },
  ],
  "sleepers-heap": [(e) => ({ description: "< 1 KB per parked task", ok: (q(e)?.value ?? Infinity) < 1024, actual: `${(q(e)?.value ?? NaN).toFixed(0)} B` })],
  "cancel-100k": [(e) => ({ description: "cancelling 100k parked tasks < 100 ms", ok: (q(e)?.value ?? Infinity) < 100, actual: `${(q(e)?.value ?? NaN).toFixed(1)} ms` })],
  "virtual-hour": [(e) => ({ description: "the simulated hour < 1 s", ok: (q(e)?.value ?? Infinity) < 1000, actual: `${(q(e)?.value ?? NaN).toFixed(0)} ms` })],
  "guard-step": [(e) => ({ description: "guard <= 2x per step when installed", ok: e.ratios.quartetVsRaw !== null && e.ratios.quartetVsRaw <= 2, actual: e.ratios.quartetVsRaw === null ? "n/a" : x(e.ratios.quartetVsRaw) })],
  checkpoint: [(e) => ({ description: "checkpoint() >= 5 M/s", ok: (q(e)?.value ?? 0) >= 5e6, actual: `${((q(e)?.value ?? 0) / 1e6).toFixed(2)} M/s` })],
};

function channelTargets() {
  return [
    (e) => ({
      description: ">= 50% of the raw hand-off's throughput",
      ok: e.ratios.quartetVsRaw !== null && e.ratios.quartetVsRaw <= 2,
      actual: e.ratios.quartetVsRaw === null ? "n/a" : `${(100 / e.ratios.quartetVsRaw).toFixed(0)}% of raw`,
    }),
    (e) => ({
      description: ">= 2x the best peer's throughput",
      ok: e.ratios.quartetVsBestPeer !== null && e.ratios.quartetVsBestPeer <= 0.5,
      actual: e.ratios.quartetVsBestPeer === null ? "n/a" : `${(1 / e.ratios.quartetVsBestPeer).toFixed(1)}x ${e.ratios.bestPeer}`,
    }),
  ];
}
