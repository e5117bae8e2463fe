import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type ContainerEvent,
  type ParsedLine,
  dieExitCode,
  labelsFromAttributes,
  parseEventLine,
  sinceParameter,
} from '../../../src/sources/docker/events';
import { FIXTURES } from '../../helpers/paths';

/**
 * The event parser over streams captured from this machine's dockerd by test/fixtures/docker/capture.sh,
 * legacy lines quoted from the Engine API v1.20/v1.21 docs, and garbage. expected.json holds what Docker
 * itself said about each scenario (`docker wait` exit codes, ids, names).
 */
const DIR = path.join(FIXTURES, 'docker');
const expected = JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8')) as Record<
  string,
  Record<string, unknown>
>;
const lines = (file: string): string[] =>
  fs
    .readFileSync(path.join(DIR, file), 'utf8')
    .split('\n')
    .filter((l) => l !== '');

/** Parse a stream as the Docker source does: labels learnt from create/start events feed later lines. */
function parseStream(file: string): ParsedLine[] {
  const labels = new Map<string, Record<string, string>>();
  return lines(file).map((line) => {
    const r = parseEventLine(line, { labelsOf: (id) => labels.get(id) });
    if (
      r.kind === 'event' &&
      (r.event.action === 'create' || r.event.action === 'start') &&
      !r.event.legacy
    ) {
      labels.set(r.event.id, labelsFromAttributes(r.event.attributes));
    }
    return r;
  });
}
const events = (rs: ParsedLine[]): ContainerEvent[] =>
  rs.flatMap((r) => (r.kind === 'event' ? [r.event] : []));
const actions = (rs: ParsedLine[]): string[] => events(rs).map((e) => e.action);
const dies = (rs: ParsedLine[]) => events(rs).filter((e) => e.action === 'die');

