import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import type { Middleware } from 'koa';
import { OpError } from '@op-worker/core';
import { ApiError } from '../errors.js';

/**
 * Validation of query strings and JSON bodies. Query values arrive as strings, so the
 * query validator coerces them to the schema's types; JSON bodies are checked as sent.
 * Unknown and ill-typed parameters are rejected with 400 `badValue` naming the parameter.
 */

const queryAjv = new Ajv({ coerceTypes: 'array', useDefaults: true, allErrors: false, strict: true });
const bodyAjv = new Ajv({ coerceTypes: false, useDefaults: true, allErrors: false, strict: true });

/** A compiled validator; `schema` is the JSON schema it checks, which the OpenAPI document shows. */
export type Validator<T> = ((value: unknown) => T) & { readonly schema: object };

/**
 * Compilers of every validator made so far. Schemas compile on first use, which keeps
 * the compiling (an estimated 70 ms in a profile) out of each worker's start. A test
 * calls `compileAllValidators` to find a bad schema without a request to each route.
 */
const compilers: Array<() => unknown> = [];

/** Compile every validator made so far; throws the first schema error. */
export function compileAllValidators(): number {
  for (const compile of compilers) compile();
  return compilers.length;
}

/** Return a function that compiles `schema` with `ajv` on its first call and reuses the result. */
function lazily<T>(ajv: Ajv, schema: object): () => ValidateFunction<T> {
  let compiled: ValidateFunction<T> | undefined;
  const compile = (): ValidateFunction<T> => (compiled ??= ajv.compile<T>(schema));
  compilers.push(compile);
  return compile;
}

/** Make a query-string validator; the result returns a coerced copy of the query. */
export function queryValidator<T>(schema: object): Validator<T> {
  const validate = lazily<T>(queryAjv, schema);
  const validator = (value: unknown): T => {
    const copy = { ...(value as Record<string, unknown>) };
    return check(validate(), copy, 'query parameter');
  };
  return Object.assign(validator, { schema });
}

/** Make a JSON body validator. */
export function bodyValidator<T>(schema: object): Validator<T> {
  const validate = lazily<T>(bodyAjv, schema);
  const validator = (value: unknown): T => check(validate(), value, 'body field');
  return Object.assign(validator, { schema });
}

function check<T>(validate: ValidateFunction<T>, value: unknown, where: string): T {
  if (validate(value)) return value;
  throw toBadValue(validate.errors?.[0], where);
}

function toBadValue(error: ErrorObject | undefined, where: string): OpError {
  if (error === undefined) return OpError.badValue('request', `invalid ${where}`);

  if (error.keyword === 'additionalProperties') {
    const name = String(error.params['additionalProperty']);
    return OpError.badValue(name, `unknown ${where} "${name}"`);
  }
  if (error.keyword === 'required') {
    const name = String(error.params['missingProperty']);
    return new OpError('missingValue', `missing ${where} "${name}"`, { key: name });
  }

  const name = error.instancePath.replace(/^\//, '').replaceAll('/', '.') || 'body';
  return OpError.badValue(name, `${where} "${name}" ${error.message ?? 'is invalid'}`);
}

/**
 * Reject a query string with a malformed percent escape or escapes that are not UTF-8.
 * Koa's parser would turn those into U+FFFD, so `name=%FF` would create a file under a
 * name the client never sent.
 */
export function wellFormedQueryMiddleware(): Middleware {
  return async (ctx, next) => {
    for (const part of ctx.querystring.split('&')) {
      try {
        decodeURIComponent(part.replaceAll('+', ' '));
      } catch {
        throw ApiError.badData('query string', `query parameter "${part.slice(0, 80)}" has a malformed percent escape or is not UTF-8`);
      }
    }
    await next();
  };
}
