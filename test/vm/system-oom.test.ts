import { describeIf } from '../helpers/prereq';
import { valueOf } from '../helpers/prom';
import { container, containerEnv } from './containers';
import { keyed } from './kernel-files';
import { killedProcesses, oomKillSummaries, parseKmsgDump } from './kmsg-records';
import { containerValue, eventsOf } from './oom-api';
import { type ScenarioRun, runScenario, vmPrerequisites } from './vm';
import { kernelsFor } from './matrix';

/**
 * A system (global) OOM whose victim sits in a container without a limit: counted as scope system, attributed
 * to the container as its victim, and not as a limit OOM.
 *
 * The VM boots with 512 MB rather than 256: the initramfs (Node.js 24 and oomwatch's dependencies) unpacks
 * into about 175 MB of RAM that cannot be reclaimed, and 256 MB cannot even unpack it. What matters is that
 * the 400 MB allocation exceeds the memory left (the scenario checks MemAvailable < 350 MB first).
 */
for (const line of kernelsFor('system-oom'))
  describeIf(...vmPrerequisites())(
    `cgroup v2 in a VM (kernel ${line}): a system OOM kills a process of a container`,
    () => {
      const c = container('victim', 'docker-systemd');
      let run: ScenarioRun;

      beforeAll(async () => {
        run = await runScenario({
          kernel: line,
          scenario: 'system-oom.sh',
          memoryMb: 512,
          env: containerEnv([c]),
        });
        console.log(
          `system OOM (MemAvailable ${run.number('available_mb')} MB, 400 MB allocated): on /metrics ` +
            `${run.has('seen_ms') ? `${run.number('seen_ms')} ms` : 'never'} after the victim's death`,
        );
      }, 30 * 60_000);

      it('the kernel ran its global OOM killer and killed the allocating process in the container', () => {
        const kmsg = parseKmsgDump(run.text('kmsg'));
        const victim = run.number('victim');
        const summary = oomKillSummaries(kmsg).find((s) => s['pid'] === String(victim));
        expect(summary).toMatchObject({
          constraint: 'CONSTRAINT_NONE',
          task_memcg: `/${c.cgroup}`,
          task: 'awk',
        });
        expect(summary).toHaveProperty('global_oom');
        expect(killedProcesses(kmsg).find((k) => k.pid === victim)?.reason).toBe('Out of memory');
        // The container's own counters: a kill, but no OOM situation of its own (no limit was hit).
        const events = run.text('cgroup/memory.events');
        expect(keyed(events, 'oom_kill')).toBe(1);
        expect(keyed(events, 'oom')).toBe(0);
      });

      it('counts oomwatch_oom_kills_total{scope="system"} +1 and the container kill, not a limit OOM', () => {
        const before = run.scrape('before');
        const after = run.scrape('after');
        const host = (s: typeof before, scope: string): number =>
          valueOf(s, 'oomwatch_oom_kills_total', { scope }) ?? 0;
        expect(host(after, 'system')).toBe(host(before, 'system') + 1);
        expect(host(after, 'container')).toBe(host(before, 'container'));
        expect(containerValue(before, 'oom_kills_total', c)).toBe(0);
        expect(containerValue(after, 'oom_kills_total', c)).toBe(1);
        expect(containerValue(after, 'memory_limit_hits_total', c) ?? 0).toBe(0);
        expect(run.has('seen_ms')).toBe(true);
        expect(valueOf(after, 'oomwatch_polls_total')).toBe(valueOf(before, 'oomwatch_polls_total'));
      });

      it('the event log has the kill with scope system, attributed to the container, with its victim', () => {
        const kmsg = parseKmsgDump(run.text('kmsg'));
        const victim = run.number('victim');
        const k = killedProcesses(kmsg).find((p) => p.pid === victim)!;
        const events = eventsOf(run, 'events', c);
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({ scope: 'system', trigger: 'system', cgroup: `/${c.cgroup}` });
        expect(events[0]!.victim).toMatchObject({
          pid: victim,
          comm: 'awk',
          rss_bytes: k.anonRssBytes + k.fileRssBytes + k.shmemRssBytes,
        });
      });
    },
  );
