import { Transform } from 'node:stream';
import test from 'ava';
import { pino } from 'pino';
import { createDispatchedHelper, StorageError } from '@op-worker/core';
import { collect, PatternStream, streamOf } from '@op-worker/core/testkit';
import { createHelper } from './fixture.js';
import { WebdavServer } from './webdav-server.js';

const UPLOAD_BYTES = 200 * 1024 * 1024;
const STOP_AFTER_BYTES = 16 * 1024 * 1024;

let server: WebdavServer;

// This test stops and restarts the server, so it always runs its own.
test.before(async () => {
  server = await WebdavServer.launch();
});

test.after.always(async () => {
  await server?.dispose();
});

/** Pass bytes through and call `onPassed` once when `threshold` bytes have gone by. */
function tripwire(threshold: number, onPassed: () => void): Transform {
  let seen = 0;
  let fired = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (!fired && seen >= threshold) {
        fired = true;
        onPassed();
      }
      callback(null, chunk);
    },
  });
}

test('server stopped mid-upload', async (t) => {
  // Wrapped as the worker wraps it, so requests after the restart get the dispatcher's
  // retry when they meet a pooled connection that the stopped server closed.
  const helper = createDispatchedHelper(await createHelper({ endpoint: `${server.url}/open/` }), {
    storageId: 'faults',
    type: 'webdav',
    logger: pino({ level: 'silent' }),
  });
  try {
    await helper.write('object', streamOf(Buffer.from('old content')));

    let stopping: Promise<void> | undefined;
    const source = new PatternStream('interrupted', UPLOAD_BYTES).pipe(
      tripwire(STOP_AFTER_BYTES, () => {
        stopping = server.stop();
      }),
    );
    const error = await t.throwsAsync(helper.write('object', source, { size: UPLOAD_BYTES }));
    await stopping;

    t.true(StorageError.is(error), String(error));
    t.is((error as StorageError).kind, 'Unavailable');
    t.is((error as StorageError).retry, 'temporary');

    await server.start();
    t.is((await collect(await helper.read('object'))).toString(), 'old content');

    await helper.write('object', streamOf(Buffer.from('after restart')));
    t.is((await collect(await helper.read('object'))).toString(), 'after restart');
  } finally {
    await helper.close();
  }
});