describe('Docker event lines captured from a real dockerd', () => {
  it.each([
    'current/oom.jsonl',
    'current/kill.jsonl',
    'current/exitcode-label.jsonl',
    'current/rename-stop.jsonl',
    'current/update.jsonl',
    'current/exec.jsonl',
    'current/restart.jsonl',
    'current/kubernetes.jsonl',
    'current/other-types.jsonl',
  ])('%s parses without an error, every event on a full container id', (file) => {
    const rs = parseStream(file);
    expect(rs.length).toBeGreaterThan(0);
    expect(rs.filter((r) => r.kind === 'error')).toEqual([]);
    for (const e of events(rs)) {
      expect(e.id).toMatch(/^[0-9a-f]{64}$/);
      expect(e.legacy).toBe(false);
    }
  });

  it('oom: start, then oom events, then die with the exit code docker wait gave (137), then destroy', () => {
    const want = expected['oom'] as { id: string; name: string; exitCode: number };
    const rs = parseStream('current/oom.jsonl');
    const seq = actions(rs);
    expect(seq[0]).toBe('create');
    expect(seq.indexOf('start')).toBeLessThan(seq.indexOf('oom'));
    expect(seq.lastIndexOf('oom')).toBeLessThan(seq.indexOf('die'));
    expect(seq[seq.length - 1]).toBe('destroy');
    expect(new Set(events(rs).map((e) => e.id))).toEqual(new Set([want.id]));
    expect(dies(rs)).toEqual([expect.objectContaining({ exitCode: want.exitCode })]);
    expect(want.exitCode).toBe(137);
  });

  it('oom: event attributes hold the labels, name and image, never the environment', () => {
    const want = expected['oom'] as { name: string; secret: string };
    const start = events(parseStream('current/oom.jsonl')).find(
      (e) => e.action === 'start',
    ) as ContainerEvent;
    expect(start.attributes).toEqual(
      expect.objectContaining({
        name: want.name,
        image: 'oomwatch-test/busybox:latest',
        'com.docker.compose.project': 'shop',
        'com.docker.compose.service': 'cart',
      }),
    );
    for (const line of lines('current/oom.jsonl')) expect(line).not.toContain(want.secret);
  });

  it('kill: die 137 and no oom event', () => {
    const want = expected['kill'] as { exitCode: number; oomKilled: boolean };
    const rs = parseStream('current/kill.jsonl');
    expect(actions(rs)).not.toContain('oom');
    expect(dies(rs)).toEqual([expect.objectContaining({ exitCode: want.exitCode })]);
    expect(want).toEqual(expect.objectContaining({ exitCode: 137, oomKilled: false }));
    // The kill action itself (signal=9) is not one oomwatch acts on.
    expect(rs.some((r) => r.kind === 'ignored' && r.reason === 'container action "kill"')).toBe(true);
  });

  it('exitCode label: the die attribute is the label, so a parser that knows the labels reports the code unknown', () => {
    const want = expected['exitcode-label'] as { id: string; exitCode: number; labelExitCode: string };
    const dieLine = lines('current/exitcode-label.jsonl').find((l) => l.includes('"Action":"die"')) as string;
    // Docker's own line carries the label's value, not the exit code docker wait reported.
    expect(JSON.parse(dieLine).Actor.Attributes.exitCode).toBe(want.labelExitCode);
    expect(want.exitCode).not.toBe(Number(want.labelExitCode));
    // Told nothing about the container, the parser has to believe the attribute...
    const blind = parseEventLine(dieLine);
    expect(blind).toEqual({
      kind: 'event',
      event: expect.objectContaining({ action: 'die', exitCode: Number(want.labelExitCode) }),
    });
    // ...but the source always knows the labels (create/start events, list, inspect) and then refuses it.
    expect(dies(parseStream('current/exitcode-label.jsonl'))).toEqual([
      expect.objectContaining({ id: want.id, exitCode: undefined, unknownExit: 'exitCode-label' }),
    ]);
  });

  it('exitCode label: containers without one keep the attribute, even when labels are known', () => {
    const dieLine = lines('current/kill.jsonl').find((l) => l.includes('"Action":"die"')) as string;
    const r = parseEventLine(dieLine, { labelsOf: () => ({ 'com.example.team': 'payments' }) });
    expect(r).toEqual({ kind: 'event', event: expect.objectContaining({ exitCode: 137 }) });
  });

  it('rename: the new name without its slash; stop and kill are not acted on', () => {
    const want = expected['rename-stop'] as { name: string; newName: string; exitCode: number };
    const rs = parseStream('current/rename-stop.jsonl');
    const rename = events(rs).find((e) => e.action === 'rename');
    expect(rename).toEqual(expect.objectContaining({ action: 'rename', name: want.newName }));
    expect(rename?.attributes['oldName']).toBe(`/${want.name}`);
    expect(dies(rs)).toEqual([expect.objectContaining({ exitCode: want.exitCode })]);
    expect(actions(rs)).toEqual(['create', 'start', 'rename', 'die', 'destroy']);
  });

  it('update: docker update of a running container is an update event on its id, between start and die', () => {
    const want = expected['update'] as { id: string; memoryBefore: number; memoryAfter: number };
    expect(want.memoryAfter).not.toBe(want.memoryBefore); // Docker itself changed the limit
    const rs = parseStream('current/update.jsonl');
    expect(actions(rs)).toEqual(['create', 'start', 'update', 'die', 'destroy']);
    expect(events(rs).find((e) => e.action === 'update')?.id).toBe(want.id);
  });

  it('exec: exec_die carries an exitCode too, but it is not the container dying', () => {
    const want = expected['exec'] as { exitCode: number; execExitCode: number };
    const rs = parseStream('current/exec.jsonl');
    expect(
      lines('current/exec.jsonl').some(
        (l) => l.includes('"Action":"exec_die"') && l.includes(`"exitCode":"${want.execExitCode}"`),
      ),
    ).toBe(true);
    expect(dies(rs)).toEqual([expect.objectContaining({ exitCode: want.exitCode })]);
    expect(rs.filter((r) => r.kind === 'ignored').map((r) => (r as { reason: string }).reason)).toEqual([
      'container action "exec_create: sh -c exit 4"',
      'container action "exec_start: sh -c exit 4"',
      'container action "exec_die"',
    ]);
  });

  it('restart policy: one container, two starts and two dies with the exit code docker wait gave', () => {
    const want = expected['restart'] as { exitCode: number; dies: number };
    const rs = parseStream('current/restart.jsonl');
    expect(actions(rs).filter((a) => a === 'start')).toHaveLength(want.dies);
    expect(dies(rs).map((d) => d.exitCode)).toEqual(Array(want.dies).fill(want.exitCode));
  });

  it('other event types (network, volume, image) are ignored, with the cursor time kept', () => {
    const rs = parseStream('current/other-types.jsonl');
    expect(rs.every((r) => r.kind === 'ignored')).toBe(true);
    const reasons = new Set(rs.map((r) => (r as { reason: string }).reason));
    expect(reasons).toEqual(new Set(['network event', 'volume event', 'image event']));
    for (const r of rs) expect((r as { timeNano?: bigint }).timeNano).toBeGreaterThan(0n);
  });

  it('timeNano is kept exactly (it is above 2^53, where JSON numbers round)', () => {
    for (const line of lines('current/oom.jsonl')) {
      const r = parseEventLine(line);
      if (r.kind !== 'event') continue;
      const digits = (/"timeNano":(\d+)\}$/.exec(line) as RegExpExecArray)[1] as string;
      expect(r.event.timeNano.toString()).toBe(digits);
      expect(r.event.timeMs).toBe(Number(BigInt(digits) / 1_000_000n));
      expect(Math.floor(r.event.timeMs / 1000)).toBe(JSON.parse(line).time);
    }
  });
});

