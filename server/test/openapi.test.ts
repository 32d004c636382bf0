import 'reflect-metadata';
import anyTest, { type TestFn } from 'ava';
import pino from 'pino';
import { systemClock } from '@op-worker/core';
import { createRouters } from '../src/app.js';
import { spacePrivilegeCheck } from '../src/rest/privileges.js';
import { openApiPath } from '../src/openapi/document.js';
import { ROUTE_DOCS } from '../src/openapi/route-docs.js';
import { API, send, startTestWorker, type TestWorker } from './helpers.js';

const test = anyTest as TestFn<TestWorker>;

test.beforeEach(async (t) => {
  t.context = await startTestWorker();
});

test.afterEach.always(async (t) => {
  await t.context.close();
});

async function fetchDocument(worker: TestWorker): Promise<any> {
  const response = await send(worker, `${API}/openapi.json`, { token: null });
  if (response.status !== 200) throw new Error(`openapi.json failed: ${response.status} ${response.text}`);
  return response.json;
}

test('document served without token', async (t) => {
  const document = await fetchDocument(t.context);
  t.is(document.openapi, '3.0.3');
  t.is(document.info.version, '0.1.0');
  t.deepEqual(document.paths['/api/v3/oneprovider/openapi.json'].get.security, []);
});

test('every served route appears', async (t) => {
  const { core } = t.context;
  const routers = createRouters({
    lfs: core.lfs, users: core.users, tokens: core.tokens, shares: core.shares, importer: core.importer, spacePrivileges: spacePrivilegeCheck(core.store, systemClock),
    logger: pino({ level: 'silent' }),
    provider: { providerId: 'test-provider', name: 'test', domain: '127.0.0.1', version: '0.1.0' },
    admin: { storages: core.storages, spaces: core.spaces, importer: core.importer },
  });
  // The test worker serves no admin API, so admin routes are only counted here; the last test checks them.
  const document = await fetchDocument(t.context);
  let checked = 0;
  for (const router of routers) {
    for (const layer of router.stack) {
      if (layer.methods.length === 0) continue;
      t.is(typeof layer.path, 'string', `route ${String(layer.path)} has a path template`);
      const template = openApiPath(String(layer.path));
      const isAdmin = template.startsWith('/api/v3/onepanel');
      for (const method of layer.methods) {
        if (method === 'HEAD' && layer.methods.includes('GET')) continue;
        checked++;
        if (isAdmin) continue;
        t.truthy(document.paths[template]?.[method.toLowerCase()], `${method} ${template} is in the document`);
      }
    }
  }
  t.true(checked > 60, `checked ${checked} routes`);
});

test('documented routes are served', async (t) => {
  const document = await fetchDocument(t.context);
  for (const key of ROUTE_DOCS.keys()) {
    const [method = '', path = ''] = key.split(' ');
    if (path.startsWith('/api/v3/onepanel')) continue;
    t.truthy(document.paths[openApiPath(path)]?.[method.toLowerCase()], `${key} is served`);
  }
});

test('schemas become parameters', async (t) => {
  const document = await fetchDocument(t.context);
  const create = document.paths['/api/v3/oneprovider/data/{id}/children'].post;
  t.is(create.summary, 'Create a file, directory or link in a directory');
  const name = create.parameters.find((parameter: any) => parameter.name === 'name');
  t.deepEqual(name, { name: 'name', in: 'query', required: true, schema: { type: 'string', minLength: 1 } });
  t.true(create.parameters.some((parameter: any) => parameter.name === 'id' && parameter.in === 'path' && parameter.required));

  const share = document.paths['/api/v3/oneprovider/shares'].post;
  t.deepEqual(share.requestBody.content['application/json'].schema.required, ['name']);

  const byPath = document.paths['/api/v3/oneprovider/data/{id}/path/{path}'];
  t.truthy(byPath.get && byPath.put && byPath.delete);
  for (const [template, operations] of Object.entries<Record<string, any>>(document.paths)) {
    const names = [...template.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
    for (const operation of Object.values(operations)) {
      for (const name of names) {
        t.true(operation.parameters.some((parameter: any) => parameter.in === 'path' && parameter.name === name), `${template} declares ${name}`);
      }
    }
  }
});

test('admin routes listed when served', async (t) => {
  const { core } = t.context;
  const routers = createRouters({
    lfs: core.lfs, users: core.users, tokens: core.tokens, logger: pino({ level: 'silent' }),
    provider: { providerId: 'p', name: 'p', domain: '127.0.0.1', version: '0.1.0' },
    admin: { storages: core.storages, spaces: core.spaces, importer: core.importer },
  });
  const openapi = routers[0]!;
  const layer = openapi.stack.find((candidate) => candidate.path === `${API}/openapi.json`);
  t.truthy(layer);
  const ctx: any = { body: undefined };
  await layer!.stack[0]!(ctx, async () => {});
  t.truthy(ctx.body.paths['/api/v3/onepanel/provider/storages/{id}'].patch);
  t.truthy(ctx.body.paths['/api/v3/onepanel/provider/spaces/{id}/storage-import/auto/force-stop'].post);
  t.truthy(ctx.body.paths['/cdmi/{path}']);
});
