/**
 * @quartet/testing: virtual time and helpers for testing concurrent code.
 * @packageDocumentation
 */
export { MockClock, type MockClockOptions } from "./mock-clock.js";
