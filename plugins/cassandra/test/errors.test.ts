import { OpError, type OpErrorKind } from '@op-worker/core';
import test from 'ava';
import { errors, types } from 'cassandra-driver';

import { CassandraMetadataStore, toOpError } from '../src/index.js';
import { freePort } from '../src/testkit/index.js';

const context = { operation: 'get', contactPoints: ['10.1.2.3:9042', 'db2:9042'], keyspace: 'op_meta' };

const cases: Array<{ title: string; error: unknown; kind: OpErrorKind; reason?: string }> = [
  { title: 'no host available', error: new errors.NoHostAvailableError({}), kind: 'unavailable', reason: 'noHostAvailable' },
  {
    title: 'client-side timeout',
    error: new errors.OperationTimedOutError('The host did not reply before timeout 12000 ms', '10.1.2.3:9042'),
    kind: 'unavailable',
    reason: 'clientTimeout',
  },
  {
    title: 'busy connection',
    error: new errors.BusyConnectionError('10.1.2.3:9042', 2048, 1),
    kind: 'unavailable',
    reason: 'busyConnection',
  },
  {
    title: 'too few replicas',
    error: new errors.ResponseError(types.responseErrorCodes.unavailableException, 'Cannot achieve consistency level'),
    kind: 'unavailable',
    reason: 'serverUnavailable',
  },
  {
    title: 'server write timeout',
    error: new errors.ResponseError(types.responseErrorCodes.writeTimeout, 'Operation timed out'),
    kind: 'unavailable',
    reason: 'serverUnavailable',
  },
  {
    title: 'server read timeout',
    error: new errors.ResponseError(types.responseErrorCodes.readTimeout, 'Operation timed out'),
    kind: 'unavailable',
    reason: 'serverUnavailable',
  },
  {
    title: 'overloaded coordinator',
    error: new errors.ResponseError(types.responseErrorCodes.overloaded, 'Overloaded'),
    kind: 'unavailable',
    reason: 'serverUnavailable',
  },
  {
    title: 'bootstrapping node',
    error: new errors.ResponseError(types.responseErrorCodes.isBootstrapping, 'Bootstrapping'),
    kind: 'unavailable',
    reason: 'serverUnavailable',
  },
  { title: 'syntax error', error: new errors.ResponseError(types.responseErrorCodes.syntaxError, 'line 1:0'), kind: 'internal' },
  { title: 'invalid query', error: new errors.ResponseError(types.responseErrorCodes.invalid, 'unconfigured table'), kind: 'internal' },
  { title: 'bad credentials', error: new errors.AuthenticationError('Provided username and/or password are incorrect'), kind: 'internal' },
  { title: 'plain error', error: new Error('boom'), kind: 'internal' },
  { title: 'non-error value', error: 'a string', kind: 'internal' },
];

for (const { title, error, kind, reason } of cases) {
  test(`toOpError maps ${title}`, (t) => {
    const mapped = toOpError(error, context);

    t.true(OpError.is(mapped));
    t.is(mapped.kind, kind);
    t.true(mapped.message.includes('10.1.2.3:9042, db2:9042'), mapped.message);
    t.true(mapped.message.includes('get'), mapped.message);
    t.deepEqual(mapped.details['contactPoints'], context.contactPoints);
    t.is(mapped.details['reason'], reason);
    t.is(mapped.cause, error);
  });
}

test('toOpError passes OpError through', (t) => {
  const original = new OpError('conflict', 'document a/b is at version 3, not the expected 2');
  t.is(toOpError(original, context), original);
});

test('open without a listening node fails unavailable', async (t) => {
  const port = await freePort();
  const store = new CassandraMetadataStore({ contactPoints: [`127.0.0.1:${port}`], keyspace: 'op_unreachable', connectTimeoutMs: 2000 });

  const error = await t.throwsAsync(store.open());
  t.true(OpError.is(error));
  t.is((error as OpError).kind, 'unavailable');
  t.true((error as OpError).message.includes(`127.0.0.1:${port}`), (error as OpError).message);
});

test('calls before open fail unavailable', async (t) => {
  const store = new CassandraMetadataStore({ contactPoints: ['127.0.0.1:1'], keyspace: 'op_closed' });

  const error = await t.throwsAsync(store.get('files', 'k'));
  t.true(OpError.is(error));
  t.is((error as OpError).kind, 'unavailable');
  t.regex((error as OpError).message, /not open/);
});
