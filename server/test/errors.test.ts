import test from 'ava';
import { OpError, StorageError } from '@op-worker/core';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { pino } from 'pino';
import { ApiError, toErrorResponse } from '../src/errors.js';
import { errorMiddleware, OutageLog } from '../src/middleware/errors.js';
import type { AppState } from '../src/state.js';

test('posix errno picks the status', (t) => {
  const cases: Array<[Parameters<typeof OpError.posix>[0], number]> = [
    ['enoent', 404],
    ['eacces', 403],
    ['eperm', 403],
    ['eexist', 400],
    ['enotdir', 400],
  ];
  for (const [errno, status] of cases) {
    const response = toErrorResponse(OpError.posix(errno, `failed with ${errno}`));
    t.is(response.status, status, errno);
    t.is(response.body.error.id, 'posix', errno);
    t.is(response.body.error.details?.['errno'], errno, errno);
  }
});

test('op error kinds map once', (t) => {
  t.is(toErrorResponse(new OpError('badIdentifier', 'bad id')).body.error.id, 'badValueIdentifier');
  t.is(toErrorResponse(new OpError('unauthorized', 'no token')).status, 401);
  t.is(toErrorResponse(new OpError('notFound', 'gone')).status, 404);
  t.is(toErrorResponse(new OpError('rangeNotSatisfiable', 'range')).status, 416);
  t.is(toErrorResponse(new OpError('notImplemented', 'later')).status, 501);
});

test('storage errors reaching the edge', (t) => {
  const mismatch = toErrorResponse(new StorageError('ConditionNotMatch', 'stream had 3 bytes, expected 5'));
  t.is(mismatch.status, 400);
  t.is(mismatch.body.error.id, 'badData');

  const denied = toErrorResponse(new StorageError('PermissionDenied', 'denied'));
  t.is(denied.status, 403);
  t.is(denied.body.error.details?.['errno'], 'eacces');
});

test('unknown errors hide their message', (t) => {
  const response = toErrorResponse(new Error('secret path /etc/shadow at line 3'));
  t.is(response.status, 500);
  t.true(response.internal);
  t.is(response.body.error.id, 'internalServerError');
  t.false(JSON.stringify(response.body).includes('shadow'));
  t.false(JSON.stringify(response.body).includes('stack'));
});

test('api errors keep their headers', (t) => {
  const response = toErrorResponse(new ApiError(416, 'rangeNotSatisfiable', 'no', {}, { 'Content-Range': 'bytes */3' }));
  t.is(response.status, 416);
  t.deepEqual(response.headers, { 'Content-Range': 'bytes */3' });
  t.is(response.body.error.details, undefined);
});

test('outage logs one stack and a count', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const outages = new OutageLog(60_000);
  const app = new Koa<AppState>();
  app.use(async (ctx, next) => {
    ctx.state.log = log;
    await next();
  });
  app.use(errorMiddleware(outages));
  app.use(() => {
    throw new OpError('unavailable', 'the metadata store timed out');
  });
  const server = app.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  for (let i = 0; i < 20; i++) {
    const response = await fetch(`http://127.0.0.1:${port}/api/v3/oneprovider/spaces`);
    t.is(response.status, 503);
    await response.arrayBuffer();
  }
  outages.flush();

  const errors = lines.filter((line) => line['level'] === 50);
  t.is(errors.length, 2, JSON.stringify(errors));
  t.truthy((errors[0]?.['err'] as { stack?: string } | undefined)?.stack);
  t.is(errors[1]?.['count'], 19);
  t.is(errors[1]?.['errorId'], 'serviceUnavailable');
});

test('not implemented logs no error', async (t) => {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const app = new Koa<AppState>();
  app.use(async (ctx, next) => {
    ctx.state.log = log;
    await next();
  });
  app.use(errorMiddleware(new OutageLog(60_000)));
  app.use(() => {
    throw new ApiError(501, 'notImplemented', 'transfers of view query results are not available');
  });
  const server = app.listen(0, '127.0.0.1');
  t.teardown(() => server.close());
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;

  const response = await fetch(`http://127.0.0.1:${port}/api/v3/oneprovider/transfers`, { method: 'POST' });
  t.is(response.status, 501);
  await response.arrayBuffer();

  t.deepEqual(lines.filter((line) => (line['level'] as number) >= 40), []);
  const info = lines.find((line) => line['level'] === 30);
  t.is(info?.['errorId'], 'notImplemented');
  t.is(info?.['err'], undefined, 'no stack');
});
