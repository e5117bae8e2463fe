import { memoryEventsInBytes, parseMemoryEvents } from '../../src/cgroup/memory-events';

/**
 * v2 memory.events (and memory.events.local), as mm/memcontrol.c __memory_events_show() writes it:
 * "low", "high", "max", "oom" since 4.5, "oom_kill" since 4.13, "oom_group_kill" since 5.17
 * (Documentation/admin-guide/cgroup-v2.rst, "memory.events").
 */
describe('parseMemoryEvents', () => {
  const eras: Array<[string, string, Record<string, number>]> = [
    ['4.5 to 4.12: no oom_kill yet', 'low 0\nhigh 0\nmax 31\noom 2\n', { low: 0, high: 0, max: 31, oom: 2 }],
    [
      '4.13 to 5.16: oom_kill',
      'low 0\nhigh 7\nmax 31\noom 2\noom_kill 2\n',
      { low: 0, high: 7, max: 31, oom: 2, oomKill: 2 },
    ],
    [
      '5.17 and later: oom_group_kill',
      'low 0\nhigh 0\nmax 9\noom 1\noom_kill 3\noom_group_kill 1\n',
      { low: 0, high: 0, max: 9, oom: 1, oomKill: 3, oomGroupKill: 1 },
    ],
    [
      'a key a future kernel may add is ignored',
      'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\nsome_future_event 12\n',
      { low: 0, high: 0, max: 0, oom: 0, oomKill: 0, oomGroupKill: 0 },
    ],
    ['keys in another order', 'oom_kill 4\nmax 5\n', { oomKill: 4, max: 5 }],
  ];
  it.each(eras)('%s', (_era, text, expected) => {
    expect(parseMemoryEvents(text)).toEqual({ ok: true, value: expected });
  });

  // The poller reads the bytes (memoryEventsInBytes) and falls back to the text parser when they are not
  // plain "key count" lines: both must give the same events.
  it.each(eras)('from the bytes, the same as from the text: %s', (_era, text, expected) => {
    const bytes = Buffer.concat([Buffer.from(text, 'latin1'), Buffer.from('trailing bytes past the length')]);
    expect(memoryEventsInBytes(bytes, Buffer.byteLength(text, 'latin1'))).toEqual(expected);
  });

  it.each([
    ['a value that is not a number', 'oom_kill x\n'],
    ['a negative count', 'oom_kill -1\n'],
    ['a tab instead of a space', 'oom_kill\t3\n'],
    ['a line without a value', 'oom_kill\n'],
  ])('leaves %s to the text parser', (_what, text) => {
    expect(memoryEventsInBytes(Buffer.from(text, 'latin1'), text.length)).toBeUndefined();
  });

  it('keeps oom (OOM situations) and oom_kill (killed processes) apart', () => {
    // A memory.oom.group kill: one situation, three processes killed.
    const r = parseMemoryEvents('low 0\nhigh 0\nmax 9\noom 1\noom_kill 3\noom_group_kill 1\n');
    expect(r.ok && [r.value.oom, r.value.oomKill]).toEqual([1, 3]);
  });

  it.each([
    [
      'a value that is not a number',
      'oom_kill x\n',
      'expected an integer value for oom_kill, got "oom_kill x"',
    ],
    ['a line without a value', 'oom_kill\n', 'expected "key value", got "oom_kill"'],
  ])('rejects %s, quoting the line', (_what, text, error) => {
    expect(parseMemoryEvents(text)).toEqual({ ok: false, error });
  });
});
