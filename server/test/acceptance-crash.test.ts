import { readdir, stat, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import {
  API,
  MiB,
  digestOfPieces,
  pseudoRandomBytes,
  pseudoRandomStream,
  send,
  sendForDigest,
  startWorkerProcess,
  type WorkerProcess,
} from './support/worker-process.js';

/**
 * Acceptance: `kill -9` of the worker during a 1 GiB upload, then a restart on the same
 * data folder, leaves no file that claims a size it does not have. The upload body is
 * generated as it is sent, and the worker is killed by the PID this test spawned once
 * about 300 MiB have been handed to the socket.
 */

const GiB = 1024 * MiB;
const KILL_AFTER = 300 * MiB;

/**
 * Start a 1 GiB upload of the content `seed`, SIGKILL the worker after KILL_AFTER bytes
 * were sent, and wait until both the request and the process have ended. Returns the
 * HTTP status if the worker replied before it died, which would mean it accepted a body
 * it never fully received.
 */
async function uploadAndKill(worker: WorkerProcess, requestPath: string, seed: string): Promise<number | undefined> {
  let killed: Promise<void> | undefined;
  const body = pseudoRandomStream(seed, GiB, (sent) => {
    if (sent >= KILL_AFTER && killed === undefined) killed = worker.kill();
  });

  let status: number | undefined;
  try {
    status = (await send(worker, requestPath, { method: 'PUT', body, contentLength: GiB })).status;
  } catch {
    // The connection breaks when the worker dies; that is the expected outcome.
  }
  body.destroy();
  if (killed === undefined) throw new Error('the upload ended before the worker was killed');
  await killed;
  return status;
}

/** Read a file whole over REST and check that its length is the size its attributes claim. */
async function assertSizeIsBacked(t: ExecutionContext, worker: WorkerProcess, fileId: string, label: string): Promise<{ size: number; sha256: string }> {
  const attributes = await send(worker, `${API}/data/${fileId}`);
  t.is(attributes.status, 200, `${label}: attributes`);
  const size: number = attributes.json.size;
  const whole = await sendForDigest(worker, `${API}/data/${fileId}/content`);
  t.is(whole.status, 200, `${label}: download`);
  t.is(whole.length, size, `${label}: bytes read equal the claimed size`);
  return { size, sha256: whole.sha256 };
}

test('kill -9 during 1 GiB uploads leaves true sizes', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-accept-crash-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const dataDir = path.join(root, 'data');
  let worker = await startWorkerProcess(dataDir);
  t.teardown(() => worker.kill());

  const spaceId: string = (await send(worker, `${API}/spaces`)).json[0].spaceId;
  const spaceDir: string = (await send(worker, `${API}/lookup-file-id/default`, { method: 'POST' })).json.fileId;
  const old = await send(worker, `${API}/data/${spaceDir}/path/crash/old.bin?create_parents=true`, {
    method: 'PUT',
    body: pseudoRandomStream('crash-old', 8 * MiB),
    contentLength: 8 * MiB,
  });
  const patched = await send(worker, `${API}/data/${spaceDir}/path/crash/offset.bin`, {
    method: 'PUT',
    body: pseudoRandomStream('crash-offset-old', 64 * MiB),
    contentLength: 64 * MiB,
  });
  t.is(old.status, 201, old.text);
  t.is(patched.status, 201, patched.text);
  const oldDigest = digestOfPieces([{ seed: 'crash-old', seedOffset: 0, length: 8 * MiB }]).sha256;

  // 1. Replacing a whole file: the old size and content survive.
  t.is(await uploadAndKill(worker, `${API}/data/${old.json.fileId}/content`, 'crash-new'), undefined);
  worker = await startWorkerProcess(dataDir);
  const replaced = await assertSizeIsBacked(t, worker, old.json.fileId, 'replaced file');
  t.is(replaced.size, 8 * MiB);
  t.is(replaced.sha256, oldDigest);

  // 2. Creating a new file: it does not exist, or it is empty. Any other size would be data it never received in full.
  t.is(await uploadAndKill(worker, `${API}/data/${spaceDir}/path/crash/new.bin`, 'crash-new'), undefined);
  worker = await startWorkerProcess(dataDir);
  const lookup = await send(worker, `${API}/lookup-file-id/default/crash/new.bin`, { method: 'POST' });
  t.true([200, 404].includes(lookup.status), lookup.text);
  t.log(`new file after the crash: ${lookup.status === 200 ? 'exists' : 'absent'}`);
  if (lookup.status === 200) {
    const created = await assertSizeIsBacked(t, worker, lookup.json.fileId, 'created file');
    t.is(created.size, 0);
  }

  // 3. Writing at an offset: the logical size stays the old one and every claimed byte is readable.
  const offsetId: string = patched.json.fileId;
  t.is(await uploadAndKill(worker, `${API}/data/${offsetId}/content?offset=${32 * MiB}`, 'crash-new'), undefined);
  worker = await startWorkerProcess(dataDir);
  const written = await assertSizeIsBacked(t, worker, offsetId, 'file written at an offset');
  t.is(written.size, 64 * MiB);
  const head = await sendForDigest(worker, `${API}/data/${offsetId}/content`, { headers: { Range: `bytes=0-${32 * MiB - 1}` } });
  t.is(head.sha256, digestOfPieces([{ seed: 'crash-offset-old', seedOffset: 0, length: 32 * MiB }]).sha256, 'bytes before the offset are intact');
  const onStorage = await stat(path.join(dataDir, 'storage', spaceId, 'crash', 'offset.bin'));
  t.true(onStorage.size >= written.size, `storage holds ${onStorage.size} bytes for a logical size of ${written.size}`);
  t.log(`offset.bin after the crash: ${onStorage.size} bytes on the storage, logical size ${written.size}`);

  // Bytes the interrupted write left past the logical size must not show up in a later gap.
  const gap = 100;
  const tail = pseudoRandomBytes('crash-tail', 0, 1024);
  const afterGap = await send(worker, `${API}/data/${offsetId}/content?offset=${written.size + gap}`, { method: 'PUT', body: tail });
  t.is(afterGap.status, 204, afterGap.text);
  const gapAndTail = await send(worker, `${API}/data/${offsetId}/content`, { headers: { Range: `bytes=${written.size}-` } });
  t.is(gapAndTail.status, 206);
  t.deepEqual(gapAndTail.body, Buffer.concat([Buffer.alloc(gap), tail]));

  // The listing shows the three files and none of the temporary files of interrupted writes.
  const crashDir = await send(worker, `${API}/lookup-file-id/default/crash`, { method: 'POST' });
  const listing = await send(worker, `${API}/data/${crashDir.json.fileId}/children`);
  const names: string[] = listing.json.children.map((child: { name: string }) => child.name);
  t.deepEqual(names.filter((name) => name !== 'new.bin'), ['offset.bin', 'old.bin']);

  // Fresh uploads to the same names succeed and read back whole.
  const fresh = digestOfPieces([{ seed: 'crash-fresh', seedOffset: 0, length: 16 * MiB }]).sha256;
  for (const fileId of [old.json.fileId as string, offsetId]) {
    const upload = await send(worker, `${API}/data/${fileId}/content`, { method: 'PUT', body: pseudoRandomStream('crash-fresh', 16 * MiB), contentLength: 16 * MiB });
    t.is(upload.status, 204, upload.text);
    const readBack = await assertSizeIsBacked(t, worker, fileId, 'fresh upload');
    t.is(readBack.sha256, fresh);
  }
  const newUpload =
    lookup.status === 200
      ? await send(worker, `${API}/data/${lookup.json.fileId}/content`, { method: 'PUT', body: pseudoRandomStream('crash-fresh', 16 * MiB), contentLength: 16 * MiB })
      : await send(worker, `${API}/data/${spaceDir}/path/crash/new.bin`, { method: 'PUT', body: pseudoRandomStream('crash-fresh', 16 * MiB), contentLength: 16 * MiB });
  t.true([201, 204].includes(newUpload.status), newUpload.text);
  const newId: string = (await send(worker, `${API}/lookup-file-id/default/crash/new.bin`, { method: 'POST' })).json.fileId;
  t.is((await assertSizeIsBacked(t, worker, newId, 'new file after the crash')).sha256, fresh);

  // NOTE: temporary files of interrupted whole writes stay on the storage (hidden from listings); nothing removes them yet.
  const leftovers = (await readdir(path.join(dataDir, 'storage', spaceId, 'crash'))).filter((name) => name.startsWith('.op-worker-tmp-'));
  t.log(`temporary files left on the storage after two interrupted whole writes: ${leftovers.length}`);
  t.is(await worker.stop(), 0);
});
