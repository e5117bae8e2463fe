import * as fs from 'node:fs';
import * as path from 'node:path';
import { OomLedger } from '../../../src/accounting/ledger';
import type { KernelOomKill } from '../../../src/accounting/observations';
import { containerFromCgroupPath } from '../../../src/cgroup/container-path';
import { silentLogger } from '../../../src/log';
import { OomRecordAssembler } from '../../../src/sources/kmsg/assembler';
import { KmsgStreamSplitter, type KmsgRecord, parseKmsgRecord } from '../../../src/sources/kmsg/record';
import { ContainerTable } from '../../../src/state/containers';
import type { OomKill } from '../../../src/state/oom-kill';
import { FIXTURES } from '../../helpers/paths';

/**
 * Every kernel era's records (test/fixtures/kmsg/<era>/, written from the kernel's own format strings; each
 * folder's SOURCES.md quotes them, ERAS.md explains EXPECTED.json) through the real record splitter and
 * assembler, compared with the kills EXPECTED.json lists; then through the OOM ledger, which must put each
 * kill where `attributeTo` says (null: the kernel log cannot tell, the kill waits for another source).
 */

const KMSG = path.join(FIXTURES, 'kmsg');
const BOOT = { bootId: 'e7a1c0de-5a1e-4c2b-9d3e-000000000013', bootTimeMs: 1_795_000_000_000 };

interface ExpectedKill {
  seq: number;
  pid: number;
  comm: string;
  trigger: KernelOomKill['trigger'];
  constraint?: string;
  oomMemcg?: string;
  taskMemcg?: string;
  groupKill?: boolean;
  groupMemcg?: string;
  repeatOfSeq?: number;
  uid?: number;
  oomScoreAdj?: number;
  shmemRssBytes?: number;
  attributeTo: string | null;
}
type Expected = Record<string, { kills: ExpectedKill[]; notes?: string }>;

const ERAS = fs
  .readdirSync(KMSG, { withFileTypes: true })
  .filter((d) => d.isDirectory() && fs.existsSync(path.join(KMSG, d.name, 'EXPECTED.json')))
  .map((d) => d.name)
  .sort();

const expectedOf = (era: string): Expected =>
  JSON.parse(fs.readFileSync(path.join(KMSG, era, 'EXPECTED.json'), 'utf8')) as Expected;

const CASES: Array<[string, string, ExpectedKill[]]> = ERAS.flatMap((era) =>
  Object.entries(expectedOf(era)).map(
    ([file, e]) => [era, file, e.kills] as [string, string, ExpectedKill[]],
  ),
);

/** The records of a file, cut the way the source cuts a regular file read `chunk` bytes at a time. */
function records(text: string, chunk = text.length): KmsgRecord[] {
  const splitter = new KmsgStreamSplitter();
  const raw: string[] = [];
  for (let i = 0; i < text.length; i += chunk) raw.push(...splitter.push(text.slice(i, i + chunk)));
  raw.push(...splitter.end());
  return raw.map((r) => {
    const p = parseKmsgRecord(r);
    if (!p.ok) throw new Error(p.error);
    return p.value;
  });
}

function kills(era: string, file: string, chunk?: number): KernelOomKill[] {
  const text = fs.readFileSync(path.join(KMSG, era, file), 'latin1');
  const assembler = new OomRecordAssembler(BOOT);
  const out = records(text, chunk).flatMap((r) => assembler.push(r));
  return [...out, ...assembler.flush()];
}

/** A kill in EXPECTED.json's terms: every field ERAS.md lists, absent ones undefined. */
const asExpected = (k: KernelOomKill): Omit<ExpectedKill, 'attributeTo'> => ({
  seq: k.seq,
  pid: k.victim.pid,
  comm: k.victim.comm,
  trigger: k.trigger,
  constraint: k.constraint,
  oomMemcg: k.oomMemcg,
  taskMemcg: k.taskMemcg,
  groupKill: k.groupKill,
  groupMemcg: k.groupMemcg,
  repeatOfSeq: k.repeatOfSeq,
  uid: k.victim.uid,
  oomScoreAdj: k.victim.oomScoreAdj,
  shmemRssBytes: k.victim.shmemRssBytes,
});

const withoutAttribution = (e: ExpectedKill): Omit<ExpectedKill, 'attributeTo'> => {
  const { attributeTo: _attributeTo, ...rest } = e;
  return {
    constraint: undefined,
    oomMemcg: undefined,
    taskMemcg: undefined,
    groupKill: undefined,
    groupMemcg: undefined,
    repeatOfSeq: undefined,
    uid: undefined,
    oomScoreAdj: undefined,
    shmemRssBytes: undefined,
    ...rest,
  };
};

describe('the fixtures of every kernel era', () => {
  it('has the six era folders, each file of each listed in its EXPECTED.json', () => {
    expect(ERAS).toEqual(['3.10', '4.19', '4.4-4.18', '5.x', '6.1', '6.12']);
    for (const era of ERAS) {
      const files = fs.readdirSync(path.join(KMSG, era)).filter((f) => f.endsWith('.txt'));
      expect(files.sort()).toEqual(Object.keys(expectedOf(era)).sort());
    }
  });
});

describe('kernel-log records per kernel era: the kills EXPECTED.json lists', () => {
  it.each(CASES)('%s/%s', (era, file, expected) => {
    expect(kills(era, file).map(asExpected)).toEqual(expected.map(withoutAttribution));
  });

  it.each(CASES)('%s/%s: the same kills whatever the read boundaries', (era, file, expected) => {
    for (const chunk of [1, 13, 200, 4096])
      expect(kills(era, file, chunk).map(asExpected)).toEqual(expected.map(withoutAttribution));
  });
});

describe('kernel-log records per kernel era: the OOM ledger attributes each kill as EXPECTED.json says', () => {
  it.each(CASES)('%s/%s', (era, file, expected) => {
    let now = 1_000_000;
    const table = new ContainerTable();
    const events = new Map<string, OomKill>();
    const ledger = new OomLedger({
      table,
      log: silentLogger(),
      sink: { oomKill: (r) => events.set(r.key, { ...r }), exit: () => undefined, dirty: () => undefined },
      matchWindowMs: 5000,
      kmsgUp: () => true,
      now: () => now,
    });
    for (const k of kills(era, file)) ledger.onKernelKill(k);
    now += 60_000;
    ledger.tick(); // no cgroup counter or Docker event comes: what the log could not attribute is let go

    const containerOf = (cgroup: string | null): string | undefined => {
      if (cgroup === null) return undefined;
      const cp = containerFromCgroupPath(cgroup);
      if (cp === null) throw new Error(`attributeTo ${cgroup} is not a container cgroup`);
      return cp.id;
    };
    const counted = expected.filter((e) => e.repeatOfSeq === undefined);
    // Each kill counted once (a process the kernel reported twice in one group kill is one kill) ...
    expect(events.size).toBe(counted.length);
    // ... on the container it belongs to, or on none.
    for (const e of counted)
      expect([e.seq, events.get(`kmsg:${BOOT.bootId}:${e.seq}`)?.containerId]).toEqual([
        e.seq,
        containerOf(e.attributeTo),
      ]);
    const perContainer = new Map<string, number>();
    for (const e of counted) {
      const id = containerOf(e.attributeTo);
      if (id !== undefined) perContainer.set(id, (perContainer.get(id) ?? 0) + 1);
    }
    for (const entry of table.values()) expect(entry.oomKills).toBe(perContainer.get(entry.id) ?? 0);
    expect([...table.values()].filter((e) => e.oomKills > 0).length).toBe(perContainer.size);
  });
});
