import { describeIf } from '../helpers/prereq';
import { valueOf } from '../helpers/prom';
import { container, containerEnv, shortId } from './containers';
import { keyed } from './kernel-files';
import { killedProcesses, oomReports, parseKmsgDump } from './kmsg-records';
import { containerValue, eventsOf } from './oom-api';
import { type ScenarioRun, runScenario, vmPrerequisites } from './vm';
import { kernelFeatures } from './kernels';
import { kernelsFor } from './matrix';

/**
 * memory.oom.group = 1 (what Kubernetes 1.28+ sets on cgroup v2): one OOM kills the container's three
 * processes. oomwatch counts three kills, each process once, before its next poll, as one group kill.
 */
for (const line of kernelsFor('group-kill'))
  describeIf(...vmPrerequisites())(
    `cgroup v2 in a VM (kernel ${line}): a memory.oom.group kill of three processes`,
    () => {
      const c = container('group', 'k8s-systemd');
      let run: ScenarioRun;
      let pids: number[];

      beforeAll(async () => {
        run = await runScenario({ kernel: line, scenario: 'group-kill.sh', env: containerEnv([c]) });
        pids = run.text('pids').trim().split(/\s+/).map(Number);
        console.log(
          `group kill of 3 processes: all 3 on /metrics ${run.has('seen_ms') ? `${run.number('seen_ms')} ms` : 'never'} after the victim's death; ` +
            `kernel memory.events: ${run.text('cgroup/memory.events').trim().replace(/\n/g, ', ')}`,
        );
      }, 30 * 60_000);

      it('the kernel killed the three processes in one OOM event', () => {
        const kmsg = parseKmsgDump(run.text('kmsg'));
        const reports = oomReports(kmsg);
        expect(reports).toHaveLength(1);
        const report = reports[0]!;
        expect(
          report.some(
            (r) => r.message === `Tasks in /${c.cgroup} are going to be killed due to memory.oom.group set`,
          ),
        ).toBe(true);
        expect(new Set(killedProcesses(report).map((k) => k.pid))).toEqual(new Set(pids));
        // memory.events has oom_group_kill from 5.17 on; before, the group kill shows only in the kernel log.
        if (kernelFeatures(line).oomGroupKillEvent)
          expect(keyed(run.text('cgroup/memory.events'), 'oom_group_kill')).toBe(1);
        else expect(run.text('cgroup/memory.events')).not.toMatch(/^oom_group_kill /m);
        // oom_kill is 3, or 4 when the first victim had not released its memory when the group was killed: the
        // kernel then reports and counts it a second time.
        expect(keyed(run.text('cgroup/memory.events'), 'oom_kill')).toBeGreaterThanOrEqual(3);
      });

      it('oomwatch_container_oom_kills_total goes 0 -> 3 before the next poll, and stays there', () => {
        const before = run.scrape('before');
        const after = run.scrape('after');
        expect(containerValue(before, 'oom_kills_total', c)).toBe(0);
        expect(containerValue(after, 'oom_kills_total', c)).toBe(3);
        expect(containerValue(run.scrape('settled'), 'oom_kills_total', c)).toBe(3);
        expect(run.has('seen_ms')).toBe(true);
        expect(valueOf(after, 'oomwatch_polls_total')).toBe(valueOf(before, 'oomwatch_polls_total'));
        expect(valueOf(run.scrape('settled'), 'oomwatch_oom_kills_total', { scope: 'container' })).toBe(3);
      });

      it('the event log has one event per killed process, and no other', () => {
        const events = eventsOf(run, 'events', c);
        const byNumber = (a: number | null | undefined, b: number | null | undefined): number =>
          (a ?? -1) - (b ?? -1);
        // toStrictEqual: an event without a victim (pid undefined) must not pass for a missing element.
        expect(events.map((e) => e.victim?.pid).sort(byNumber)).toStrictEqual([...pids].sort(byNumber));
        for (const e of events)
          expect(e).toMatchObject({ scope: 'container', trigger: 'cgroup', cgroup: `/${c.cgroup}` });
        expect(events.map((e) => e.victim?.comm).sort()).toEqual(['awk', 'sleep', 'sleep']);
      });

      it('each of the three events says it was part of the group kill, the first victim too', () => {
        // The kernel prints the first victim before "Tasks in ... are going to be killed due to memory.oom.group
        // set", but it chose that victim for the same group kill: all three died of one decision.
        const events = eventsOf(run, 'events', c);
        expect(events.map((e) => [e.victim?.comm, e.group_kill]).sort()).toEqual([
          ['awk', true],
          ['sleep', true],
          ['sleep', true],
        ]);
      });

      it('a group-kill count on /metrics is the kernel oom_group_kill, and there is none where the kernel has none', () => {
        // memory.events oom_group_kill (5.17+) counts group kills; before 5.17 the kernel keeps no such count,
        // and a series made up from the kernel log would claim what the cgroup never said.
        const series = run
          .scrape('settled')
          .filter((s) => /group_kill/.test(s.name) && s.labels['id'] === shortId(c));
        if (!kernelFeatures(line).oomGroupKillEvent) expect(series).toEqual([]);
        else
          for (const s of series)
            expect([s.name, s.value]).toEqual([
              s.name,
              keyed(run.text('cgroup/memory.events'), 'oom_group_kill'),
            ]);
      });
    },
  );
