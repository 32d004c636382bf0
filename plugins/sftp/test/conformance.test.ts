import test from 'ava';
import { registerStorageHelperSuite } from '@op-worker/core/testkit';
import { createHelper, makeRoot, rawConfig, sftpTarget } from './fixture.js';

await registerStorageHelperSuite(test, {
  name: 'sftp',
  async create() {
    const target = await sftpTarget();
    const root = await makeRoot(target, 'conformance');
    const helper = await createHelper(rawConfig(target, root.rootPath));
    return {
      helper,
      async cleanup() {
        await root.remove();
        await target.stop();
      },
    };
  },
});
