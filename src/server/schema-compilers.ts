import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type CompilersFactory = NonNullable<
  NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']
>;
type ValidatorFactory = NonNullable<CompilersFactory['buildValidator']>;
type SerializerFactory = NonNullable<CompilersFactory['buildSerializer']>;
type ValidatorCompiler = ReturnType<ValidatorFactory>;
type RouteDefinition = Parameters<ValidatorCompiler>[0];

/**
 * Fastify's schema compilers, loaded the first time a route declares a schema instead of when the app is
 * built. Fastify builds its default compilers in its constructor, which loads ajv, ajv-formats and
 * fast-json-stringify (about 100 modules) into every oomwatch process, while oomwatch's routes declare no
 * schema: /metrics sends bytes, the JSON API sends plain objects through JSON.stringify, and the error
 * bodies (404, 401, 500) come from fastify's precompiled error serializer, which needs neither. A route that
 * adds a schema later gets the same compilers fastify would have used, loaded on that route's setup.
 *
 * The compilers are fastify's dependencies, not oomwatch's: they are resolved from fastify's own location,
 * as fastify resolves them, so they are the versions it was released with.
 */
export function lazySchemaCompilers(): Required<CompilersFactory> {
  const fromFastify = createRequire(require.resolve('fastify'));
  let validatorFactory: ValidatorFactory | undefined;
  let serializerFactory: SerializerFactory | undefined;
  return {
    buildValidator: (externalSchemas, options) => {
      validatorFactory ??= (fromFastify('@fastify/ajv-compiler') as () => ValidatorFactory)();
      const compile = validatorFactory(externalSchemas, options);
      return (route: RouteDefinition) => {
        if (route.httpPart === 'headers') refuseMixedCaseHeaderNames(route);
        return compile(route);
      };
    },
    buildSerializer: (externalSchemas, options) => {
      serializerFactory ??= (
        fromFastify('@fastify/fast-json-stringify-compiler') as () => SerializerFactory
      )();
      return serializerFactory(externalSchemas, options);
    },
  };
}

/**
 * Given a validator factory of its own, fastify treats it as a custom compiler (Joi, TypeBox...) and stops
 * lower-casing the property names of a headers schema, while Node.js hands every request header over in
 * lower case: a schema that requires "X-Token" would refuse every request. Rather than differ from fastify's
 * default in silence, such a schema is refused when its route is set up, with the name to write instead.
 * Only the top level is checked (properties and required), where header names are written.
 */
function refuseMixedCaseHeaderNames(route: RouteDefinition): void {
  const schema = route.schema as { properties?: unknown; required?: unknown } | null;
  if (schema === null || typeof schema !== 'object') return;
  const names = [
    ...(schema.properties !== null && typeof schema.properties === 'object'
      ? Object.keys(schema.properties)
      : []),
    ...(Array.isArray(schema.required) ? schema.required.filter((n) => typeof n === 'string') : []),
  ];
  const mixed = names.find((n) => n !== n.toLowerCase());
  if (mixed !== undefined) {
    throw new Error(
      `the headers schema of ${route.method ?? '?'} ${route.url ?? '?'} names header "${mixed}": ` +
        `write header names in lower case ("${mixed.toLowerCase()}"), as requests carry them`,
    );
  }
}
