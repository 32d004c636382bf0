import { randomBytes } from 'node:crypto';
import { Readable, Transform } from 'node:stream';
import test from 'ava';
import { StorageError } from '@op-worker/core';
import { AzuriteServer } from './azurite.js';
import { collect, generatedStream, sha256Of } from './streams.js';

const MIB = 1024 * 1024;

let server: AzuriteServer;

test.before(async () => {
  server = await AzuriteServer.start({ own: true });
});

test.after.always(async () => {
  await server?.stop();
});

/** Pass `source` through and call `trigger` once after `threshold` bytes went by. */
function tripwire(source: Readable, threshold: number, trigger: () => void): Readable {
  let seen = 0;
  let fired = false;
  const wire = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (!fired && seen >= threshold) {
        fired = true;
        trigger();
      }
      done(null, chunk);
    },
  });
  return source.pipe(wire);
}

test('server killed mid-upload', async (t) => {
  const helper = await server.createHelper(`fault-${process.pid}`, { blockSize: MIB, maxTries: 2 });
  const old = randomBytes(3 * MIB);
  await helper.write('victim', Readable.from([old]));

  // SIGTERM rather than SIGKILL: Azurite 3.35 saves its metadata database every 5 s
  // and on shutdown, so a SIGKILL may lose the old blob itself, which would test
  // Azurite's persistence instead of the helper. Either signal drops the upload.
  let killed: Promise<void> | undefined;
  const upload = tripwire(generatedStream(200 * MIB, 9), 24 * MIB, () => {
    killed = server.kill('SIGTERM');
  });
  const error = (await t.throwsAsync(helper.write('victim', upload))) as StorageError;
  await killed;

  t.true(StorageError.is(error));
  t.is(error.kind, 'Unavailable');
  t.is(error.retry, 'temporary');
  t.true(error.message.includes(server.endpoint), error.message);

  await server.launch();
  t.true((await collect(await helper.read('victim'))).equals(old));

  const result = await helper.write('victim', generatedStream(40 * MIB, 10));
  t.deepEqual(result, { written: 40 * MIB, size: 40 * MIB });
  t.is(await sha256Of(await helper.read('victim')), await sha256Of(generatedStream(40 * MIB, 10)));
});
