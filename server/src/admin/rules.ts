import type Router from '@koa/router';
import type { AddRuleRequest, RuleEngine } from '@op-worker/core';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator } from '../http/validate.js';
import { rethrowWithErrorId } from '../rest/qos.js';
import type { AppState } from '../state.js';

const jsonValue = {};

const matchSchema = {
  type: 'object',
  properties: {
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

const actionSchema = {
  type: 'object',
  required: ['type'],
  oneOf: [
    { properties: { type: { const: 'replicate' }, expression: { type: 'string' } }, required: ['expression'], additionalProperties: false },
    { properties: { type: { const: 'evict' }, storageId: { type: 'string', minLength: 1 } }, required: ['storageId'], additionalProperties: false },
    {
      properties: { type: { const: 'migrate' }, fromStorageId: { type: 'string', minLength: 1 }, toStorageId: { type: 'string', minLength: 1 } },
      required: ['fromStorageId', 'toStorageId'],
      additionalProperties: false,
    },
    { properties: { type: { const: 'delete' } }, additionalProperties: false },
    { properties: { type: { const: 'setMetadata' }, xattrs: { type: 'object', minProperties: 1 } }, required: ['xattrs'], additionalProperties: false },
  ],
};

export const addRuleBody = bodyValidator<Omit<AddRuleRequest, 'spaceId'>>({
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1 },
    match: matchSchema,
    action: actionSchema,
    trigger: { type: 'string', enum: ['change', 'manual'], default: 'manual' },
  },
  required: ['name', 'match', 'action'],
  additionalProperties: false,
});

/**
 * Register the routes of administrator rules, an extension that Onepanel does not have.
 * Rules of a space are listed and added under `/provider/spaces/{id}/rules`. One rule is
 * read, deleted, tried with `dry_run` (the files it would touch) and run with `apply` (a
 * background job) under `/provider/rules/{ruleId}`.
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
