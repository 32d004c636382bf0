import { updateDocument } from '@op-worker/core';
import { registerMetadataStoreSuite } from '@op-worker/core/testkit';
import test from 'ava';

import { CassandraMetadataStore } from '../src/index.js';
import { testCluster, uniqueKeyspace, type CassandraNode } from '../src/testkit/index.js';

let node: CassandraNode | undefined;
let contactPoints: string[] = [];
const keyspace = uniqueKeyspace('conformance');

test.before(async (t) => {
  const cluster = await testCluster();
  node = cluster.node;
  contactPoints = cluster.contactPoints;

  // Create the schema once, before the cases open their stores at the same moment.
  const store = new CassandraMetadataStore({ contactPoints, keyspace });
  await store.open();
  await store.close();
  t.log(`Cassandra at ${contactPoints.join(', ')}, keyspace ${keyspace}`);
});

test.after.always(async () => {
  await node?.destroy();
});

registerMetadataStoreSuite(test, {
  titlePrefix: 'cassandra',
  async create(clock) {
    const store = new CassandraMetadataStore({ contactPoints, keyspace, ...(clock === undefined ? {} : { clock }) });
    await store.open();
    return store;
  },
  async reopen(closed, clock) {
    const previous = closed as CassandraMetadataStore;
    const store = new CassandraMetadataStore({ ...previous.config, ...(clock === undefined ? {} : { clock }) });
    await store.open();
    return store;
  },
});

// Each attempt of a compare-and-set is a Paxos round on one partition here. All writers
// to one document must succeed within the core's retries.
// NOTE: this passes here with and without the core's random pause between retries. The
// attempts ran out only under heavy machine load (in bench/metadata.ts), which this
// test does not reproduce.
test('updateDocument outlasts contention', async (t) => {
  const store = new CassandraMetadataStore({ contactPoints, keyspace });
  await store.open();
  t.teardown(() => store.close());
  await store.create('counters', 'contended', { count: 0 });

  const writers = 64;
  await Promise.all(
    Array.from({ length: writers }, () =>
      updateDocument<{ count: number }>(store, 'counters', 'contended', (value) => {
        value.count += 1;
      }),
    ),
  );

  const stored = await store.get<{ count: number }>('counters', 'contended');
  t.is(stored?.value.count, writers);
  t.is(stored?.version, writers + 1);
});
