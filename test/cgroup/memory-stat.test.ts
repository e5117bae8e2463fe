import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseMemoryStat } from '../../src/cgroup/memory-stat';
import { fixtureId } from '../helpers/fixture-ids';
import { FIXTURES } from '../helpers/paths';

/**
 * memory.stat as kernels of several eras write it. Key lists and their order come from the kernel source of
 * each era (the values are a plausible container's); "this machine" is a real file copied by
 * test/helpers/capture-v1-tree.sh. The parser must read the same four figures from all of them by key.
 */

// v1, 3.10 (RHEL/CentOS 7): mm/memcontrol.c memcg_stat_show() prints mem_cgroup_stat_names[] (cache, rss,
// rss_huge, mapped_file, swap when swap accounting is on), mem_cgroup_events_names[], mem_cgroup_lru_names[],
// hierarchical_memory_limit / hierarchical_memsw_limit, then every key again with total_. Documented in
// Documentation/cgroups/memory.txt section 5.2.
const V1_3_10 = `cache 1388544
rss 31977472
rss_huge 0
mapped_file 823296
swap 0
pgpgin 9577
pgpgout 1432
pgfault 10614
pgmajfault 8
inactive_anon 0
active_anon 31977472
inactive_file 1241088
active_file 147456
unevictable 0
hierarchical_memory_limit 67108864
hierarchical_memsw_limit 134217728
total_cache 1388544
total_rss 31977472
total_rss_huge 0
total_mapped_file 823296
total_swap 0
total_pgpgin 9577
total_pgpgout 1432
total_pgfault 10614
total_pgmajfault 8
total_inactive_anon 0
total_active_anon 31977472
total_inactive_file 1241088
total_active_file 147456
total_unevictable 0
`;

// v1, 4.9 to 4.19 (and 5.x, same names): memcg1_stat_names[] = cache, rss, rss_huge, shmem, mapped_file,
// dirty, writeback, swap; memcg1_events (pgpgin, pgpgout, pgfault, pgmajfault); the LRU lists; the
// hierarchical limits; the total_ repeats (mm/memcontrol.c memcg_stat_show(), 4.19). Unlimited parent:
// hierarchical_memory_limit is the 4 KiB-page sentinel, above 2^53.
const V1_4_19 = `cache 2211840
rss 52428800
rss_huge 0
shmem 0
mapped_file 1007616
dirty 0
writeback 0
swap 4194304
pgpgin 21016
pgpgout 7683
pgfault 24563
pgmajfault 33
inactive_anon 4096
active_anon 52424704
inactive_file 1605632
active_file 606208
unevictable 0
hierarchical_memory_limit 9223372036854771712
hierarchical_memsw_limit 9223372036854771712
total_cache 2211840
total_rss 52428800
total_rss_huge 0
total_shmem 0
total_mapped_file 1007616
total_dirty 0
total_writeback 0
total_swap 4194304
total_pgpgin 21016
total_pgpgout 7683
total_pgfault 24563
total_pgmajfault 33
total_inactive_anon 4096
total_active_anon 52424704
total_inactive_file 1605632
total_active_file 606208
total_unevictable 0
`;

// v1, 5.10 booted with swapaccount=0 (the Debian and Ubuntu default before they turned swap accounting on):
// memcg_stat_show() skips MEMCG_SWAP and hierarchical_memsw_limit when !do_memsw_account(), so there is no
// swap key at all (5.10 memcg1_stats[] = NR_FILE_PAGES, NR_ANON_MAPPED, NR_ANON_THPS, NR_SHMEM,
// NR_FILE_MAPPED, NR_FILE_DIRTY, NR_WRITEBACK, MEMCG_SWAP, printed as the same names as 4.19).
const V1_5_10_NO_SWAP_ACCOUNTING = `cache 8478720
rss 14548992
rss_huge 0
shmem 0
mapped_file 5406720
dirty 135168
writeback 0
pgpgin 6699
pgpgout 1035
pgfault 7623
pgmajfault 99
inactive_anon 14548992
active_anon 0
inactive_file 5992448
active_file 2486272
unevictable 0
hierarchical_memory_limit 536870912
total_cache 8478720
total_rss 14548992
total_rss_huge 0
total_shmem 0
total_mapped_file 5406720
total_dirty 135168
total_writeback 0
total_pgpgin 6699
total_pgpgout 1035
total_pgfault 7623
total_pgmajfault 99
total_inactive_anon 14548992
total_active_anon 0
total_inactive_file 5992448
total_active_file 2486272
total_unevictable 0
`;

