import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import type { IncomingHttpHeaders } from 'node:http';
import { send, type RequestOptions, type Response, type TestWorker } from './helpers.js';

/**
 * Validation of responses against the published Oneprovider REST spec (Swagger 2.0,
 * 21.02.7, bundled into one JSON file). The spec is used as written, except for the
 * corrections in `SPEC_CORRECTIONS`: each fixes one place where the spec contradicts its
 * own prose or examples, or where this worker deliberately differs, and states why.
 */

const SPEC_FILE = new URL('../../../../shared/reference/oneprovider-swagger.bundled.json', import.meta.url);
const BASE_PATH = '/api/v3/oneprovider';

type Schema = Record<string, any>;

interface SpecOperation {
  template: string;
  pattern: RegExp;
  literalSegments: number;
  method: string;
  operationId: string;
  responses: Record<string, { schema?: Schema }>;
}

/** The error body Onedata sends (and the spec's own `ErrorJson`), in place of the spec's `Error`. */
const ONEDATA_ERROR: Schema = {
  type: 'object',
  properties: { error: { $ref: '#/definitions/ErrorJson' } },
  required: ['error'],
  additionalProperties: false,
};

/** A correction of the reference spec, with the reason it is needed. */
export interface SpecCorrection {
  reason: string;
  apply(spec: Schema): void;
}

function nullable(schema: Schema): void {
  const type = schema['type'];
  if (typeof type === 'string') schema['type'] = [type, 'null'];
}

function setResponse(spec: Schema, path: string, method: string, status: string, schema: Schema): void {
  spec['paths'][path][method]['responses'][status] = { schema };
}

/**
 * Every correction applied to the spec before validation. Keep this list short: a
 * correction here hides a difference from the published spec from every test.
 */
export const SPEC_CORRECTIONS: readonly SpecCorrection[] = [
  {
    reason: 'Onedata answers errors as {"error":{"id","description","details"}} (the spec\'s ErrorJson), not as the spec\'s Error {error, error_description}.',
    apply(spec) {
      spec['definitions']['Error'] = ONEDATA_ERROR;
    },
  },
  {
    reason: 'The prose allows null where the schema says non-null: parentFileId of tree roots, size of directories, ' +
      'conflictingName, isFullyReplicatedLocally, symlinkValue, archiveRecallRootFileId, xattr.* values; ' +
      'ListPageToken at the end of a listing; Share.handleId; per-storage locations without a replica.',
    apply(spec) {
      const attributes = spec['definitions']['FileAttributes']['properties'];
      for (const name of ['parentFileId', 'size', 'conflictingName', 'isFullyReplicatedLocally', 'symlinkValue', 'archiveRecallRootFileId']) {
        nullable(attributes[name]);
      }
      // `xattr.*` is a family of names, not one property: values are any JSON or null.
      delete attributes['xattr.*'];
      spec['definitions']['FileAttributes']['patternProperties'] = { '^xattr\\.': {} };
      nullable(spec['definitions']['ListPageToken']);
      nullable(spec['definitions']['Share']['properties']['handleId']);
      const provider = spec['definitions']['DataDistribution']['properties']['distributionPerProvider']['additionalProperties'];
      nullable(provider['properties']['locationsPerStorage']['additionalProperties']);
      const locations = spec['definitions']['StorageFileLocations']['properties']['locationsPerProvider']['additionalProperties'];
      nullable(locations['properties']['locationsPerStorage']['additionalProperties']);
    },
  },
  {
    reason: 'JSON metadata is any JSON document, not a string; extended attribute values are any JSON value.',
    apply(spec) {
      setResponse(spec, '/data/{id}/metadata/json', 'get', '200', {});
      setResponse(spec, '/data/{id}/metadata/xattrs', 'get', '200', { type: 'object' });
    },
  },
  {
    reason: 'get_file_hardlinks declares octet-stream but returns a JSON array of file ids; get_symlink_value returns the path as text.',
    apply(spec) {
      setResponse(spec, '/data/{id}/hardlinks', 'get', '200', { type: 'array', items: { type: 'string' } });
    },
  },
  {
    reason: 'The change stream\'s seq is an integer, though typed string.',
    apply(spec) {
      spec['definitions']['MetadataChangesEvent']['properties']['seq'] = { type: 'integer' };
    },
  },
  {
    reason: 'This worker runs without a Onezone, so /configuration reports onezoneDomain as null.',
    apply(spec) {
      nullable(spec['definitions']['Configuration']['properties']['onezoneDomain']);
    },
  },
  {
    reason: 'The prose of TransferStatus says rerunId is null until a rerun, and a transfer without an eviction or ' +
      'replication phase or without a callback has null evictingProviderId, replicatingProviderId or callback.',
    apply(spec) {
      const transfer = spec['definitions']['TransferStatus']['properties'];
      for (const name of ['rerunId', 'evictingProviderId', 'replicatingProviderId', 'callback']) nullable(transfer[name]);
    },
  },
];

/**
 * Statuses any operation may return although the spec does not list them. They are 401
 * for a missing or bad token, 409 for an existing name, 413 for an oversized JSON body,
 * 415 for RDF sent with another content type, and 416 for an unsatisfiable Range. 501
 * marks an option this worker does not implement, and 503 an unavailable storage. Their bodies must still be Onedata error bodies.
 */
const UNDOCUMENTED_ERROR_STATUSES = new Set(['401', '409', '413', '415', '416', '501', '503']);

/** Paths this worker serves beyond the reference spec; their responses are not checked against it. */
export const EXTENSION_PATHS: readonly RegExp[] = [/^\/openapi\.json$/, /^\/transfers\/[^/]+\/throughput_charts$/];

