import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { type DocumentedMount, flagPairs, readDockerfile } from '../helpers/dockerfile';
import { validateObject } from '../helpers/k8s-schemas';
import { REPO } from '../helpers/paths';

/**
 * deploy/kubernetes, checked without a cluster: every object against the Kubernetes 1.27 API schemas
 * and the Prometheus Operator CRD schemas (unknown fields rejected, as kubectl's strict validation
 * does), then what a reviewer would check by hand: the RBAC is what oomwatch needs and nothing more,
 * the selectors and port names meet, the DaemonSet runs on every node with the sized resources, its
 * mounts and flags are the Dockerfile's documented ones, and the PrometheusRule carries
 * deploy/prometheus/rules.yml unchanged.
 */
const DIR = path.join(REPO, 'deploy', 'kubernetes');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

function load(file: string): K8sObject[] {
  return parseAllDocuments(fs.readFileSync(path.join(DIR, file), 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as K8sObject;
  });
}

const FILES = ['oomwatch.yaml', 'service-monitor.yaml', 'prometheus-rule.yaml'];
const objects = FILES.flatMap((f) => load(f).map((o) => ({ file: f, o })));
const find = <T = K8sObject>(kind: string): T => {
  const hit = objects.find(({ o }) => o.kind === kind);
  if (!hit) throw new Error(`deploy/kubernetes has no ${kind}`);
  return hit.o as unknown as T;
};

/* The parts of the API objects the checks below read (shapes from the Kubernetes API reference). */
interface Container {
  name: string;
  image: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
  securityContext: Record<string, unknown>;
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
}
interface DaemonSet extends K8sObject {
  spec: {
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: {
        serviceAccountName: string;
        hostPID?: boolean;
        hostNetwork?: boolean;
        tolerations: { operator: string; key?: string; effect?: string }[];
        containers: Container[];
        volumes: { name: string; hostPath?: { path: string; type?: string }; emptyDir?: object }[];
      };
    };
  };
}

describe('Kubernetes manifests against the API schemas', () => {
  it.each(objects.map(({ file, o }) => [`${file}: ${o.kind} ${o.metadata.name}`, o] as const))(
    '%s is valid',
    (_name, o) => {
      expect(validateObject(o)).toEqual([]);
    },
  );

  it('rejects a misspelt field, as kubectl apply --validate=strict does', () => {
    const ds = structuredClone(find<DaemonSet>('DaemonSet'));
    (ds.spec.template.spec.containers[0] as unknown as Record<string, unknown>)['volumeMount'] = [];
    expect(validateObject(ds).join('\n')).toMatch(/additional properties \(volumeMount\)/);
    const sm = structuredClone(find('ServiceMonitor')) as { spec: { endpoints: Record<string, unknown>[] } };
    (sm.spec.endpoints[0] as Record<string, unknown>)['honourLabels'] = true;
    expect(validateObject(sm as unknown as K8sObject).join('\n')).toMatch(/honourLabels/);
  });
});

describe('the DaemonSet', () => {
  const ds = find<DaemonSet>('DaemonSet');
  const pod = ds.spec.template.spec;
  const container = pod.containers[0] as Container;

  it('runs on every node, tainted or not, without the host PID or network namespaces', () => {
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
    expect(pod.hostPID ?? false).toBe(false);
    expect(pod.hostNetwork ?? false).toBe(false);
  });

  it('selects its own pods and tells oomwatch its node through the downward API', () => {
    expect(ds.spec.template.metadata.labels).toMatchObject(ds.spec.selector.matchLabels);
    expect(container.env).toContainEqual({
      name: 'NODE_NAME',
      valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
    });
  });

  it('asks for the resources the benchmarks measured (60-80 MB resident at 1000 containers)', () => {
    expect(container.resources).toEqual({
      requests: { cpu: '50m', memory: '96Mi' },
      limits: { memory: '256Mi' },
    });
  });

  it('probes /healthz for liveness and /readyz for readiness on the metrics port', () => {
    expect(container.livenessProbe?.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(container.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'metrics' });
    expect(container.ports).toEqual([expect.objectContaining({ name: 'metrics', containerPort: 9797 })]);
  });

  it('carries the plain-Prometheus scrape annotations', () => {
    expect(ds.spec.template.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': String(container.ports[0]?.containerPort),
      'prometheus.io/path': '/metrics',
    });
  });

  it("mounts what the Dockerfile documents, at the same paths and modes, and passes the image's flags", () => {
    const docker = readDockerfile();
    const volumes = new Map(pod.volumes.map((v) => [v.name, v]));
    const mounted: DocumentedMount[] = container.volumeMounts
      .filter((m) => m.mountPath !== '/tmp') // the read-only root filesystem's scratch space, not a host path
      .map((m) => {
        const v = volumes.get(m.name);
        if (!v) throw new Error(`volumeMount ${m.name} has no volume`);
        const kind =
          v.hostPath?.type === 'CharDevice'
            ? 'device'
            : m.mountPath === '/var/lib/oomwatch'
              ? 'volume'
              : 'bind';
        const mode = kind === 'device' ? (m.readOnly ? 'r' : 'rw') : m.readOnly ? 'ro' : 'rw';
        return {
          kind,
          source: v.hostPath?.path ?? m.name,
          target: m.mountPath,
          mode,
          purpose: '',
        } as DocumentedMount;
      });
    // On Kubernetes the Docker socket is left out on purpose: nodes run containerd or CRI-O, and the
    // names come from the API server (see the header of oomwatch.yaml).
    const expected = docker.mounts.filter((m) => m.target !== '/var/run/docker.sock');
    const shape = (m: DocumentedMount): string =>
      m.kind === 'volume'
        ? `volume -> ${m.target} ${m.mode}`
        : `${m.kind} ${m.source} -> ${m.target} ${m.mode}`;
    expect(mounted.map(shape).sort()).toEqual(expected.map(shape).sort());
    // The state directory lives on the node so a replaced pod keeps its counters.
    expect(
      volumes.get(container.volumeMounts.find((m) => m.mountPath === '/var/lib/oomwatch')?.name ?? '')
        ?.hostPath,
    ).toEqual({
      path: '/var/lib/oomwatch',
      type: 'DirectoryOrCreate',
    });

    const image = flagPairs(docker.cmd);
    const here = flagPairs(container.args);
    expect(container.args[0]).toBe(docker.cmd[0]);
    expect(Object.fromEntries(here)).toEqual({ ...Object.fromEntries(image), 'docker-socket': 'none' });
  });

  it('keeps the root filesystem read-only and explains why it is privileged (/dev/kmsg)', () => {
    expect(container.securityContext).toMatchObject({ readOnlyRootFilesystem: true, privileged: true });
    const header = fs.readFileSync(path.join(DIR, 'oomwatch.yaml'), 'utf8');
    expect(header).toMatch(/privileged: \/dev\/kmsg can be opened inside a container only/);
  });
});

