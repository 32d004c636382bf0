import { mkdtemp, rm } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'ava';
import {
  API,
  MiB,
  digestOf,
  digestOfPieces,
  pseudoRandomBytes,
  pseudoRandomStream,
  send,
  sendForDigest,
  startWorkerProcess,
  type Piece,
} from './support/worker-process.js';

/**
 * Acceptance: from a fresh data folder the binary starts on the embedded default, and a
 * user creates a directory, uploads 100 MiB with PUT, reads it back whole and by range,
 * and changes bytes at an offset, all over REST.
 */

const SIZE = 100 * MiB;
const SEED = 'fresh-start-100MiB';

test('embedded default serves a 100 MiB upload', async (t) => {
  const root = await mkdtemp(path.join(tmpdir(), 'op-accept-fresh-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const worker = await startWorkerProcess(path.join(root, 'data'));
  t.teardown(() => worker.kill());

  const spaces = await send(worker, `${API}/spaces`);
  t.is(spaces.status, 200);
  t.deepEqual(spaces.json.map((space: { name: string }) => space.name), ['default']);
  const spaceId: string = spaces.json[0].spaceId;
  const lookup = await send(worker, `${API}/lookup-file-id/default`, { method: 'POST' });
  t.is(lookup.status, 200);
  const spaceDir: string = lookup.json.fileId;

  const dir = await send(worker, `${API}/data/${spaceDir}/children?name=docs&type=DIR`, { method: 'POST' });
  t.is(dir.status, 201, dir.text);

  // Upload: the body is generated as it is sent, with its declared length.
  const upload = await send(worker, `${API}/data/${spaceDir}/path/docs/big.bin`, {
    method: 'PUT',
    body: pseudoRandomStream(SEED, SIZE),
    contentLength: SIZE,
  });
  t.is(upload.status, 201, upload.text);
  const fileId: string = upload.json.fileId;
  const expected = digestOfPieces([{ seed: SEED, seedOffset: 0, length: SIZE }]);

  const attributes = await send(worker, `${API}/data/${fileId}`);
  t.is(attributes.json.size, SIZE);
  t.is(attributes.json.path, '/default/docs/big.bin');

  const whole = await sendForDigest(worker, `${API}/data/${fileId}/content`);
  t.is(whole.status, 200);
  t.is(whole.length, SIZE);
  t.is(whole.sha256, expected.sha256);

  // Ranges: a small one, one across many read chunks, and a suffix range.
  const ranges: Array<[string, number, number]> = [
    ['bytes=1000-1999', 1000, 1000],
    ['bytes=50000000-60999999', 50_000_000, 11_000_000],
    ['bytes=-4097', SIZE - 4097, 4097],
  ];
  for (const [header, start, length] of ranges) {
    const ranged = await sendForDigest(worker, `${API}/data/${fileId}/content`, { headers: { Range: header } });
    t.is(ranged.status, 206, header);
    t.is(ranged.headers['content-range'], `bytes ${start}-${start + length - 1}/${SIZE}`, header);
    t.is(ranged.length, length, header);
    t.is(ranged.sha256, digestOfPieces([{ seed: SEED, seedOffset: start, length }]).sha256, header);
  }

  // The POSIX storage of the embedded default holds the same bytes under the logical path.
  const stored = await digestOf(createReadStream(path.join(worker.dataDir, 'storage', spaceId, 'docs', 'big.bin')));
  t.is(stored.sha256, expected.sha256);

  // An upload at an unaligned offset inside the file changes exactly those bytes.
  const patchOffset = 33_554_431;
  const patch = pseudoRandomBytes('fresh-start-patch', 0, 3 * MiB + 5);
  const patched = await send(worker, `${API}/data/${fileId}/content?offset=${patchOffset}`, { method: 'PUT', body: patch });
  t.is(patched.status, 204, patched.text);

  const afterPatch: Piece[] = [
    { seed: SEED, seedOffset: 0, length: patchOffset },
    { bytes: patch },
    { seed: SEED, seedOffset: patchOffset + patch.length, length: SIZE - patchOffset - patch.length },
  ];
  const wholeAfterPatch = await sendForDigest(worker, `${API}/data/${fileId}/content`);
  t.is(wholeAfterPatch.length, SIZE);
  t.is(wholeAfterPatch.sha256, digestOfPieces(afterPatch).sha256);
  const aroundPatch = await send(worker, `${API}/data/${fileId}/content`, {
    headers: { Range: `bytes=${patchOffset - 1}-${patchOffset + patch.length}` },
  });
  t.deepEqual(aroundPatch.body.subarray(1, -1), patch);
  t.deepEqual(aroundPatch.body.subarray(0, 1), pseudoRandomBytes(SEED, patchOffset - 1, 1));
  t.deepEqual(aroundPatch.body.subarray(-1), pseudoRandomBytes(SEED, patchOffset + patch.length, 1));

  // An upload at an offset that runs past the end extends the file by the excess only.
  const tail = Buffer.from('tail bytes that run past the end');
  const tailOffset = SIZE - 10;
  const extended = await send(worker, `${API}/data/${fileId}/content?offset=${tailOffset}`, { method: 'PUT', body: tail });
  t.is(extended.status, 204, extended.text);
  const newSize = tailOffset + tail.length;
  t.is((await send(worker, `${API}/data/${fileId}`)).json.size, newSize);
  const wholeAfterTail = await sendForDigest(worker, `${API}/data/${fileId}/content`);
  t.is(wholeAfterTail.length, newSize);
  t.is(wholeAfterTail.sha256, digestOfPieces([...afterPatch.slice(0, 2), { seed: SEED, seedOffset: patchOffset + patch.length, length: tailOffset - patchOffset - patch.length }, { bytes: tail }]).sha256);

  t.is(await worker.stop(), 0);
});
