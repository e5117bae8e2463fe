import { randomHex } from '../helpers/cgroup-v1';
import { type RunningOomwatch, eventually, startOomwatch } from '../helpers/daemon';
import { docker, ensureDockerd, ensureTestImage, runContainer } from '../helpers/docker';
import { describeIf, hasV1MemoryCgroup, isRoot } from '../helpers/prereq';
import { valueOf } from '../helpers/prom';

/**
 * `docker update --memory` on a running container: the new limit is on /metrics at the next poll, because
 * Docker's `update` event makes oomwatch read the container's settings again. Without the event it would show
 * when the settings are next re-read (every 30 s), so the 10 s allowed here is what the event buys.
 */
const dockerReady = ensureDockerd();
const MiB = 1024 * 1024;

describeIf(
  isRoot(),
  hasV1MemoryCgroup(),
  dockerReady,
)('docker update of a running container', () => {
  let ow: RunningOomwatch;
  let id = '';

  beforeAll(async () => {
    ensureTestImage();
    ow = await startOomwatch({ args: ['--cgroup-root', '/sys/fs/cgroup', '--interval', '1'] });
  });
  afterAll(async () => {
    await ow?.stop();
    if (id !== '') await docker('rm', '-f', id).catch(() => undefined);
  });

  it('the raised limit is on /metrics within seconds, well before the 30 s settings re-read', async () => {
    const name = `upd-${randomHex(6)}`;
    id = await runContainer({ name, args: ['--memory=32m', '--memory-swap=32m'], cmd: 'sleep 3600' });
    const limit = async (): Promise<number | undefined> =>
      valueOf(await ow.scrape(), 'oomwatch_container_memory_limit_bytes', { name });
    await eventually(
      async () => ((await limit()) === 32 * MiB ? true : undefined),
      15_000,
      'the 32 MiB limit',
    );
    // Past a poll or two, so the settings just read are fresh and only the event can make them read again.
    await new Promise((r) => setTimeout(r, 2500));

    await docker('update', '--memory=48m', '--memory-swap=48m', id);
    expect(await docker('inspect', '-f', '{{.HostConfig.Memory}}', id)).toBe(String(48 * MiB));
    await eventually(
      async () => ((await limit()) === 48 * MiB ? true : undefined),
      10_000,
      'the 48 MiB limit after docker update',
    );
  });
});
