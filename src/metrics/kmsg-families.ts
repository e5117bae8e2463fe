import type { KmsgStats } from '../sources/kmsg/source';
import type { FamilyWriter } from './render';

/** The kernel-log source's own counters. */
export function kmsgFamilies(source: { readonly stats: KmsgStats }): FamilyWriter {
  const rows: { name: string; help: string; value: (s: KmsgStats) => number }[] = [
    {
      name: 'oomwatch_kmsg_records_read_total',
      help: 'Records read from the kernel log (/dev/kmsg), including those re-read after a restart.',
      value: (s) => s.recordsRead,
    },
    {
      name: 'oomwatch_kmsg_records_lost_total',
      help: 'Kernel log records overwritten before oomwatch read them (seq gaps: ring overruns, and records that scrolled out while oomwatch was down).',
      value: (s) => s.recordsLost,
    },
    {
      name: 'oomwatch_kmsg_records_malformed_total',
      help: 'Kernel log records that could not be parsed and were skipped.',
      value: (s) => s.malformedRecords,
    },
    {
      name: 'oomwatch_kmsg_oom_kill_records_total',
      help: 'OOM-killer "Killed process" records parsed from the kernel log, including those re-read after a restart and not delivered again.',
      value: (s) => s.oomKillRecords,
    },
  ];
  return (w) => {
    for (const r of rows) {
      w.family(r.name, 'counter', r.help);
      w.sample(r.name, '', r.value(source.stats));
    }
  };
}
