import Router from '@koa/router';
import { OpError, type RuleEngine, type SpaceService, type StorageImporter, type StorageRecord, type StorageRegistry } from '@op-worker/core';
import type { Middleware } from 'koa';
import { readJsonBody } from '../http/json-body.js';
import { bodyValidator } from '../http/validate.js';
import type { AppState } from '../state.js';
import { registerIdentityRoutes, type IdentityDependencies } from './identity.js';
import { registerRuleRoutes } from './rules.js';

export const ADMIN_PREFIX = '/api/v3/onepanel';

export interface AdminDependencies {
  storages: StorageRegistry;
  spaces: SpaceService;
  importer: StorageImporter;
  /** Administrator rules; without them `/provider/spaces/{id}/rules` and `/provider/rules` are not served. */
  rules?: RuleEngine;
  /** Users, groups, space members and tokens; without them `/provider/users`, `/provider/groups`, `/provider/spaces/{id}/members`, `/provider/tokens` and `/provider/token-keys` are not served. */
  identity?: IdentityDependencies;
}

/** Options of a storage that belong to the storage record; every other option goes to the helper's configuration. */
const RECORD_OPTIONS = new Set(['type', 'importedStorage', 'readonly', 'qosParameters', 'storagePathType', 'name']);

/** Options that decide where and how data lies; changing them would strand the data already stored. */
const FIXED_OPTIONS = ['importedStorage', 'storagePathType'] as const;

export const modifyStorageBody = bodyValidator<Record<string, Record<string, unknown>>>({
  type: 'object',
  minProperties: 1,
  maxProperties: 1,
  additionalProperties: {
    type: 'object',
    properties: {
      type: { type: 'string', minLength: 1 },
      name: { type: 'string', minLength: 1 },
      readonly: { type: 'boolean' },
      qosParameters: { type: 'object', additionalProperties: { type: 'string' } },
    },
  },
});

export const addStoragesBody = bodyValidator<Record<string, Record<string, unknown>>>({
  type: 'object',
  minProperties: 1,
  additionalProperties: {
    type: 'object',
    properties: {
      type: { type: 'string', minLength: 1 },
      importedStorage: { type: 'boolean' },
      readonly: { type: 'boolean' },
      storagePathType: { type: 'string', enum: ['canonical', 'flat'] },
      qosParameters: { type: 'object', additionalProperties: { type: 'string' } },
    },
    required: ['type'],
  },
});

interface SupportRequest {
  token: string;
  size: number;
  storageId: string;
}

export const supportBody = bodyValidator<SupportRequest>({
  type: 'object',
  properties: {
    token: { type: 'string', minLength: 1 },
    size: { type: 'integer', minimum: 0 },
    storageId: { type: 'string', minLength: 1 },
    storageImport: { type: 'object' },
    accountingEnabled: { type: 'boolean' },
    dirStatsServiceEnabled: { type: 'boolean' },
  },
  required: ['token', 'size', 'storageId'],
  additionalProperties: false,
});

/**
 * The storage and space-support part of Onepanel's admin API. Only provider
 * administrators may call it (403 for other users).
 *
 * This worker has no Onezone, so a space is supported by naming an existing local space:
 * the `token` field of a support request contains the space id.
 */
