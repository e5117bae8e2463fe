import Ajv from 'ajv';

/**
 * Validation of Kubernetes objects against the API's own schemas, with no cluster: the OpenAPI
 * definitions of Kubernetes 1.27 as shipped by the npm package kubernetes-models 4.3.1, and the
 * Prometheus Operator CRD schemas (ServiceMonitor, PrometheusRule) as shipped by
 * @kubernetes-models/prometheus-operator 4.0.0, both collected from the register() calls of their schema
 * modules into one ajv instance.
 *
 * The API definitions leave additionalProperties open, as the API server did before strict field
 * validation; `kubectl apply --validate=strict` (the default since 1.27) rejects unknown fields. So
 * every object schema with declared properties is made closed as it is registered, the way kubeconform's
 * strict mode does: a misspelt field (volumeMount, tolerations.opertor) fails here as it fails there.
 */
interface ValidateModule {
  register: (id: string, schema: unknown) => void;
}

type SchemaNode = { [key: string]: unknown };

function closeObjects(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closeObjects);
  if (node === null || typeof node !== 'object') return node;
  const out: SchemaNode = {};
  for (const [k, v] of Object.entries(node as SchemaNode)) {
    // property names are data, not schemas: copy their schemas, not the map itself as a schema
    out[k] =
      k === 'properties' && v && typeof v === 'object'
        ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, closeObjects(s)]))
        : closeObjects(v);
  }
  const props = out['properties'] as SchemaNode | undefined;
  const open = out['x-kubernetes-preserve-unknown-fields'] === true;
  if (props && Object.keys(props).length > 0 && out['additionalProperties'] === undefined && !open)
    out['additionalProperties'] = false;
  return out;
}

/**
 * A resource.Quantity, as k8s.io/apimachinery/pkg/api/resource/quantity.go parses it: a signed decimal
 * number, then a binary-SI (Ki..Ei), decimal-SI (n, u, m, k, M..E) or exponent suffix.
 */
const QUANTITY = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[KMGTPE]i|[numkMGTPE]|[eE][+-]?\d+)?$/;

let validator: Ajv | undefined;

/**
 * One ajv for every schema the packages register: their register() (which the schema modules call
 * through the module object) is pointed here before any schema module loads.
 */
function strictAjv(): Ajv {
  if (validator) return validator;
  const ajv = new Ajv({ allErrors: true, strict: false, verbose: true });
  ajv.addFormat('quantity', QUANTITY);
  // The OpenAPI formats of the definitions: their JSON types already say what matters here.
  ajv.addFormat('int32', {
    type: 'number',
    validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31,
  });
  ajv.addFormat('int64', { type: 'number', validate: Number.isInteger });
  ajv.addFormat('double', { type: 'number', validate: Number.isFinite });
  ajv.addFormat('byte', /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/);
  ajv.addFormat('date-time', { type: 'string', validate: (t: string) => !Number.isNaN(Date.parse(t)) });
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const registry = require('@kubernetes-models/validate') as ValidateModule;
  registry.register = (id, schema) => {
    if (!ajv.getSchema(id)) ajv.addSchema(closeObjects(schema) as object, id);
  };
  validator = ajv;
  return ajv;
}

/** Model modules by apiVersion/kind, and the schema id each registers. */
const KINDS: Record<string, { module: string; id: string }> = {
  'v1/Namespace': { module: 'kubernetes-models/v1/Namespace', id: 'io.k8s.api.core.v1.Namespace' },
  'v1/ServiceAccount': {
    module: 'kubernetes-models/v1/ServiceAccount',
    id: 'io.k8s.api.core.v1.ServiceAccount',
  },
  'v1/Service': { module: 'kubernetes-models/v1/Service', id: 'io.k8s.api.core.v1.Service' },
  'apps/v1/DaemonSet': { module: 'kubernetes-models/apps/v1/DaemonSet', id: 'io.k8s.api.apps.v1.DaemonSet' },
  'rbac.authorization.k8s.io/v1/ClusterRole': {
    module: 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRole',
    id: 'io.k8s.api.rbac.v1.ClusterRole',
  },
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': {
    module: 'kubernetes-models/rbac.authorization.k8s.io/v1/ClusterRoleBinding',
    id: 'io.k8s.api.rbac.v1.ClusterRoleBinding',
  },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor',
    id: 'monitoring.coreos.com.v1.ServiceMonitor',
  },
  'monitoring.coreos.com/v1/PrometheusRule': {
    module: '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule',
    id: 'monitoring.coreos.com.v1.PrometheusRule',
  },
};

export const KNOWN_KINDS = Object.keys(KINDS);

/**
 * A model registers its schema (and those it refers to) the first time one of its objects validates;
 * validating an empty one does that. Its own check then fails (the packages' ajv never received the
 * schema): only the registration matters.
 */
function registerSchema(module: string, kind: string): void {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const model = (require(module) as Record<string, unknown>)[kind] as
    (new (data: object) => { validate(): void }) | undefined;
  if (!model) throw new Error(`${module} does not export ${kind}`);
  try {
    new model({}).validate();
  } catch {
    // expected, see above
  }
}

/**
 * Validate one object; returns the schema errors as readable lines (empty when valid). Throws for a
 * kind the suite has no schema for, so a new manifest cannot slip through unchecked.
 */
export function validateObject(obj: { apiVersion?: string; kind?: string }): string[] {
  const key = `${obj.apiVersion}/${obj.kind}`;
  const kind = KINDS[key];
  if (!kind)
    throw new Error(`no schema registered for ${key}: add it to KINDS in test/deploy/k8s-schemas.ts`);
  const ajv = strictAjv();
  registerSchema(kind.module, obj.kind as string);
  if (ajv.validate(kind.id, obj)) return [];
  return (ajv.errors ?? [])
    .filter(
      (e) =>
        !(
          e.keyword === 'oneOf' &&
          Array.isArray(e.schema) &&
          (e.schema as SchemaNode[]).some((s) => s['type'] === 'null')
        ),
    )
    .filter((e) => !(e.keyword === 'type' && e.params['type'] === 'null'))
    .map(
      (e) =>
        `${key} ${e.instancePath || '/'}: ${e.message ?? e.keyword}${e.params['additionalProperty'] ? ` (${String(e.params['additionalProperty'])})` : ''}`,
    );
}
