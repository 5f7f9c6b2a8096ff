import { openNursery, moveOnAfter, sleep, currentTime } from "@quartet/core";

const start = currentTime();
const log = (msg: string) =>
  console.log(`[t=${String(Math.round(currentTime() - start)).padStart(4)} ms] ${msg}`);

await moveOnAfter(1000, async () => {
  await openNursery(async (nursery) => {
    nursery.startSoon(async () => {
      for (let i = 1; ; i++) {
        await sleep(300);
        log(`ticker: tick ${i}`);
      }
    }, { name: "ticker" });
    nursery.startSoon(async () => {
      await sleep(500);
      log("worker: done");
    }, { name: "worker" });
    log("nursery: started ticker and worker");
  });
});
log("moved on after 1000 ms: the ticker was cancelled, nothing is left running");