export function createAdminRouter(deps: AdminDependencies & { authenticate: Middleware<AppState> }): Router<AppState> {
  const router = new Router<AppState>({ prefix: ADMIN_PREFIX });
  router.use(deps.authenticate);
  router.use(async (ctx, next) => {
    if (!ctx.state.identity?.isAdmin) throw new OpError('forbidden', 'the admin API needs a provider administrator token');
    await next();
  });

  router.get('/provider/storages', async (ctx) => {
    ctx.body = { ids: (await deps.storages.list()).map((storage) => storage.storageId) };
  });

  router.post('/provider/storages', async (ctx) => {
    const requests = addStoragesBody(await readJsonBody(ctx.req));
    const created: Record<string, { id: string }> = {};
    for (const [name, options] of Object.entries(requests)) {
      const config = Object.fromEntries(Object.entries(options).filter(([key]) => !RECORD_OPTIONS.has(key)));
      const record = await deps.storages.add({
        name,
        type: String(options['type']),
        config,
        importedStorage: options['importedStorage'] as boolean | undefined,
        readonly: options['readonly'] as boolean | undefined,
        storagePathType: options['storagePathType'] as 'canonical' | 'flat' | undefined,
        qosParameters: options['qosParameters'] as Record<string, string> | undefined,
      });
      created[name] = { id: record.storageId };
    }
    ctx.body = created;
  });

  router.get('/provider/storages/:id', async (ctx) => {
    ctx.body = storageDetails(deps.storages, await deps.storages.get(ctx.params['id'] ?? ''));
  });

  // The body has one key, the storage's current name, whose value lists the changes.
  router.patch('/provider/storages/:id', async (ctx) => {
    const record = await deps.storages.get(ctx.params['id'] ?? '');
    const request = modifyStorageBody(await readJsonBody(ctx.req));
    const [currentName, changes] = Object.entries(request)[0] ?? [];
    if (currentName !== record.name || changes === undefined) {
      throw OpError.badValue('name', `the body must have one key, the storage's current name "${record.name}", got "${currentName}"`);
    }
    if (changes['type'] !== undefined && changes['type'] !== record.type) {
      throw OpError.badValue('type', `the type of storage "${record.name}" is ${record.type} and cannot change`);
    }
    for (const fixed of FIXED_OPTIONS) {
      if (changes[fixed] !== undefined) throw OpError.badValue(fixed, `option "${fixed}" cannot change once a storage is added; add a new storage instead`);
    }

    const config = Object.fromEntries(Object.entries(changes).filter(([key]) => !RECORD_OPTIONS.has(key)));
    const updated = await deps.storages.update(record.storageId, {
      name: changes['name'] as string | undefined,
      qosParameters: changes['qosParameters'] as Record<string, string> | undefined,
      readonly: changes['readonly'] as boolean | undefined,
      config,
    });
    ctx.body = storageDetails(deps.storages, updated);
  });

  router.delete('/provider/storages/:id', async (ctx) => {
    const storageId = ctx.params['id'] ?? '';
    const supporting = (await deps.spaces.list()).filter((space) => space.storageIds.includes(storageId));
    if (supporting.length > 0) {
      throw new OpError('conflict', `storage supports ${supporting.length} space(s); revoke their support first`, { spaceIds: supporting.map((space) => space.spaceId) });
    }
    await deps.storages.remove(storageId);
    ctx.status = 204;
  });

  router.get('/provider/spaces', async (ctx) => {
    ctx.body = { ids: (await deps.spaces.list()).filter((space) => space.storageIds.length > 0).map((space) => space.spaceId) };
  });

  router.post('/provider/spaces', async (ctx) => {
    const request = supportBody(await readJsonBody(ctx.req));
    const space = await deps.spaces.support({ spaceId: request.token, storageId: request.storageId, size: request.size });
    ctx.status = 201;
    ctx.body = { id: space.spaceId };
  });

  router.get('/provider/spaces/:id', async (ctx) => {
    const space = await deps.spaces.get(ctx.params['id'] ?? '');
    ctx.body = { id: space.spaceId, name: space.name, storageId: space.storageIds[0] ?? null, supportingProviders: {} };
  });

  router.get('/provider/spaces/:id/storage-import/auto/info', async (ctx) => {
    const stats = await deps.importer.stats(ctx.params['id'] ?? '');
    ctx.body = {
      status: stats?.status ?? 'completed',
      start: stats?.start === null || stats === undefined ? null : Math.floor(stats.start / 1000),
      stop: stats?.stop === null || stats === undefined ? null : Math.floor(stats.stop / 1000),
      createdFiles: stats?.createdFiles ?? 0,
      modifiedFiles: stats?.modifiedFiles ?? 0,
      deletedFiles: stats?.deletedFiles ?? 0,
      unmodifiedFiles: stats?.unmodifiedFiles ?? 0,
      failedFiles: stats?.failedFiles ?? 0,
      totalScans: stats?.totalScans ?? 0,
      nextScan: null,
    };
  });

  router.get('/provider/spaces/:id/storage-import/auto/stats', async (ctx) => {
    const stats = await deps.importer.stats(ctx.params['id'] ?? '');
    ctx.body = { status: stats?.status ?? 'completed', stats: {} };
  });

  router.post('/provider/spaces/:id/storage-import/auto/force-start', async (ctx) => {
    const spaceId = ctx.params['id'] ?? '';
    await deps.spaces.get(spaceId);
    const log = ctx.state.log;
    void deps.importer.scan(spaceId).catch((error: unknown) => log.warn({ err: error, spaceId }, 'forced import scan failed'));
    ctx.status = 204;
  });

  // Stopping when no scan runs is not an error, so clients may repeat the request.
  router.post('/provider/spaces/:id/storage-import/auto/force-stop', async (ctx) => {
    const spaceId = ctx.params['id'] ?? '';
    await deps.spaces.get(spaceId);
    const stopping = deps.importer.stop(spaceId);
    ctx.state.log.info({ spaceId, stopping }, 'import scan stop requested through the admin API');
    ctx.status = 204;
  });

  if (deps.rules) registerRuleRoutes(router, deps.rules);
  if (deps.identity) registerIdentityRoutes(router, deps.identity);
  return router;
}

/** Show a storage as Onepanel does: record fields and helper options side by side, secrets as `*****`. */
function storageDetails(storages: StorageRegistry, record: StorageRecord): Record<string, unknown> {
  const shown = storages.redacted(record);
  return {
    id: record.storageId,
    name: record.name,
    type: record.type,
    importedStorage: record.importedStorage,
    readonly: record.readonly,
    storagePathType: record.storagePathType,
    qosParameters: { ...record.qosParameters, storageId: record.storageId },
    ...(shown['config'] as Record<string, unknown>),
  };
}
