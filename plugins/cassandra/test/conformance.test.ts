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