describe('legacy (API < 1.22) event lines', () => {
  it('v1.20 docs: status/id/from/time only; time in seconds becomes the cursor', () => {
    const rs = lines('legacy/v1.20-docs.jsonl').map((l) => parseEventLine(l));
    expect(rs).toEqual([
      {
        kind: 'event',
        event: expect.objectContaining({
          action: 'create',
          id: 'dfdf82bd3881',
          timeNano: 1374067924_000_000_000n,
          legacy: true,
        }),
      },
      {
        kind: 'event',
        event: expect.objectContaining({ action: 'start', id: 'dfdf82bd3881', timeMs: 1374067924_000 }),
      },
      { kind: 'ignored', reason: 'container action "stop"', timeNano: 1374067966_000_000_000n },
      {
        kind: 'event',
        event: expect.objectContaining({ action: 'destroy', id: 'dfdf82bd3881', attributes: {} }),
      },
    ]);
  });

  it('v1.21 docs: timeNano; an image event (no "from") is not a container event', () => {
    const rs = lines('legacy/v1.21-docs.jsonl').map((l) => parseEventLine(l));
    expect(rs).toEqual([
      { kind: 'ignored', reason: 'legacy non-container event "pull"', timeNano: 1442421700598988358n },
      {
        kind: 'event',
        event: expect.objectContaining({
          action: 'create',
          id: '5745704abe9caa5',
          timeNano: 1442421716853979870n,
        }),
      },
      { kind: 'ignored', reason: 'container action "attach"', timeNano: 1442421716894759198n },
      { kind: 'event', event: expect.objectContaining({ action: 'start', timeNano: 1442421716983607193n }) },
    ]);
  });

  it('legacy oom and die (derived from captured lines): a legacy die has no exit code to trust', () => {
    const want = expected['oom'] as { id: string };
    const rs = lines('legacy/derived.jsonl').map((l) => parseEventLine(l));
    expect(rs.filter((r) => r.kind === 'error')).toEqual([]);
    const evs = events(rs);
    expect(evs.every((e) => e.legacy)).toBe(true);
    expect(evs.filter((e) => e.id === want.id && e.action === 'oom').length).toBeGreaterThan(0);
    const legacyDies = evs.filter((e) => e.action === 'die');
    expect(legacyDies).toHaveLength(3);
    for (const d of legacyDies)
      expect(d).toEqual(expect.objectContaining({ exitCode: undefined, unknownExit: 'legacy' }));
  });
});