function loadSpec(): Schema {
  const spec = JSON.parse(readFileSync(SPEC_FILE, 'utf8')) as Schema;
  for (const correction of SPEC_CORRECTIONS) correction.apply(spec);
  return spec;
}

function templatePattern(template: string): RegExp {
  const source = template
    .split('/')
    .map((segment) => (segment === '{path}' ? '.+' : segment.startsWith('{') ? '[^/]+' : segment.replace(/[.*+?^$()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

class ReferenceSpec {
  private readonly spec = loadSpec();
  private readonly ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  private readonly operations: SpecOperation[] = [];
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor() {
    this.ajv.addSchema({ $id: 'spec', definitions: this.spec['definitions'] });
    for (const [template, methods] of Object.entries(this.spec['paths'] as Record<string, Record<string, any>>)) {
      for (const [method, operation] of Object.entries(methods)) {
        if (method === 'parameters') continue;
        this.operations.push({
          template,
          pattern: templatePattern(template),
          literalSegments: template.split('/').filter((segment) => segment !== '' && !segment.startsWith('{')).length,
          method: method.toUpperCase(),
          operationId: operation.operationId as string,
          responses: operation.responses ?? {},
        });
      }
    }
    // Literal segments win over parameters, so `/data/register` is not `/data/{id}`.
    this.operations.sort((a, b) => b.literalSegments - a.literalSegments);
  }

  /** Find the operation a request addresses; undefined when the spec has none. */
  find(method: string, path: string): SpecOperation | undefined {
    return this.operations.find((operation) => operation.method === method && operation.pattern.test(path));
  }

  validator(operation: SpecOperation, status: string, schema: Schema): ValidateFunction {
    const key = `${operation.operationId} ${status}`;
    let validate = this.compiled.get(key);
    if (!validate) {
      const rewritten = JSON.parse(JSON.stringify(schema).replaceAll('"#/definitions/', '"spec#/definitions/')) as Schema;
      validate = this.ajv.compile(rewritten);
      this.compiled.set(key, validate);
    }
    return validate;
  }

  errorValidator(): ValidateFunction {
    let validate = this.compiled.get('error');
    if (!validate) {
      validate = this.ajv.compile({ $ref: 'spec#/definitions/Error' });
      this.compiled.set('error', validate);
    }
    return validate;
  }
}

let reference: ReferenceSpec | undefined;

export interface ObservedResponse {
  method: string;
  /** Request path with its query string. */
  path: string;
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/**
 * Check one response against the reference spec. Returns a list of violations (empty
 * when it conforms). Requests outside the REST prefix are not checked.
 */
export function specViolations(response: ObservedResponse): string[] {
  const pathOnly = response.path.split('?')[0] ?? '';
  if (!pathOnly.startsWith(`${BASE_PATH}/`)) return [];
  const path = pathOnly.slice(BASE_PATH.length);
  if (EXTENSION_PATHS.some((pattern) => pattern.test(path))) return [];

  reference ??= new ReferenceSpec();
  const label = `${response.method} ${pathOnly} -> ${response.status}`;
  const status = String(response.status);
  const operation = reference.find(response.method, path);

  if (operation === undefined) {
    // Unknown routes and methods return an error body of their own (404 or 405).
    if (response.status === 404 || response.status === 405) return errorBodyViolations(label, response);
    return [`${label}: the reference spec has no such operation`];
  }

  const documented = operation.responses[status];
  if (documented === undefined) {
    if (UNDOCUMENTED_ERROR_STATUSES.has(status)) return errorBodyViolations(label, response);
    return [`${label}: status ${status} is not documented for ${operation.operationId}`];
  }
  if (response.status >= 400) return errorBodyViolations(label, response);

  const schema = documented.schema;
  if (schema === undefined || schema['format'] === 'binary' || (schema['type'] === 'string' && !isJson(response))) return [];
  if (operation.operationId === 'get_space_changes') return streamViolations(label, operation, status, schema, response);
  return jsonViolations(label, reference.validator(operation, status, schema), response.text);
}

function isJson(response: ObservedResponse): boolean {
  return String(response.headers['content-type'] ?? '').startsWith('application/json');
}

function errorBodyViolations(label: string, response: ObservedResponse): string[] {
  return jsonViolations(label, reference!.errorValidator(), response.text);
}

function jsonViolations(label: string, validate: ValidateFunction, text: string): string[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return [`${label}: body is not JSON: ${text.slice(0, 200)}`];
  }
  if (validate(body)) return [];
  return (validate.errors ?? []).map((error) => `${label}: ${error.instancePath || '(body)'} ${error.message ?? ''} ${JSON.stringify(error.params)}`);
}

/** The change stream sends one event per line; each line must match the event schema. */
function streamViolations(label: string, operation: SpecOperation, status: string, schema: Schema, response: ObservedResponse): string[] {
  const validate = reference!.validator(operation, status, schema);
  return response.text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .flatMap((line) => jsonViolations(label, validate, line));
}

/**
 * Send a request like `send` and fail when the response does not match the reference
 * spec. REST tests use this for every request, so any drift from the spec fails them.
 */
export async function sendChecked(worker: TestWorker, requestPath: string, options: RequestOptions = {}): Promise<Response> {
  const response = await send(worker, requestPath, options);
  const violations = specViolations({ method: options.method ?? 'GET', path: requestPath, ...response });
  if (violations.length > 0) throw new Error(`response does not match the reference spec:\n${violations.join('\n')}`);
  return response;
}
