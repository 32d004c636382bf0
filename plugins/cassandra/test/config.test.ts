import { OpError } from '@op-worker/core';
import test from 'ava';

import { CassandraMetadataStore, redactConfig, resolveConfig } from '../src/index.js';
import { replicationCql } from '../src/config.js';

test('resolveConfig fills defaults', (t) => {
  const config = resolveConfig({ contactPoints: ['db1'], keyspace: 'op_meta' });

  t.is(config.port, 9042);
  t.is(config.localDataCenter, 'datacenter1');
  t.is(config.consistency, 'LOCAL_QUORUM');
  t.is(config.serialConsistency, 'LOCAL_SERIAL');
  t.deepEqual(config.replication, { class: 'SimpleStrategy', replicationFactor: 1 });
});

const invalid: Array<{ title: string; config: Record<string, unknown>; key: string }> = [
  { title: 'no contact points', config: { contactPoints: [], keyspace: 'ks' }, key: 'contactPoints' },
  { title: 'keyspace with a dash', config: { contactPoints: ['db'], keyspace: 'op-meta' }, key: 'keyspace' },
  { title: 'keyspace with CQL in it', config: { contactPoints: ['db'], keyspace: 'ks; DROP KEYSPACE x' }, key: 'keyspace' },
  { title: 'username without password', config: { contactPoints: ['db'], keyspace: 'ks', username: 'u' }, key: 'username' },
  { title: 'unknown consistency', config: { contactPoints: ['db'], keyspace: 'ks', consistency: 'MOST' }, key: 'consistency' },
  {
    title: 'unknown serial consistency',
    config: { contactPoints: ['db'], keyspace: 'ks', serialConsistency: 'QUORUM' },
    key: 'serialConsistency',
  },
  {
    title: 'zero replication factor',
    config: { contactPoints: ['db'], keyspace: 'ks', replication: { class: 'SimpleStrategy', replicationFactor: 0 } },
    key: 'replication.replicationFactor',
  },
  {
    title: 'no data centers',
    config: { contactPoints: ['db'], keyspace: 'ks', replication: { class: 'NetworkTopologyStrategy', dataCenters: {} } },
    key: 'replication.dataCenters',
  },
  { title: 'negative timeout', config: { contactPoints: ['db'], keyspace: 'ks', requestTimeoutMs: -1 }, key: 'requestTimeoutMs' },
];

for (const { title, config, key } of invalid) {
  test(`resolveConfig rejects ${title}`, (t) => {
    const error = t.throws(() => resolveConfig(config as never));
    t.true(OpError.is(error));
    t.is((error as OpError).kind, 'badValue');
    t.is((error as OpError).details['key'], key);
  });
}

test('password never appears in JSON', (t) => {
  const store = new CassandraMetadataStore({
    contactPoints: ['db1'],
    keyspace: 'op_meta',
    username: 'worker',
    password: 'very-secret-password',
  });

  const json = JSON.stringify(store);
  t.false(json.includes('very-secret-password'));
  t.true(json.includes('worker'));
  t.is(redactConfig(store.config)['password'], '***');
});

test('replicationCql for both strategies', (t) => {
  t.is(replicationCql({ class: 'SimpleStrategy', replicationFactor: 3 }), "{'class': 'SimpleStrategy', 'replication_factor': 3}");
  t.is(
    replicationCql({ class: 'NetworkTopologyStrategy', dataCenters: { dc1: 3, dc2: 2 } }),
    "{'class': 'NetworkTopologyStrategy', 'dc1': 3, 'dc2': 2}",
  );
});
