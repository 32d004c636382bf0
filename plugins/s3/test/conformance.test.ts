import test from 'ava';
import { registerStorageHelperSuite } from '@op-worker/core/testkit';
import { createBucket, createTestHelper, directClient } from './fixture.js';
import { startMoto } from './moto-server.js';

await registerStorageHelperSuite(test, {
  name: 's3',
  async create() {
    const server = await startMoto();
    const bucket = await createBucket(directClient(server.endpoint), 'conformance');
    return { helper: await createTestHelper(server.endpoint, bucket), cleanup: () => server.stop() };
  },
});