// v1 with use_hierarchy=0 (possible until 5.x deprecated it): the kernel still prints the total_ keys, over
// this cgroup alone, so they equal the local ones (memcg_stat_show() walks the subtree only when the
// hierarchy is on). Same 4.19 key list.
const V1_NO_HIERARCHY = V1_4_19.replace(
  'hierarchical_memory_limit 9223372036854771712',
  'hierarchical_memory_limit 268435456',
);

// No total_ keys at all: what kernels before 2.6.29 wrote (the total_ keys arrived with hierarchy support).
// No kernel oomwatch supports writes this; the fallback to the local keys keeps such a file usable.
const V1_NO_TOTALS = V1_3_10.split('\n')
  .filter((l) => !l.startsWith('total_'))
  .join('\n');

// This machine (6.x, v1): copied from the kernel by capture-v1-tree.sh. 6.x adds workingset_refault_anon,
// workingset_refault_file and swapcached to memcg1_stat_names[].
const CAPTURED = path.join(FIXTURES, 'cgroup', 'v1', 'memory', 'docker');
const capturedStat = (name: string): string =>
  fs.readFileSync(path.join(CAPTURED, fixtureId(name), 'memory.stat'), 'latin1');
const V1_THIS_MACHINE_WEB = capturedStat('web');
const V1_THIS_MACHINE_CACHE = capturedStat('cache');

// v2, 5.4: mm/memcontrol.c memory_stat_format() of 5.4, one seq_buf_printf per key: anon, file,
// kernel_stack, slab, sock, shmem, file_mapped, file_dirty, file_writeback, anon_thp, the LRU lists,
// slab_reclaimable, slab_unreclaimable, then the events pgfault ... thp_collapse_alloc. Documented in
// Documentation/admin-guide/cgroup-v2.rst, "memory.stat".
const V2_5_4 = `anon 50495488
file 9060352
kernel_stack 147456
slab 1703936
sock 0
shmem 0
file_mapped 2703360
file_dirty 0
file_writeback 0
anon_thp 0
inactive_anon 0
active_anon 50495488
inactive_file 7090176
active_file 1970176
unevictable 0
slab_reclaimable 860160
slab_unreclaimable 843776
pgfault 15444
pgmajfault 33
workingset_refault 0
workingset_activate 0
workingset_nodereclaim 0
pgrefill 0
pgscan 0
pgsteal 0
pgactivate 480
pgdeactivate 0
pglazyfree 0
pglazyfreed 0
thp_fault_alloc 0
thp_collapse_alloc 0
`;

// v2, 6.1 (Debian 12): memory_stat_format() prints the memory_stats[] table (anon, file, kernel,
// kernel_stack, pagetables, sec_pagetables, percpu, sock, vmalloc, shmem, zswap, zswapped, file_mapped,
// file_dirty, file_writeback, swapcached, anon_thp, file_thp, shmem_thp, the LRU lists, slab_reclaimable,
// slab_unreclaimable, then "slab", the workingset_* events), then pgscan, pgsteal and memcg_vm_event_stat[]
// without pgpgin/pgpgout. Key names cross-checked against the strings of Debian's 6.1 kernel image.
const V2_6_1 = `anon 30048256
file 2097152
kernel 1327104
kernel_stack 98304
pagetables 405504
sec_pagetables 0
percpu 5760
sock 0
vmalloc 0
shmem 0
zswap 0
zswapped 0
file_mapped 0
file_dirty 0
file_writeback 0
swapcached 0
anon_thp 0
file_thp 0
shmem_thp 0
inactive_anon 30048256
active_anon 0
inactive_file 1048576
active_file 1048576
unevictable 0
slab_reclaimable 311296
slab_unreclaimable 398112
slab 709408
workingset_refault_anon 0
workingset_refault_file 0
workingset_activate_anon 0
workingset_activate_file 0
workingset_restore_anon 0
workingset_restore_file 0
workingset_nodereclaim 0
pgscan 0
pgsteal 0
pgscan_kswapd 0
pgscan_direct 0
pgsteal_kswapd 0
pgsteal_direct 0
pgfault 7748
pgmajfault 0
pgrefill 0
pgactivate 0
pgdeactivate 0
pglazyfree 0
pglazyfreed 0
zswpin 0
zswpout 0
thp_fault_alloc 0
thp_collapse_alloc 0
`;

