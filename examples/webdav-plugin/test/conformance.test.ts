import test from 'ava';
import { registerStorageHelperSuite } from '@op-worker/core/testkit';
import { createHelper, makeRoot, webdavTarget } from './fixture.js';

await registerStorageHelperSuite(test, {
  name: 'webdav',
  async create() {
    const target = await webdavTarget();
    const root = await makeRoot(target, 'conformance');
    // Apache mod_dav_fs accepts PUT with Content-Range, so writes at an offset are tested too.
    const helper = await createHelper({ endpoint: root.endpoint, rangeWriteSupport: 'moddav' });
    return {
      helper,
      async cleanup() {
        await root.remove();
        await target.dispose();
      },
    };
  },
});
