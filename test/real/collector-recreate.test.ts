import * as path from 'node:path';
import { detectLayout } from '../../src/cgroup/layout';
import { CgroupReader, FdBudget } from '../../src/cgroup/reader';
import { V1Cgroups, V1_MEMORY, allocateScript, kernelOomKills, randomHex } from '../helpers/cgroup-v1';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { describeIf, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { valueOf } from '../helpers/prom';

/**
 * What the kernel does to a descriptor oomwatch keeps open when the cgroup behind it goes away: reads fail
 * with ENODEV. A container removed is then "vanished" (no error); a container restarted under the same id
 * between two polls is a new cgroup at the same path whose counters start again from 0, and oomwatch's own
 * totals must keep growing across it.
 */
describeIf(isRoot(), hasV1MemoryCgroup())(
  'cgroups removed and recreated under kept descriptors (real v1 kernel)',
  () => {
    const cgroups = new V1Cgroups();
    afterAll(() => cgroups.cleanup());
    const layout = (): ReturnType<typeof detectLayout> => detectLayout('/sys/fs/cgroup');

    it('a removed cgroup reads as vanished, without an error', () => {
      const rel = `/docker/${randomHex(64)}`;
      const dir = cgroups.make(rel, 32 * 1024 * 1024);
      const reader = new CgroupReader(layout(), rel, new FdBudget(64));
      expect(reader.read()).toMatchObject({ vanished: false, errors: [] });
      expect(reader.openFiles).toBeGreaterThan(5);
      cgroups.remove(dir);
      expect(reader.read()).toMatchObject({ vanished: true, errors: [] });
    });

    it("a cgroup recreated at the same path reads as recreated, with the new cgroup's values", () => {
      const rel = `/docker/${randomHex(64)}`;
      const dir = cgroups.make(rel, 32 * 1024 * 1024);
      const reader = new CgroupReader(layout(), rel, new FdBudget(64));
      expect(reader.read().sample.limit).toBe(32 * 1024 * 1024);
      cgroups.remove(dir);
      cgroups.make(rel, 48 * 1024 * 1024);
      const again = reader.read();
      expect(again).toMatchObject({ vanished: false, recreated: true, errors: [] });
      expect(again.sample.limit).toBe(48 * 1024 * 1024);
      // the next read of the same cgroup is an ordinary one
      expect(reader.read()).toMatchObject({ recreated: false, errors: [] });
    });

    describe('the daemon', () => {
      let ow: RunningOomwatch;
      const id = randomHex(64);
      const rel = `docker/${id}`;
      const short = { id: id.slice(0, 12) };
      beforeAll(async () => {
        ow = await startOomwatch({
          args: [
            '--cgroup-root',
            '/sys/fs/cgroup',
            '--interval',
            '2s',
            '--docker-socket',
            'none',
            '--kmsg',
            'none',
          ],
        });
      });
      afterAll(async () => {
        await ow?.stop();
      });

      it('counts a kill in a container restarted under the same id as one more, not as nothing', async () => {
        const limit = 32 * 1024 * 1024;
        // The kernel may kill more than one process of the workload, so each cgroup's own count is read from
        // the kernel, not assumed to be 1.
        const first = cgroups.make(rel, limit);
        await cgroups.runIn(first, allocateScript(100)).exited;
        const firstKills = kernelOomKills(first);
        expect(firstKills).toBeGreaterThanOrEqual(1);
        await eventually(
          async () =>
            valueOf(await ow.scrape(), 'oomwatch_container_cgroup_oom_kills_total', short) === firstKills
              ? true
              : undefined,
          15_000,
          'the first kill',
        );

        // Right after a poll, so that the next poll is likely to find the new cgroup in place already (its
        // kept descriptors then go stale, the case a fixture on disk cannot show): remove, create, kill again.
        const polls = valueOf(await ow.scrape(), 'oomwatch_polls_total') ?? 0;
        await eventually(
          async () => ((valueOf(await ow.scrape(), 'oomwatch_polls_total') ?? 0) > polls ? true : undefined),
          5_000,
          'a poll',
        );
        cgroups.remove(path.join(V1_MEMORY, rel));
        const dir = cgroups.make(rel, limit);
        await cgroups.runIn(dir, allocateScript(100)).exited;
        // The new cgroup's own count started again from 0: it holds the second run's kills only.
        const secondKills = kernelOomKills(dir);
        expect(secondKills).toBeGreaterThanOrEqual(1);

        const total = await eventually(
          async () => {
            const v = valueOf(await ow.scrape(), 'oomwatch_container_cgroup_oom_kills_total', short);
            return v !== undefined && v > firstKills ? v : undefined;
          },
          15_000,
          'the total past the first kill',
        );
        expect(total).toBe(firstKills + secondKills);
        expect(valueOf(await ow.scrape(), 'oomwatch_container_oom_kills_total', short)).toBe(
          firstKills + secondKills,
        );
      });
    });
  },
);