describe('lines that are not events', () => {
  it('garbage.txt: a line cut by a short read and the error body dockerd sends for a bad filter', () => {
    const [cut, errorBody] = lines('garbage.txt').map((l) => parseEventLine(l));
    expect(cut).toEqual({ kind: 'error', message: expect.stringMatching(/^not a JSON event/) });
    expect(errorBody).toEqual({
      kind: 'error',
      message: expect.stringMatching(/^Docker sent an error: invalid character/),
    });
  });

  it.each<[string, string, ParsedLine['kind'], RegExp]>([
    ['empty', '', 'ignored', /empty line/],
    ['blank', '   \r', 'ignored', /empty line/],
    ['text', 'Hello', 'error', /not a JSON event/],
    ['array', '[1,2]', 'error', /not a JSON object/],
    ['null', 'null', 'error', /not a JSON object/],
    ['no actor', '{"Type":"container","Action":"die","time":1}', 'error', /without Action or Actor\.ID/],
    [
      'no time',
      '{"Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"1"}}}',
      'error',
      /without time/,
    ],
    [
      'attributes not an object',
      '{"Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":[]},"time":1}',
      'error',
      /without Action or Actor/,
    ],
    ['empty id', '{"Type":"container","Action":"start","Actor":{"ID":""},"time":1}', 'error', /empty id/],
    ['untyped object', '{"foo":1}', 'error', /without Type\/Action or status\/id/],
    [
      'daemon event',
      '{"Type":"daemon","Action":"reload","Actor":{"ID":"X"},"time":1,"timeNano":1000000001}',
      'ignored',
      /daemon event/,
    ],
  ])('%s', (_name, line, kind, message) => {
    const r = parseEventLine(line);
    expect(r.kind).toBe(kind);
    expect(r.kind === 'error' ? r.message : (r as { reason: string }).reason).toMatch(message);
  });

  it('a label value that spells "timeNano":<digits> cannot be taken for the timestamp', () => {
    const line = JSON.stringify({
      Type: 'container',
      Action: 'oom',
      Actor: { ID: 'a'.repeat(64), Attributes: { note: '"timeNano":1' } },
      time: 1795829615,
    }).replace(/}$/, ',"timeNano":1795829615873412215}');
    const r = parseEventLine(line);
    expect(r).toEqual({ kind: 'event', event: expect.objectContaining({ timeNano: 1795829615873412215n }) });
  });
});

describe('dieExitCode', () => {
  it.each<
    [
      string,
      Record<string, string>,
      Record<string, string> | undefined,
      boolean,
      number | undefined,
      string | undefined,
    ]
  >([
    ['attribute, labels unknown', { exitCode: '137' }, undefined, false, 137, undefined],
    [
      'attribute, labels known without exitCode',
      { exitCode: '1', team: 'a' },
      { team: 'a' },
      false,
      1,
      undefined,
    ],
    ['exitCode label present', { exitCode: '0' }, { exitCode: '0' }, false, undefined, 'exitCode-label'],
    [
      'exitCode label with another value',
      { exitCode: 'oops' },
      { exitCode: 'oops' },
      false,
      undefined,
      'exitCode-label',
    ],
    ['not an integer', { exitCode: 'x' }, undefined, false, undefined, 'missing'],
    ['absent', {}, {}, false, undefined, 'missing'],
    ['negative (Windows-style codes)', { exitCode: '-1' }, {}, false, -1, undefined],
    ['legacy', {}, undefined, true, undefined, 'legacy'],
  ])('%s', (_name, attributes, labels, legacy, exitCode, unknownExit) => {
    expect(dieExitCode(attributes, labels, legacy)).toEqual(
      unknownExit === undefined ? { exitCode } : { exitCode, unknownExit },
    );
  });
});

describe('sinceParameter', () => {
  it.each<[bigint, string]>([
    [1795829615873412215n, '1795829615.873412215'],
    [5_000_000_007n, '5.000000007'],
    [1374067924_000_000_000n, '1374067924.000000000'],
    [0n, '0.000000000'],
  ])('%s -> %s', (ns, text) => {
    expect(sinceParameter(ns)).toBe(text);
  });
});