// v2, 6.13 and later: memory_stats[] grows hugetlb (when hugetlb accounting is on), pgdemote_*,
// pgpromote_success; memcg_vm_event_stat[] grows pswpin/pswpout, pgscan_khugepaged, pgsteal_khugepaged,
// swpin_zero/swpout_zero, zswpwb, thp_swpout, thp_swpout_fallback and the numa_* events
// (mm/memcontrol.c with CONFIG_MEMCG_V1 split out). Keys oomwatch does not know must simply be skipped.
const V2_6_13 = `anon 104857600
file 52428800
kernel 4194304
kernel_stack 196608
pagetables 1048576
sec_pagetables 0
percpu 11520
sock 4096
vmalloc 8192
shmem 0
zswap 0
zswapped 0
file_mapped 8388608
file_dirty 4096
file_writeback 0
swapcached 0
anon_thp 0
file_thp 0
shmem_thp 0
inactive_anon 104857600
active_anon 0
inactive_file 41943040
active_file 10485760
unevictable 0
slab_reclaimable 1048576
slab_unreclaimable 1310720
slab 2359296
hugetlb 0
workingset_refault_anon 0
workingset_refault_file 12
workingset_activate_anon 0
workingset_activate_file 3
workingset_restore_anon 0
workingset_restore_file 0
workingset_nodereclaim 0
pgdemote_kswapd 0
pgdemote_direct 0
pgdemote_khugepaged 0
pgpromote_success 0
pgscan 1024
pgsteal 1000
pswpin 0
pswpout 0
pgscan_kswapd 0
pgscan_direct 1024
pgscan_khugepaged 0
pgsteal_kswapd 0
pgsteal_direct 1000
pgsteal_khugepaged 0
pgfault 40960
pgmajfault 17
pgrefill 0
pgactivate 210
pgdeactivate 0
pglazyfree 0
pglazyfreed 0
swpin_zero 0
swpout_zero 0
zswpin 0
zswpout 0
zswpwb 0
thp_fault_alloc 0
thp_collapse_alloc 0
thp_swpout 0
thp_swpout_fallback 0
numa_pages_migrated 0
numa_pte_updates 0
numa_hint_faults 0
`;

describe('parseMemoryStat on v1 files', () => {
  it.each([
    ['3.10', V1_3_10, { rss: 31977472, cache: 1388544, mappedFile: 823296, inactiveFile: 1241088, swap: 0 }],
    [
      '4.19',
      V1_4_19,
      { rss: 52428800, cache: 2211840, mappedFile: 1007616, inactiveFile: 1605632, swap: 4194304 },
    ],
    [
      '5.10 without swap accounting',
      V1_5_10_NO_SWAP_ACCOUNTING,
      { rss: 14548992, cache: 8478720, mappedFile: 5406720, inactiveFile: 5992448, swap: undefined },
    ],
    [
      'use_hierarchy=0',
      V1_NO_HIERARCHY,
      { rss: 52428800, cache: 2211840, mappedFile: 1007616, inactiveFile: 1605632, swap: 4194304 },
    ],
    [
      'no total_ keys',
      V1_NO_TOTALS,
      { rss: 31977472, cache: 1388544, mappedFile: 823296, inactiveFile: 1241088, swap: 0 },
    ],
    // the container's own process plus its sub-cgroup's: the total_ keys, not the local ones
    [
      'this machine (6.x), a container with a sub-cgroup',
      V1_THIS_MACHINE_WEB,
      hierarchicalOf(V1_THIS_MACHINE_WEB),
    ],
    [
      'this machine (6.x), page cache past the limit',
      V1_THIS_MACHINE_CACHE,
      hierarchicalOf(V1_THIS_MACHINE_CACHE),
    ],
  ])('%s', (_era, text, expected) => {
    const r = parseMemoryStat(text, 1);
    if (!r.ok) throw new Error(r.error);
    expect({
      rss: r.value.rss,
      cache: r.value.cache,
      mappedFile: r.value.mappedFile,
      inactiveFile: r.value.inactiveFile,
      swap: r.value.swap,
    }).toEqual(expected);
  });

  it('keeps every key as written, unknown ones included, values above 2^53 as numbers', () => {
    const r = parseMemoryStat(V1_4_19, 1);
    if (!r.ok) throw new Error(r.error);
    expect(r.value.raw.get('total_pgmajfault')).toBe(33);
    expect(r.value.raw.get('hierarchical_memory_limit')).toBe(Number(9223372036854771712n));
    expect(r.value.raw.size).toBe(V1_4_19.trim().split('\n').length);
  });

  it('prefers the hierarchical total_ keys over the local ones', () => {
    const r = parseMemoryStat('rss 1\ncache 2\ntotal_rss 10\ntotal_cache 20\n', 1);
    expect(r.ok && [r.value.rss, r.value.cache]).toEqual([10, 20]);
  });
});

