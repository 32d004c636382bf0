import type Router from '@koa/router';
import { MAX_RULE_NAME_LENGTH, OpError, type AddRuleRequest, type RuleAction, type RuleEngine } from '@op-worker/core';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator, type Validator } from '../http/validate.js';
import { rethrowWithErrorId } from '../rest/qos.js';
import type { AppState } from '../state.js';

const jsonValue = {};

const matchSchema = {
  type: 'object',
  properties: {
    matchAll: { type: 'boolean' },
    pathGlob: { type: 'string', minLength: 1 },
    namePattern: { type: 'string', minLength: 1 },
    minSize: { type: 'integer', minimum: 0 },
    maxSize: { type: 'integer', minimum: 0 },
    modifiedOlderThanSeconds: { type: 'integer', minimum: 0 },
    accessedOlderThanSeconds: { type: 'integer', minimum: 0 },
    metadata: {
      type: 'object',
      properties: { name: { type: 'string', minLength: 1 }, value: jsonValue },
      required: ['name', 'value'],
      additionalProperties: false,
    },
  },
  additionalProperties: false,
};

/** Schema of each action type. A body is checked against the one its `type` names. */
const ACTION_SCHEMAS: Record<RuleAction['type'], object> = {
  replicate: { type: 'object', properties: { type: {}, expression: { type: 'string' } }, required: ['expression'], additionalProperties: false },
  evict: { type: 'object', properties: { type: {}, storageId: { type: 'string', minLength: 1 } }, required: ['storageId'], additionalProperties: false },
  migrate: {
    type: 'object',
    properties: { type: {}, fromStorageId: { type: 'string', minLength: 1 }, toStorageId: { type: 'string', minLength: 1 } },
    required: ['fromStorageId', 'toStorageId'],
    additionalProperties: false,
  },
  delete: { type: 'object', properties: { type: {} }, additionalProperties: false },
  setMetadata: { type: 'object', properties: { type: {}, xattrs: { type: 'object' } }, required: ['xattrs'], additionalProperties: false },
};

const ACTION_VALIDATORS = new Map<string, Validator<RuleAction>>(
  Object.entries(ACTION_SCHEMAS).map(([type, schema]) => [type, bodyValidator<RuleAction>(schema)]),
);

const ruleEnvelope = bodyValidator<Omit<AddRuleRequest, 'spaceId'>>({
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: MAX_RULE_NAME_LENGTH },
    match: matchSchema,
    action: { type: 'object', properties: { type: { type: 'string' } }, required: ['type'] },
    trigger: { type: 'string', enum: ['change', 'manual'], default: 'manual' },
  },
  required: ['name', 'match', 'action'],
  additionalProperties: false,
});

/**
 * Check the body of a new rule. The action is checked against the schema of its `type`, so an
 * error names the field that action lacks, or the unknown type.
 */
export function addRuleBody(value: unknown): Omit<AddRuleRequest, 'spaceId'> {
  const body = ruleEnvelope(value);
  const type = body.action.type;
  const validate = ACTION_VALIDATORS.get(type);
  if (validate === undefined) {
    throw OpError.badValue('action.type', `unknown action type "${type}". Known types: ${[...ACTION_VALIDATORS.keys()].join(', ')}`);
  }

  try {
    validate(body.action);
  } catch (error) {
    if (!OpError.is(error)) throw error;
    const key = typeof error.details['key'] === 'string' ? `action.${error.details['key']}` : 'action';
    throw new OpError(error.kind, `invalid ${type} action: ${error.message}`, { ...error.details, key });
  }
  return body;
}

/**
 * Register the routes of administrator rules, an extension that Onepanel does not have.
 * Rules of a space are listed and added under `/provider/spaces/{id}/rules`. One rule is
 * read, deleted, tried with `dry_run` (the files it would touch) and run with `apply` (a
 * background job) under `/provider/rules/{ruleId}`. The job that `apply` returns is read
 * at `/provider/rules/jobs/{jobId}`.
 */
export function registerRuleRoutes(router: Router<AppState>, rules: RuleEngine): void {
  router.get('/provider/spaces/:id/rules', async (ctx) => {
    ctx.body = { rules: await rules.list(ctx.params['id'] ?? '') };
  });

  router.post('/provider/spaces/:id/rules', async (ctx) => {
    const body = addRuleBody(await readJsonBody(ctx.req));
    const rule = await rethrowWithErrorId(() => rules.add({ ...body, spaceId: ctx.params['id'] ?? '' }));
    ctx.state.log.info({ ruleId: rule.ruleId, spaceId: rule.spaceId }, 'rule added through the admin API');
    ctx.status = 201;
    ctx.body = rule;
  });

  router.get('/provider/rules/jobs/:jobId', async (ctx) => {
    ctx.body = await rules.job(ctx.params['jobId'] ?? '');
  });

  router.get('/provider/rules/:ruleId', async (ctx) => {
    ctx.body = await rules.get(ctx.params['ruleId'] ?? '');
  });

  router.delete('/provider/rules/:ruleId', async (ctx) => {
    await rules.remove(ctx.params['ruleId'] ?? '');
    ctx.status = 204;
  });

  router.post('/provider/rules/:ruleId/dry_run', async (ctx) => {
    ctx.body = { files: await rules.dryRun(ctx.params['ruleId'] ?? '') };
  });

  router.post('/provider/rules/:ruleId/apply', async (ctx) => {
    const jobId = await rules.apply(ctx.params['ruleId'] ?? '');
    ctx.status = 202;
    ctx.body = { jobId };
  });
}
