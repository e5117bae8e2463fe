import { type MemorySample, clearSample } from '../../src/cgroup/sample';

/** Every field of MemorySample: a field added to the interface and not listed here fails to compile. */
const EVERY_FIELD: Record<keyof MemorySample, true> = {
  readAtMs: true,
  usage: true,
  limit: true,
  reservation: true,
  high: true,
  swap: true,
  swapLimit: true,
  peak: true,
  stat: true,
  workingSet: true,
  oomKillDisabled: true,
  underOom: true,
  oomKills: true,
  limitHits: true,
  highEvents: true,
  oomEvents: true,
  oomGroupKills: true,
  oomGroup: true,
  pressure: true,
  swappiness: true,
};

describe('clearSample', () => {
  it('empties every field of a sample rewritten in place, keeping the object', () => {
    const s = Object.fromEntries(Object.keys(EVERY_FIELD).map((k) => [k, 1])) as unknown as MemorySample;
    expect(clearSample(s, 42)).toBe(s);
    for (const k of Object.keys(EVERY_FIELD)) {
      expect([k, (s as unknown as Record<string, unknown>)[k]]).toEqual([
        k,
        k === 'readAtMs' ? 42 : undefined,
      ]);
    }
  });
});