/** The figures the real file's total_ keys hold (read independently of the parser). */
function hierarchicalOf(text: string): Record<string, number | undefined> {
  const get = (k: string): number => Number(new RegExp(`^total_${k} (\\d+)$`, 'm').exec(text)?.[1]);
  return {
    rss: get('rss'),
    cache: get('cache'),
    mappedFile: get('mapped_file'),
    inactiveFile: get('inactive_file'),
    swap: get('swap'),
  };
}

describe('parseMemoryStat on v2 files', () => {
  it.each([
    ['5.4', V2_5_4, { rss: 50495488, cache: 9060352, mappedFile: 2703360, inactiveFile: 7090176 }],
    ['6.1', V2_6_1, { rss: 30048256, cache: 2097152, mappedFile: 0, inactiveFile: 1048576 }],
    [
      '6.13 with keys oomwatch does not know',
      V2_6_13,
      { rss: 104857600, cache: 52428800, mappedFile: 8388608, inactiveFile: 41943040 },
    ],
  ])('%s', (_era, text, expected) => {
    const r = parseMemoryStat(text, 2);
    if (!r.ok) throw new Error(r.error);
    expect({
      rss: r.value.rss,
      cache: r.value.cache,
      mappedFile: r.value.mappedFile,
      inactiveFile: r.value.inactiveFile,
    }).toEqual(expected);
    // v2 reports swap in memory.swap.current, not memory.stat
    expect(r.value.swap).toBeUndefined();
  });

  it('does not read v1 keys from a v2 file', () => {
    const r = parseMemoryStat('rss 5\ncache 6\ntotal_rss 7\ntotal_cache 8\n', 2);
    expect(r).toEqual({ ok: false, error: 'memory.stat has no anon key' });
  });
});

describe('parseMemoryStat on malformed files', () => {
  it.each([
    [
      'a value that is not a number',
      'anon 12\nfile twelve\n',
      'expected an integer value for file, got "file twelve"',
    ],
    ['a key without a value', 'anon 12\nfile\n', 'expected "key value", got "file"'],
    ['a tab instead of a space', 'anon\t12\n', 'expected "key value", got "anon\\t12"'],
    ['two values', 'anon 12 13\n', 'expected an integer value for anon, got "anon 12 13"'],
    ['a line starting with a space', ' anon 12\n', 'expected "key value", got " anon 12"'],
    ['a fractional value', 'anon 1.5\n', 'expected an integer value for anon, got "anon 1.5"'],
    ['the anon key missing', 'file 1\ninactive_file 1\n', 'memory.stat has no anon key'],
    ['the file key missing', 'anon 1\n', 'memory.stat has no file key'],
  ])('%s: the error quotes the line', (_what, text, error) => {
    expect(parseMemoryStat(text, 2)).toEqual({ ok: false, error });
  });

  it('shortens a very long line in the error', () => {
    const r = parseMemoryStat(`anon ${'9'.repeat(200)}x\n`, 2);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.length).toBeLessThan(140);
  });

  it('skips empty lines (the kernel ends the file with a newline)', () => {
    const r = parseMemoryStat('\nanon 1\n\nfile 2\n\n', 2);
    expect(r.ok && [r.value.rss, r.value.cache]).toEqual([1, 2]);
  });
});
