/**
 * Uses @op-worker/core as a library, with no server: a space on a POSIX storage with
 * metadata in SQLite. It creates a directory and two files, overwrites part of one,
 * lists the directory and prints what it reads back.
 *
 * Run: `node dist/src/main.js [work dir]` (default: a new temporary folder).
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { bootstrapCore, SqliteMetadataStore, type Identity } from '@op-worker/core';
import { posixPlugin } from '@op-worker/plugin-posix';

export interface ExampleResult {
  listing: string[];
  content: string;
  workDir: string;
}

export async function runExample(workDir: string): Promise<ExampleResult> {
  // 1. Open the metadata store and build the core services around it.
  const store = new SqliteMetadataStore({ path: path.join(workDir, 'metadata.db') });
  await store.open();
  const core = bootstrapCore({ store, plugins: [posixPlugin] });

  try {
    // 2. Register a storage and a space it supports.
    const storageRoot = path.join(workDir, 'storage');
    await mkdir(storageRoot, { recursive: true });
    const storage = await core.storages.add({ name: 'local', type: 'posix', config: { mountPoint: storageRoot } });
    const user: Identity = { userId: 'example-user', isAdmin: false };
    const space = await core.spaces.create({ name: 'demo', ownerUserId: user.userId });
    await core.spaces.support({ spaceId: space.spaceId, storageId: storage.storageId });

    // 3. Create a directory and files, then overwrite two bytes in place.
    const dir = await core.lfs.create(user, space.dirId, 'notes', { type: 'DIR' });
    const file = await core.lfs.create(user, dir.fileId, 'hello.txt', { type: 'REG', content: Readable.from([Buffer.from('hello world')]) });
    await core.lfs.create(user, dir.fileId, 'empty.txt', { type: 'REG' });
    await core.lfs.write(user, file.fileId, Readable.from([Buffer.from('W')]), { offset: 6 });

    // 4. List the directory and read the file back.
    const page = await core.lfs.listChildren(user, dir.fileId, { limit: 100 });
    const listing = page.children.map((child) => `${child.name} ${child.size}`);
    const content = await text((await core.lfs.read(user, file.fileId)).stream);
    return { listing, content, workDir };
  } finally {
    await core.close();
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === new URL(`file://${path.resolve(process.argv[1])}`).href;
if (invokedDirectly) {
  const workDir = process.argv[2] ?? (await mkdtemp(path.join(tmpdir(), 'op-worker-embed-')));
  const result = await runExample(workDir);
  console.log(`work dir: ${result.workDir}`);
  for (const line of result.listing) console.log(`  ${line}`);
  console.log(`hello.txt: ${result.content}`);
}
