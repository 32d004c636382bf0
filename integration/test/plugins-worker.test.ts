import test, { type ExecutionContext } from 'ava';
import type { SpaceInfo } from '@op-worker/core';
import { generatedStream, MiB, modelBytes, modelDigest, streamDigest, type ContentModel } from '../src/servers/content.js';
import { startProviderOnEveryStorage, STORAGE_TYPES, type ProviderOnEveryStorage, type StorageType } from '../src/servers/provider.js';
import { encodePath, REST, send, type WorkerProcess } from '../src/servers/worker.js';

/**
 * The real `op-worker` binary with its default plugin list: storages are added with
 * `op-worker storage add --type <type>` beside the running worker, and files go through
 * the REST API. moto, sshd and Azurite are started once for this file.
 */


const LARGE_SIZE = 100 * MiB;
/** S3 multipart part size and Azure block size that the helpers use by default. */
const PART_SIZE = 8 * MiB;

let provider: ProviderOnEveryStorage;
let worker: WorkerProcess;

test.before(async () => {
  provider = await startProviderOnEveryStorage('worker');
  worker = provider.worker;
});

test.after.always(async () => {
  await provider?.stop();
});

function spaceOf(type: StorageType): SpaceInfo {
  return provider.spaceOf(type);
}

/** Upload a generated content to a path below the space root and return the new file's id. */
async function upload(t: ExecutionContext, space: SpaceInfo, relativePath: string, model: ContentModel): Promise<string> {
  const response = await send(worker, `${REST}/data/${space.dirId}/path/${encodePath(relativePath)}?create_parents=true`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: generatedStream(model.seed, model.size),
    contentLength: model.size,
  });
  t.is(response.status, 201, response.body.toString());
  return response.json().fileId as string;
}

async function contentDigest(fileId: string): Promise<{ sha256: string; bytes: number }> {
  const response = await fetch(`${worker.url}${REST}/data/${fileId}/content`, { headers: { 'X-Auth-Token': worker.token } });
  if (response.status !== 200 || response.body === null) throw new Error(`download of ${fileId} failed with HTTP ${response.status}`);
  return streamDigest(response.body);
}

async function sizeOf(fileId: string): Promise<number> {
  return (await send(worker, `${REST}/data/${fileId}?attributes=size`)).json().size as number;
}

for (const type of STORAGE_TYPES) {
  test(`worker ${type}: 100 MiB file over REST`, async (t) => {
    const space = spaceOf(type);
    const model: ContentModel = { seed: 21, size: LARGE_SIZE, patches: [] };
    const fileId = await upload(t, space, 'big dir/large file.bin', model);
    t.is(await sizeOf(fileId), LARGE_SIZE);

    for (const [start, end] of [
      [0, 0],
      [PART_SIZE - 2, PART_SIZE + 2],
      [61 * MiB + 3, 64 * MiB],
      [LARGE_SIZE - 7, LARGE_SIZE - 1],
    ] as const) {
      const ranged = await send(worker, `${REST}/data/${fileId}/content`, { headers: { Range: `bytes=${start}-${end}` } });
      t.is(ranged.status, 206, `range ${start}-${end}`);
      t.is(ranged.headers['content-range'], `bytes ${start}-${end}/${LARGE_SIZE}`);
      t.deepEqual(ranged.body, modelBytes(model, start, end - start + 1), `range ${start}-${end}`);
    }

    const patch = { seed: 22, at: 20 * MiB + 1, length: 9 * MiB };
    const overwrite = await send(worker, `${REST}/data/${fileId}/content?offset=${patch.at}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: generatedStream(patch.seed, patch.length),
      contentLength: patch.length,
    });
    t.is(overwrite.status, 204, overwrite.body.toString());
    model.patches.push(patch);
    t.is(await sizeOf(fileId), LARGE_SIZE);
    t.deepEqual(await contentDigest(fileId), { sha256: modelDigest(model), bytes: LARGE_SIZE });

    const dir = (await send(worker, `${REST}/lookup-file-id/${encodePath(`${space.name}/big dir`)}`, { method: 'POST' })).json().fileId as string;
    const children = (await send(worker, `${REST}/data/${dir}/children?attributes=name,size`)).json().children as Array<{ name: string; size: number }>;
    t.deepEqual(children, [{ name: 'large file.bin', size: LARGE_SIZE }]);

    t.is((await send(worker, `${REST}/data/${fileId}`, { method: 'DELETE' })).status, 204);
    t.is((await send(worker, `${REST}/data/${fileId}`)).status, 404);
    t.deepEqual((await send(worker, `${REST}/data/${dir}/children`)).json().children, []);
  });

  test(`worker ${type}: names, empty and one-part files`, async (t) => {
    const space = spaceOf(type);
    const created = await send(worker, `${REST}/data/${space.dirId}/children?name=names&type=DIR`, { method: 'POST' });
    t.is(created.status, 201);
    const dir = created.json().fileId as string;
    const names = ['with space', 'per%cent', '%41', 'hash#tag', 'question?mark', 'plus+sign', 'caf\u00e9', 'cafe\u0301'];

    for (const name of names) {
      const response = await send(worker, `${REST}/data/${dir}/children?name=${encodeURIComponent(name)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/octet-stream' },
        body: Buffer.from(`content of ${name}`),
      });
      t.is(response.status, 201, `${name}: ${response.body.toString()}`);
    }
    const empty = await send(worker, `${REST}/data/${space.dirId}/path/names/empty`, { method: 'PUT', body: Buffer.alloc(0) });
    t.is(empty.status, 201);

    const listed = (await send(worker, `${REST}/data/${dir}/children`)).json().children as Array<{ name: string }>;
    t.deepEqual(listed.map((child) => child.name).sort(), [...names, 'empty'].sort());

    for (const name of names) {
      const read = await send(worker, `${REST}/data/${space.dirId}/path/names/${encodeURIComponent(name)}`);
      t.is(read.status, 200, name);
      t.is(read.body.toString(), `content of ${name}`, name);
    }
    const emptyRead = await send(worker, `${REST}/data/${empty.json().fileId}/content`);
    t.is(emptyRead.status, 200);
    t.is(emptyRead.body.length, 0);
    t.is(await sizeOf(empty.json().fileId as string), 0);

    const onePart: ContentModel = { seed: 23, size: PART_SIZE, patches: [] };
    const onePartId = await upload(t, space, 'names/one part.bin', onePart);
    t.is(await sizeOf(onePartId), PART_SIZE);
    t.deepEqual(await contentDigest(onePartId), { sha256: modelDigest(onePart), bytes: PART_SIZE });
  });
}
