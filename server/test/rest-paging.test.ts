import 'reflect-metadata';
import anyTest, { type TestFn } from 'ava';
import { COLLECTIONS, decodeFileId, newFileUuid, type FileDoc } from '@op-worker/core';
import { API, startTestWorker, type TestWorker } from './helpers.js';
import { sendChecked as send } from './spec-reference.js';

const test = anyTest as TestFn<TestWorker>;
const ENTRIES = 100_000;

test.before(async (t) => {
  t.context = await startTestWorker();
});

test.after.always(async (t) => {
  await t.context.close();
});

/** Insert a file document and its name directly into the metadata store (no storage data), as a fast fixture. */
async function insertEntry(worker: TestWorker, parentUuid: string, name: string): Promise<void> {
  const now = Date.now();
  const doc: FileDoc = {
    uuid: newFileUuid(), spaceId: worker.space.spaceId, parentUuid, name, type: 'REG', mode: 0o664, size: 0,
    ownerUserId: worker.admin.id, uid: 0, gid: 0, creationTimeMs: now, atimeMs: now, mtimeMs: now, ctimeMs: now,
  };
  await worker.core.store.create(COLLECTIONS.file, doc.uuid, doc);
  await worker.core.store.addChild(parentUuid, name, doc.uuid);
}

test('100k entries paged once each under churn', async (t) => {
  const worker = t.context;
  const created = await send(worker, `${API}/data/${worker.space.dirId}/children?name=big&type=DIR`, { method: 'POST' });
  const dirId = created.json.fileId as string;
  const dirUuid = decodeFileId(dirId).fileUuid;
  for (let index = 0; index < ENTRIES; index++) await insertEntry(worker, dirUuid, `f${String(index).padStart(6, '0')}`);

  // Churn: names of another family are added and removed while the pages are read.
  let churning = true;
  const churn = (async () => {
    for (let round = 0; churning && round < 100_000; round++) {
      const name = `g${String(round).padStart(6, '0')}`;
      await insertEntry(worker, dirUuid, name);
      if (round % 2 === 1) await worker.core.store.removeChild(dirUuid, `g${String(round - 1).padStart(6, '0')}`);
      await new Promise((resolve) => setImmediate(resolve));
    }
  })();

  const seen = new Map<string, number>();
  let token: string | undefined;
  let pages = 0;
  for (;;) {
    const body = JSON.stringify({ limit: 1000, attributes: ['name'], ...(token ? { token } : {}) });
    const response = await send(worker, `${API}/data/${dirId}/children`, { body });
    t.is(response.status, 200);
    for (const child of response.json.children as Array<{ name: string }>) seen.set(child.name, (seen.get(child.name) ?? 0) + 1);
    pages++;
    if (response.json.isLast) break;
    token = response.json.nextPageToken;
  }
  churning = false;
  await churn;

  const originals = [...seen].filter(([name]) => name.startsWith('f'));
  t.is(originals.length, ENTRIES);
  t.true(originals.every(([, count]) => count === 1), 'no original entry is listed twice');
  t.true([...seen.values()].every((count) => count === 1), 'no entry is listed twice');
  t.true(pages >= ENTRIES / 1000);
});
