/**
 * @quartet/core/lowlevel: the building blocks for library authors (channels, locks, custom clocks,
 * test harnesses). Everything `@quartet/channels` and `@quartet/testing` use is exported here.
 * @module @quartet/core/lowlevel
 */
export { Abort, Waiter, waitTaskRescheduled, reschedule, type AbortFn, type Outcome } from "./waiter.js";
export { ParkingLot, addParkingLotBreaker, removeParkingLotBreaker, type ParkingLotStatistics } from "./parking-lot.js";
export { checkpoint, checkpointIfCancelled, cancelShieldedCheckpoint, checkCancelled } from "./checkpoint.js";
export { currentTask } from "./current.js";
export {
  currentRuntime,
  currentStatistics,
  addInstrument,
  removeInstrument,
  checkpointCounts,
  type QuartetRuntime,
  type CheckpointCounts,
} from "./introspection.js";
export { waitAllTasksBlocked } from "./idle.js";
export { SystemClock, type Clock, type ClockHost } from "./clock.js";
export type { Instrument } from "./instrument.js";
export type { RuntimeStatistics } from "./runtime.js";
export { Task } from "./task.js";
export { ForeignWork } from "./foreign-work.js";
