import test from 'ava';
import { registerStorageHelperSuite } from '@op-worker/core/testkit';
import { AzuriteServer } from './azurite.js';

await registerStorageHelperSuite(test, {
  name: 'azure',
  async create() {
    const server = await AzuriteServer.start();
    const helper = await server.createHelper(`conformance-${process.pid}`, { blockSize: 1024 * 1024 });
    return { helper, cleanup: () => server.stop() };
  },
});
