import type Router from '@koa/router';
import type { Validator } from '../http/validate.js';

/**
 * The worker's own OpenAPI 3.0 document, generated from what it serves: every route of
 * the given routers becomes an operation, and the JSON schemas that the routes validate
 * their query strings and bodies with become its parameters and request body.
 */

/** What a route declares beyond its method and path. */
export interface RouteDoc {
  summary: string;
  /** Validator of the query string; each schema property becomes a query parameter. */
  query?: Validator<unknown>;
  /** Validator of the JSON body. */
  body?: Validator<unknown>;
  /** Set for routes that need no access token. */
  public?: boolean;
}

type Schema = Record<string, unknown>;

interface Parameter {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema: Schema;
}

interface Operation {
  operationId: string;
  summary: string;
  parameters: Parameter[];
  requestBody?: { required: boolean; content: { 'application/json': { schema: Schema } } };
  responses: Record<string, { description: string }>;
  security?: Array<Record<string, string[]>>;
}

export interface OpenApiDocument {
  openapi: '3.0.3';
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: Schema;
  security: Array<Record<string, string[]>>;
}

/** Key of a route in the table of route docs: method and full Koa path, e.g. `GET /api/v3/oneprovider/data/:id`. */
export function routeKey(method: string, path: string): string {
  return `${method.toUpperCase()} ${path}`;
}

/** One served route: an HTTP method and a Koa path with its prefix. */
export interface ServedRoute {
  method: string;
  path: string;
}

/**
 * List the routes of Koa routers. Koa adds HEAD to every GET route, so HEAD is listed
 * only for routes without GET; middleware mounted with `use` has no methods and is skipped.
 */
export function servedRoutes(routers: readonly Router<any>[]): ServedRoute[] {
  const routes: ServedRoute[] = [];
  for (const router of routers) {
    for (const layer of router.stack) {
      const methods = layer.methods.filter((method) => method !== 'HEAD' || !layer.methods.includes('GET'));
      // Routes registered with a regular expression have no template to show.
      if (typeof layer.path !== 'string') continue;
      for (const method of methods) routes.push({ method, path: layer.path });
    }
  }
  return routes;
}

/** Build the document from the routes of `routers` and the docs of those routes that have them. */
export function buildOpenApiDocument(
  routers: readonly Router<any>[],
  docs: ReadonlyMap<string, RouteDoc>,
  info: { title: string; version: string },
): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const route of servedRoutes(routers)) {
    const template = openApiPath(route.path);
    const doc = docs.get(routeKey(route.method, route.path));
    paths[template] ??= {};
    paths[template][route.method.toLowerCase()] = operation(route, template, doc);
  }

  return {
    openapi: '3.0.3',
    info,
    paths,
    components: {
      securitySchemes: {
        xAuthToken: { type: 'apiKey', in: 'header', name: 'X-Auth-Token' },
        bearer: { type: 'http', scheme: 'bearer' },
      },
    },
    security: [{ xAuthToken: [] }, { bearer: [] }],
  };
}

/** Convert a Koa path to an OpenAPI template: `:id` and the wildcard `{*path}` become `{id}` and `{path}`. */
export function openApiPath(koaPath: string): string {
  return koaPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\{\*([A-Za-z0-9_]+)\}/g, '{$1}');
}

function operation(route: ServedRoute, template: string, doc: RouteDoc | undefined): Operation {
  const parameters: Parameter[] = [...template.matchAll(/\{([A-Za-z0-9_]+)\}/g)].map((match) => ({
    name: match[1] ?? '',
    in: 'path',
    required: true,
    schema: { type: 'string' },
  }));
  parameters.push(...queryParameters(doc?.query?.schema));

  const result: Operation = {
    operationId: operationId(route.method, template),
    summary: doc?.summary ?? `${route.method} ${template}`,
    parameters,
    responses: {
      default: { description: 'The result, or an error body {"error": {"id", "description", "details"}} with a 4xx or 5xx status.' },
    },
  };
  if (doc?.body) result.requestBody = { required: true, content: { 'application/json': { schema: doc.body.schema as Schema } } };
  if (doc?.public) result.security = [];
  return result;
}

function queryParameters(schema: object | undefined): Parameter[] {
  const properties = (schema as { properties?: Record<string, Schema> } | undefined)?.properties ?? {};
  const required = new Set((schema as { required?: string[] } | undefined)?.required ?? []);
  return Object.entries(properties).map(([name, property]) => ({ name, in: 'query', required: required.has(name), schema: property }));
}

function operationId(method: string, template: string): string {
  const words = template.split('/').filter((segment) => segment !== '').map((segment) => segment.replace(/[{}]/g, '').replace(/[^A-Za-z0-9]+/g, '_'));
  return [method.toLowerCase(), ...words].join('_');
}
