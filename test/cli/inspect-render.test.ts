import { renderInspect } from '../../src/cli/inspect-render';
import { buildInspectReport } from '../../src/cli/inspect-report';
import { MiB, running, stoppedInDocker } from '../helpers/inspect-inputs';

describe('inspect text', () => {
  it('shows the limit, the working set against it with a bar, and each OOM kill with its victim', () => {
    const text = renderInspect(buildInspectReport(running(96 * MiB)), false).join('\n');
    expect(text).toContain('web (58693d43b0fd)  running');
    expect(text).toContain('  limit        96 MiB');
    expect(text).toMatch(/working set\s+72 MiB\s+75\.0% of limit\s+\[###############-----\]/);
    expect(text).toMatch(
      /2026-11-28T02:50:00Z {2}OOM kill {2}victim nginx \(pid 4242\) {2}rss 61 MiB {2}\[cgroup,kmsg\]/,
    );
    expect(text).toContain('memory.high  n/a (cgroup v1)');
  });

  it('puts the warnings first, in words', () => {
    const lines = renderInspect(buildInspectReport(running(Infinity)), false);
    expect(lines.findIndex((l) => l.startsWith('WARNING: no memory limit'))).toBeLessThan(
      lines.indexOf('Limits'),
    );
  });

  it("a stopped container: Docker's limits, and no usage section", () => {
    const text = renderInspect(buildInspectReport(stoppedInDocker()), false).join('\n');
    expect(text).toContain('web (58693d43b0fd)  EXITED');
    expect(text).toContain('Limits (as configured in Docker)');
    expect(text).toContain('  exited  2026-11-28T02:59:00Z  exit code 137  OOMKilled=true');
    expect(text).not.toContain('Usage');
  });

  it('colours only with colour on', () => {
    const report = buildInspectReport(running(Infinity));
    expect(renderInspect(report, false).join('\n')).not.toContain('\x1b[');
    expect(renderInspect(report, true).join('\n')).toContain('\x1b[');
  });
});
