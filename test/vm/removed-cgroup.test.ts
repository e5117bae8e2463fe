import { describeIf } from '../helpers/prereq';
import { valueOf } from '../helpers/prom';
import { container, containerEnv } from './containers';
import { keyed } from './kernel-files';
import { killedProcesses, parseKmsgDump } from './kmsg-records';
import { containerValue, eventsOf } from './oom-api';
import { type ScenarioRun, runScenario, vmPrerequisites } from './vm';
import { kernelsFor } from './matrix';

/**
 * A container cgroup removed right after its OOM kill (`docker run --rm`): the kill is counted once, for a
 * container oomwatch had polled and for one that lived and died between two polls.
 */
for (const line of kernelsFor('removed-cgroup'))
  describeIf(...vmPrerequisites())(
    `cgroup v2 in a VM (kernel ${line}): a container cgroup removed right after its OOM kill`,
    () => {
      const polled = container('polled', 'docker-systemd');
      const unpolled = container('unpolled', 'docker-cgroupfs');
      let run: ScenarioRun;

      beforeAll(async () => {
        run = await runScenario({
          kernel: line,
          scenario: 'removed-cgroup.sh',
          env: { ...containerEnv([polled, unpolled]), POLLED: polled.name, UNPOLLED: unpolled.name },
        });
        const report = [polled, unpolled].map(
          (c) =>
            `${c.name}: removed ${run.number(`removed_after_ms/${c.name}`)} ms after the kill, on /metrics ` +
            `${run.has(`seen_ms/${c.name}`) ? `${run.number(`seen_ms/${c.name}`)} ms` : 'never'} after it`,
        );
        console.log(`cgroup removed after its OOM kill: ${report.join('; ')}`);
      }, 30 * 60_000);

      it.each([
        ['polled', polled],
        ['unpolled', unpolled],
      ] as const)('%s: the kernel killed one process and the cgroup is gone', (name, _c) => {
        expect(keyed(run.text(`memory.events/${name}`), 'oom_kill')).toBe(1);
        const pid = run.number(`victim/${name}`);
        expect(killedProcesses(parseKmsgDump(run.text('kmsg'))).filter((k) => k.pid === pid)).toHaveLength(1);
      });

      it.each([
        ['polled', polled],
        ['unpolled', unpolled],
      ] as const)(
        '%s: oomwatch_container_oom_kills_total is 1, before the next poll and a while after',
        (name, c) => {
          expect(run.has(`seen_ms/${name}`)).toBe(true);
          expect(containerValue(run.scrape(`after/${name}`), 'oom_kills_total', c)).toBe(1);
          expect(containerValue(run.scrape('settled'), 'oom_kills_total', c)).toBe(1);
          const events = eventsOf(run, 'events', c);
          expect(events).toHaveLength(1);
          expect(events[0]).toMatchObject({ scope: 'container', cgroup: `/${c.cgroup}` });
          expect(events[0]!.victim).toMatchObject({ pid: run.number(`victim/${name}`), comm: 'awk' });
        },
      );

      it('no poll ran meanwhile, and the host-wide count is the two kills', () => {
        expect(valueOf(run.scrape('settled'), 'oomwatch_polls_total')).toBe(
          valueOf(run.scrape('before'), 'oomwatch_polls_total'),
        );
        expect(valueOf(run.scrape('settled'), 'oomwatch_oom_kills_total', { scope: 'container' })).toBe(2);
      });
    },
  );
