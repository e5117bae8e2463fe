import { describeIf } from '../helpers/prereq';
import { valueOf } from '../helpers/prom';
import { container, containerEnv, oneOfEachLayout } from './containers';
import { keyed } from './kernel-files';
import { killedProcesses, oomKillSummaries, parseKmsgDump } from './kmsg-records';
import { containerValue, eventsOf } from './oom-api';
import { type ScenarioRun, runScenario, vmPrerequisites } from './vm';
import { kernelsFor } from './matrix';

/**
 * A cgroup-limit OOM kill in each container layout on a real cgroup-v2 kernel, and one under a Kubernetes
 * pod-level limit: oomwatch counts exactly the kernel's oom_kill (not its oom), before its next poll, and its
 * event log names the victim the kernel named.
 */
for (const line of kernelsFor('limit-oom'))
  describeIf(...vmPrerequisites())(
    `cgroup v2 in a VM (kernel ${line}): a limit OOM kill in each layout`,
    () => {
      // podlimit: no limit of its own; its pod's slice has one, so the OOM (memory.events oom) is the pod's and
      // the kill (oom_kill) the container's.
      const podLimited = container('podlimit', 'k8s-systemd');
      const containers = [...oneOfEachLayout(), podLimited];
      let run: ScenarioRun;

      beforeAll(async () => {
        run = await runScenario({
          kernel: line,
          scenario: 'limit-oom.sh',
          env: { ...containerEnv(containers), POD_LIMITED: podLimited.name },
        });
        const seen = containers.map(
          (c) =>
            `${c.name} ${run.has(`seen_ms/${c.name}`) ? `${run.number(`seen_ms/${c.name}`)} ms` : 'never'}`,
        );
        console.log(
          `limit OOM kill on /metrics after the victim's death (VM time, software emulation): ${seen.join(', ')}`,
        );
      }, 30 * 60_000);

      it.each(containers.map((c) => [c.name, c] as const))(
        '%s: oomwatch_container_oom_kills_total goes 0 -> 1 with the kernel oom_kill, before the next poll',
        (name, c) => {
          const before = run.scrape(`before/${name}`);
          const after = run.scrape(`after/${name}`);
          const events = run.text(`cgroup/${name}/memory.events`);
          expect(keyed(events, 'oom_kill')).toBe(1);
          expect(containerValue(before, 'oom_kills_total', c)).toBe(0);
          expect(containerValue(after, 'oom_kills_total', c)).toBe(keyed(events, 'oom_kill'));
          // The kernel counts OOM situations (oom) apart from kills (oom_kill); only kills are OOM kills.
          // Under a pod-level limit the kernel raises oom on the pod's cgroup (and its ancestors), never on the
          // container's: there the situations are 0 and the kill is 1.
          if (c === podLimited) {
            expect(keyed(events, 'oom')).toBe(0);
            expect(keyed(run.text(`parent/${name}/memory.events`), 'oom')).toBeGreaterThanOrEqual(1);
          } else {
            expect(keyed(events, 'oom')).toBeGreaterThanOrEqual(1);
          }
          // The cgroup's own counter, re-read when memory.events changes (the scrape was taken once the kill
          // was counted, then again once this counter showed it, or after 10 s).
          expect(containerValue(after, 'cgroup_oom_kills_total', c)).toBe(1);
          // Seen before the next poll: no poll ran between the scrape before the kill and the one that showed it.
          expect(run.has(`seen_ms/${name}`)).toBe(true);
          expect(valueOf(after, 'oomwatch_polls_total')).toBe(valueOf(before, 'oomwatch_polls_total'));
        },
      );

      it.each(containers.map((c) => [c.name, c] as const))(
        '%s: the event log has the victim the kernel killed, rss included',
        (name, c) => {
          const kmsg = parseKmsgDump(run.text('kmsg'));
          const pid = run.number(`victim/${name}`);
          const killed = killedProcesses(kmsg).filter((k) => k.pid === pid);
          expect(killed).toHaveLength(1);
          const k = killed[0]!;
          expect(k.reason).toBe('Memory cgroup out of memory');
          const summary = oomKillSummaries(kmsg).find((s) => s['pid'] === String(pid));
          const limitedCgroup = c === podLimited ? c.cgroup.slice(0, c.cgroup.lastIndexOf('/')) : c.cgroup;
          expect(summary).toMatchObject({
            constraint: 'CONSTRAINT_MEMCG',
            oom_memcg: `/${limitedCgroup}`,
            task_memcg: `/${c.cgroup}`,
            task: 'awk',
          });

          const events = eventsOf(run, 'events', c);
          expect(events).toHaveLength(1);
          const e = events[0]!;
          expect(e).toMatchObject({
            scope: 'container',
            trigger: 'cgroup',
            cgroup: `/${c.cgroup}`,
            group_kill: false,
          });
          expect(e.sources).toContain('kmsg');
          expect(e.victim).toMatchObject({
            pid,
            comm: k.comm,
            rss_bytes: k.anonRssBytes + k.fileRssBytes + k.shmemRssBytes,
          });
          expect(k.comm).toBe('awk');
        },
      );

      it('counts the four kills host-wide as scope container, none as system', () => {
        const last = run.scrape(`after/${containers[containers.length - 1]!.name}`);
        expect(valueOf(last, 'oomwatch_oom_kills_total', { scope: 'container' })).toBe(4);
        expect(valueOf(last, 'oomwatch_oom_kills_total', { scope: 'system' }) ?? 0).toBe(0);
        expect(valueOf(last, 'oomwatch_oom_kills_total', { scope: 'other' }) ?? 0).toBe(0);
      });
    },
  );
