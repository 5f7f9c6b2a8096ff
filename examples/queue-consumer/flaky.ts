/**
 * Simulated worker failures for the demo and the test. Whether attempt `attempt` of entry `n` fails is
 * a pure function of (seed, n, attempt), so a run fails the same attempts of the same entries whatever
 * order the workers happen to take them in: the test is reproducible, and a seed can be checked in
 * advance to never fail one entry `maxAttempts` times in a row.
 *
 * @example
 * ```ts
 * if (failsAttempt(seed, n, attempt, 0.1)) throw new Error(`simulated failure of entry ${n}`);
 * ```
 */
export function failsAttempt(seed: number, n: number, attempt: number, rate: number): boolean {
  if (rate <= 0) return false;
  // A 32-bit integer hash (murmur3's finaliser) of the three numbers, mapped to [0, 1).
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(n + 1, 0xc2b2ae35) ^ Math.imul(attempt, 0x27d4eb2f);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296 < rate;
}
