import { OpError } from '@op-worker/core';
import test from 'ava';
import { Client } from 'cassandra-driver';

import { CASSANDRA_METADATA_SCHEMA_VERSION, CassandraMetadataStore } from '../src/index.js';
import { testCluster, uniqueKeyspace, type CassandraNode } from '../src/testkit/index.js';

/** Bound on waiting for a restarted node, in milliseconds. */
const RECOVERY_LIMIT_MS = 120_000;

let node: CassandraNode | undefined;
let contactPoints: string[] = [];

test.before(async () => {
  const cluster = await testCluster();
  node = cluster.node;
  contactPoints = cluster.contactPoints;
});

test.after.always(async () => {
  await node?.destroy();
});

/**
 * Runs `step` with a plain driver client for checks behind the store's back. The
 * client is shut down before the outage case, whose node restart would otherwise
 * leave it reconnecting and keep the test process alive.
 */
async function withAdmin<T>(step: (admin: Client) => Promise<T>): Promise<T> {
  const admin = new Client({ contactPoints, localDataCenter: 'datacenter1' });
  await admin.connect();
  try {
    return await step(admin);
  } finally {
    await admin.shutdown();
  }
}

async function replicationOf(keyspace: string): Promise<Record<string, string> | undefined> {
  return withAdmin(async (admin) => {
    const result = await admin.execute('SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?', [keyspace]);
    return result.first()?.['replication'] as Record<string, string> | undefined;
  });
}

async function openStore(keyspace: string, extra: Partial<ConstructorParameters<typeof CassandraMetadataStore>[0]> = {}) {
  const store = new CassandraMetadataStore({ contactPoints, keyspace, ...extra });
  await store.open();
  return store;
}

async function recordedVersions(keyspace: string): Promise<number[]> {
  const result = await withAdmin((admin) => admin.execute(`SELECT version FROM ${keyspace}.schema_versions`));
  return result.rows.map((row) => Number(row['version'])).sort((a, b) => a - b);
}

test.serial('open creates keyspace and records migrations', async (t) => {
  const keyspace = uniqueKeyspace('schema');
  const store = await openStore(keyspace);
  await store.close();

  const expected = Array.from({ length: CASSANDRA_METADATA_SCHEMA_VERSION }, (_, index) => index + 1);
  t.deepEqual(await recordedVersions(keyspace), expected);

  const settings = await replicationOf(keyspace);
  t.is(settings?.['class'], 'org.apache.cassandra.locator.SimpleStrategy');
  t.is(settings?.['replication_factor'], '1');

  // A second open finds the schema current and changes nothing.
  const again = await openStore(keyspace);
  await again.create('files', 'k', { n: 1 });
  await again.close();
  t.deepEqual(await recordedVersions(keyspace), expected);
});

test.serial('open uses configured replication', async (t) => {
  const keyspace = uniqueKeyspace('nts');
  const store = await openStore(keyspace, {
    replication: { class: 'NetworkTopologyStrategy', dataCenters: { datacenter1: 1 } },
  });
  await store.close();

  const settings = await replicationOf(keyspace);
  t.is(settings?.['class'], 'org.apache.cassandra.locator.NetworkTopologyStrategy');
  t.is(settings?.['datacenter1'], '1');
});

test.serial('open rejects a newer schema', async (t) => {
  const keyspace = uniqueKeyspace('newer');
  const first = await openStore(keyspace);
  await first.close();
  const newer = CASSANDRA_METADATA_SCHEMA_VERSION + 1;
  await withAdmin((admin) =>
    admin.execute(
      `INSERT INTO ${keyspace}.schema_versions (version, description, applied_at_ms) VALUES (?, ?, ?)`,
      [newer, 'written by a newer op-worker', Date.now()],
      { prepare: true },
    ),
  );

  const store = new CassandraMetadataStore({ contactPoints, keyspace });
  const error = await t.throwsAsync(store.open());
  t.true(OpError.is(error));
  t.is((error as OpError).kind, 'internal');
  t.true((error as OpError).message.includes(`schema version ${newer}`), (error as OpError).message);
  t.true((error as OpError).message.includes(`up to version ${CASSANDRA_METADATA_SCHEMA_VERSION}`), (error as OpError).message);
  await t.throwsAsync(store.get('files', 'k'), { message: /not open/ });
});

/** Repeats `call` until it succeeds, for at most RECOVERY_LIMIT_MS. */
async function eventually<T>(call: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + RECOVERY_LIMIT_MS;
  for (;;) {
    try {
      return await call();
    } catch (error) {
      if (Date.now() > deadline || !(OpError.is(error) && error.kind === 'unavailable')) {
        throw error;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}

// The outage case never runs against an external cluster (OP_TEST_CASSANDRA_CONTACT_POINTS),
// because it stops and restarts the node. The test process can exit after it because the
// store shuts down the host objects that cassandra-driver replaces while reconnecting
// (see shutDownRemovedHost); without that, their timers stay armed at random.
const outage = process.env['OP_TEST_CASSANDRA_CONTACT_POINTS'] ? test.skip : test.serial;

outage('store recovers after node restart', async (t) => {
  if (node === undefined) {
    t.fail('no node started by this test file');
    return;
  }
  const keyspace = uniqueKeyspace('outage');
  const store = await openStore(keyspace, { requestTimeoutMs: 5000 });
  t.teardown(() => store.close());
  await store.create('files', 'before', { n: 1 });
  await store.addChild('root', 'a', 'id-a');

  const stoppedAt = Date.now();
  await node.stop('SIGTERM');

  for (const call of [() => store.get('files', 'before'), () => store.create('files', 'during', { n: 2 })]) {
    const error = await t.throwsAsync(call());
    t.true(OpError.is(error), String(error));
    t.is((error as OpError).kind, 'unavailable');
    t.true((error as OpError).message.includes(node.contactPoint), (error as OpError).message);
  }

  const startMs = await node.start();
  const recovered = await eventually(() => store.get('files', 'before'));
  t.log(`node restarted in ${startMs} ms; the store answered again ${Date.now() - stoppedAt} ms after the stop`);
  t.deepEqual(recovered, { key: 'before', version: 1, value: { n: 1 } });
  t.is(await store.getChild('root', 'a'), 'id-a');
  const after = await eventually(() => store.update('files', 'before', { n: 3 }, 1));
  t.is(after.version, 2);
});