describe('RBAC', () => {
  it('grants get/list/watch on pods and create/patch on events, nothing more, to the DaemonSet service account', () => {
    const role = find<K8sObject & { rules: unknown[] }>('ClusterRole');
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] },
      { apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] },
    ]);
    const binding = find<
      K8sObject & {
        roleRef: { name: string; kind: string };
        subjects: { kind: string; name: string; namespace: string }[];
      }
    >('ClusterRoleBinding');
    const sa = find('ServiceAccount');
    expect(binding.roleRef).toMatchObject({ kind: 'ClusterRole', name: role.metadata.name });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: sa.metadata.name, namespace: sa.metadata.namespace },
    ]);
    expect(find<DaemonSet>('DaemonSet').spec.template.spec.serviceAccountName).toBe(sa.metadata.name);
  });
});

describe('Service, ServiceMonitor and PrometheusRule', () => {
  const ds = find<DaemonSet>('DaemonSet');
  const service = find<
    K8sObject & { spec: { selector: Record<string, string>; ports: { name: string; targetPort: string }[] } }
  >('Service');
  const monitor = find<
    K8sObject & {
      spec: {
        selector: { matchLabels: Record<string, string> };
        namespaceSelector: { matchNames: string[] };
        endpoints: { port: string; honorLabels?: boolean }[];
      };
    }
  >('ServiceMonitor');

  it('chain from the ServiceMonitor to the Service to the pods, by labels and port names', () => {
    expect(ds.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    expect(service.spec.ports.map((p) => p.targetPort)).toEqual(
      ds.spec.template.spec.containers[0]?.ports.map((p) => p.name),
    );
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(monitor.spec.namespaceSelector.matchNames).toEqual([service.metadata.namespace]);
    expect(monitor.spec.endpoints.map((e) => e.port)).toEqual(service.spec.ports.map((p) => p.name));
  });

  it('scrape with honorLabels, and under the job name the rules expect (the Service name)', () => {
    expect(monitor.spec.endpoints.every((e) => e.honorLabels === true)).toBe(true);
    const rules = fs.readFileSync(path.join(REPO, 'deploy', 'prometheus', 'rules.yml'), 'utf8');
    expect(rules).toContain(`up{job="${service.metadata.name}"}`);
  });

  it('PrometheusRule carries deploy/prometheus/rules.yml unchanged (node deploy/kubernetes/sync-prometheus-rule.js)', () => {
    const rule = find<K8sObject & { spec: { groups: unknown } }>('PrometheusRule');
    const rules = parse(fs.readFileSync(path.join(REPO, 'deploy', 'prometheus', 'rules.yml'), 'utf8')) as {
      groups: unknown;
    };
    expect(rule.spec.groups).toEqual(rules.groups);
  });

  it('all live in the namespace the manifests create', () => {
    const ns = find('Namespace').metadata.name;
    for (const { o } of objects)
      if (!['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.kind))
        expect({ kind: o.kind, ns: o.metadata.namespace }).toEqual({ kind: o.kind, ns });
  });
});
