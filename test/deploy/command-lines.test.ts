import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config';
import { readDockerfile } from '../helpers/dockerfile';
import { REPO } from '../helpers/paths';

/**
 * The oomwatch command lines the deployment files start, read by oomwatch's own flag parser: a flag
 * misspelt or a value oomwatch refuses in the Dockerfile's CMD, the compose service or the DaemonSet
 * fails here, not on the first host that runs it.
 */

function daemonSetArgs(): { args: string[]; env: Record<string, string> } {
  const docs = parseAllDocuments(
    fs.readFileSync(path.join(REPO, 'deploy', 'kubernetes', 'oomwatch.yaml'), 'utf8'),
  ).map((d) => d.toJS() as { kind: string; spec: unknown });
  const ds = docs.find((d) => d.kind === 'DaemonSet') as {
    spec: { template: { spec: { containers: { args: string[]; env: { name: string }[] }[] } } };
  };
  const c = ds.spec.template.spec.containers[0] as { args: string[]; env: { name: string }[] };
  // the downward API fills NODE_NAME at run time; any node name does here
  return {
    args: c.args,
    env: Object.fromEntries(c.env.map((e) => [e.name, e.name === 'NODE_NAME' ? 'node-1' : ''])),
  };
}

describe('the command lines of the deployment files', () => {
  const cases: [string, string[], Record<string, string>][] = [
    ['Dockerfile CMD', readDockerfile().cmd, {}],
    [
      'compose oomwatch service',
      (
        parse(fs.readFileSync(path.join(REPO, 'deploy', 'compose', 'compose.yaml'), 'utf8')) as {
          services: { oomwatch: { command: string[] } };
        }
      ).services.oomwatch.command,
      {},
    ],
    ['Kubernetes DaemonSet', daemonSetArgs().args, daemonSetArgs().env],
  ];

  it.each(cases)('%s: oomwatch serve accepts it', (_where, argv, env) => {
    expect(argv[0]).toBe('serve');
    const config = loadConfig(argv.slice(1), env);
    expect(config.listen).toEqual({ host: '0.0.0.0', port: 9797 });
    expect(config.cgroupRoot).toBe('/host/sys/fs/cgroup');
    expect(config.procRoot).toBe('/host/proc');
    expect(config.stateDir).toBe('/var/lib/oomwatch');
    expect(config.kmsgPath).toBe('/dev/kmsg');
  });

  it('the DaemonSet turns the Docker source off and names its node; the sidecar keeps the Docker socket', () => {
    const { args, env } = daemonSetArgs();
    const k8s = loadConfig(args.slice(1), env);
    expect(k8s.dockerSocket).toBeNull();
    expect(k8s.nodeName).toBe('node-1');
    expect(loadConfig(readDockerfile().cmd.slice(1), {}).dockerSocket).toBe('/var/run/docker.sock');
  });
});
