import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import test from 'ava';
import Database from 'better-sqlite3';

import {
  OpError,
  SQLITE_METADATA_SCHEMA_VERSION,
  SqliteMetadataStore,
  type MetadataStore,
  type OpErrorKind,
} from '../src/index.js';
import { ManualClock, registerMetadataStoreSuite } from '../src/testkit/metadata-suite.js';

const run = promisify(execFile);

const tempDir = mkdtempSync(join(tmpdir(), 'op-worker-metadata-'));
let fileCounter = 0;

function newDatabasePath(): string {
  fileCounter += 1;
  return join(tempDir, `metadata-${fileCounter}.db`);
}

test.after.always(() => {
  rmSync(tempDir, { recursive: true, force: true });
});

async function openStore(path: string, options: Partial<ConstructorParameters<typeof SqliteMetadataStore>[0]> = {}) {
  const store = new SqliteMetadataStore({ path, ...options });
  await store.open();
  return store;
}

async function rejectsWithKind(t: import('ava').ExecutionContext, promise: Promise<unknown>, kind: OpErrorKind) {
  const error = await t.throwsAsync(promise);
  t.true(OpError.is(error), `expected an OpError, got ${String(error)}`);
  t.is((error as OpError).kind, kind);
  return error as OpError;
}

// Every case of the file suite opens its own connection to one shared file, as the
// workers of one host would. The suite's unique names keep the cases apart.
const sharedPath = newDatabasePath();
const pathOfStore = new WeakMap<MetadataStore, string>();

registerMetadataStoreSuite(test, {
  titlePrefix: 'sqlite file',
  async create(clock) {
    const store = await openStore(sharedPath, clock === undefined ? {} : { clock });
    pathOfStore.set(store, sharedPath);
    return store;
  },
  async reopen(closed, clock) {
    const path = pathOfStore.get(closed);
    if (path === undefined) {
      throw new Error('reopen got a store that this factory did not create');
    }
    return openStore(path, clock === undefined ? {} : { clock });
  },
});

registerMetadataStoreSuite(test, {
  titlePrefix: 'sqlite memory',
  create: (clock) => openStore(':memory:', clock === undefined ? {} : { clock }),
});

test('new database records the latest schema version', async (t) => {
  const path = newDatabasePath();
  const store = await openStore(path);
  await store.close();

  const db = new Database(path, { readonly: true });
  const versions = db.prepare('SELECT version FROM schema_version ORDER BY version').pluck().all();
  db.close();
  t.is(versions.at(-1), SQLITE_METADATA_SCHEMA_VERSION);
  t.is(new Set(versions).size, versions.length);
});

test('reopening applies no migration twice', async (t) => {
  const path = newDatabasePath();
  await (await openStore(path)).close();
  const store = await openStore(path);
  await store.create('docs', 'k', { n: 1 });
  await store.close();

  const db = new Database(path, { readonly: true });
  const count = db.prepare('SELECT COUNT(*) FROM schema_version').pluck().get();
  db.close();
  t.is(count, SQLITE_METADATA_SCHEMA_VERSION);
});

test('schema version newer than the code is rejected', async (t) => {
  const path = newDatabasePath();
  await (await openStore(path)).close();
  const futureVersion = SQLITE_METADATA_SCHEMA_VERSION + 5;
  const db = new Database(path);
  db.prepare('INSERT INTO schema_version (version, applied_at_ms) VALUES (?, ?)').run(futureVersion, Date.now());
  db.close();

  const store = new SqliteMetadataStore({ path });
  const error = await rejectsWithKind(t, store.open(), 'internal');
  t.true(error.message.includes(`schema version ${futureVersion}`), error.message);
  t.true(error.message.includes(`up to ${SQLITE_METADATA_SCHEMA_VERSION}`), error.message);
  t.is(error.details['schemaVersion'], futureVersion);
  await rejectsWithKind(t, store.get('docs', 'k'), 'unavailable');
});

test('database is in WAL mode', async (t) => {
  const path = newDatabasePath();
  const store = await openStore(path);
  await store.put('docs', 'k', { n: 1 });

  const db = new Database(path, { readonly: true });
  t.is(db.pragma('journal_mode', { simple: true }), 'wal');
  db.close();
  await store.close();
});

test('synchronous FULL works and bad values are rejected', async (t) => {
  const store = await openStore(newDatabasePath(), { synchronous: 'FULL' });
  await store.create('docs', 'k', { n: 1 });
  t.is((await store.get('docs', 'k'))?.version, 1);
  await store.close();

  const error = t.throws(() => new SqliteMetadataStore({ path: ':memory:', synchronous: 'OFF' as 'FULL' }));
  t.is((error as OpError).kind, 'badValue');
});

test('two instances on one file see each other', async (t) => {
  const path = newDatabasePath();
  const clock = new ManualClock();
  const first = await openStore(path, { clock });
  const second = await openStore(path, { clock });

  await first.create('docs', 'k', { by: 'first' });
  t.deepEqual(await second.get('docs', 'k'), { key: 'k', version: 1, value: { by: 'first' } });
  await second.update('docs', 'k', { by: 'second' }, 1);
  await rejectsWithKind(t, first.update('docs', 'k', { by: 'first again' }, 1), 'conflict');
  await rejectsWithKind(t, second.create('docs', 'k', {}), 'alreadyExists');

  await first.addChild('dir', 'name', 'child-1');
  await rejectsWithKind(t, second.addChild('dir', 'name', 'child-2'), 'alreadyExists');
  t.deepEqual(await second.listChildren('dir', { limit: 10 }), [{ name: 'name', childId: 'child-1' }]);

  const seqA = await first.appendChange('space', { collection: 'file', key: 'a', deleted: false });
  const seqB = await second.appendChange('space', { collection: 'file', key: 'b', deleted: false });
  t.true(seqB > seqA);
  t.is(await first.lastChangeSeq('space'), seqB);

  t.not(await first.acquireLease('leader', 'first', 10_000), undefined);
  t.is(await second.acquireLease('leader', 'second', 10_000), undefined);

  await first.close();
  await second.close();
});

test('several processes share one file', async (t) => {
  const path = newDatabasePath();
  await (await openStore(path)).close();
  const moduleUrl = new URL('../src/metadata/sqlite/sqlite-store.js', import.meta.url).href;

  // Each process appends to one feed and races the others to create the same keys.
  const script = `
    const { SqliteMetadataStore } = await import(${JSON.stringify(moduleUrl)});
    const store = new SqliteMetadataStore({ path: process.argv[1], busyTimeoutMs: 20000 });
    await store.open();
    const seqs = [];
    let created = 0;
    for (let i = 0; i < 150; i++) {
      seqs.push(await store.appendChange('space', { collection: 'file', key: process.argv[2] + '-' + i, deleted: false }));
      try {
        await store.create('docs', 'key-' + i, { by: process.argv[2] });
        created += 1;
      } catch (error) {
        if (error.kind !== 'alreadyExists') throw error;
      }
    }
    await store.close();
    console.log(JSON.stringify({ seqs, created }));
  `;
  const workers = ['p1', 'p2', 'p3'].map((name) =>
    run(process.execPath, ['--input-type=module', '-e', script, path, name]),
  );
  const outputs = (await Promise.all(workers)).map(
    (output) => JSON.parse(output.stdout) as { seqs: number[]; created: number },
  );

  const allSeqs = outputs.flatMap((output) => output.seqs);
  t.is(new Set(allSeqs).size, 450);
  t.is(
    outputs.reduce((sum, output) => sum + output.created, 0),
    150,
  );

  const store = await openStore(path);
  t.is(await store.lastChangeSeq('space'), Math.max(...allSeqs));
  t.is((await store.readChanges('space', { afterSeq: 0, limit: 1000 })).length, 450);
  t.is((await store.scan('docs', { limit: 1000 })).documents.length, 150);
  await store.close();
});

test('lock held past the busy timeout is unavailable', async (t) => {
  const path = newDatabasePath();
  const store = await openStore(path, { busyTimeoutMs: 50 });
  const blocker = new Database(path);
  blocker.exec('BEGIN IMMEDIATE');

  try {
    await rejectsWithKind(t, store.put('docs', 'k', { n: 1 }), 'unavailable');
    t.is(await store.get('docs', 'k'), undefined);
  } finally {
    blocker.exec('ROLLBACK');
    blocker.close();
  }

  t.is((await store.put('docs', 'k', { n: 1 })).version, 1);
  await store.close();
});

test('calls before open or after close are unavailable', async (t) => {
  const store = new SqliteMetadataStore({ path: ':memory:' });
  await rejectsWithKind(t, store.get('docs', 'k'), 'unavailable');

  await store.open();
  await store.put('docs', 'k', {});
  await store.close();
  await rejectsWithKind(t, store.listChildren('dir', { limit: 1 }), 'unavailable');
});

test('invalid arguments are badValue', async (t) => {
  const store = await openStore(':memory:');

  await rejectsWithKind(t, store.scan('docs', { limit: 10, cursor: 'not-a-cursor' }), 'badValue');
  await rejectsWithKind(t, store.scan('docs', { limit: 0 }), 'badValue');
  await rejectsWithKind(t, store.listChildren('dir', { limit: -1 }), 'badValue');
  await rejectsWithKind(t, store.readChanges('space', { afterSeq: 0, limit: 1.5 }), 'badValue');
  await rejectsWithKind(t, store.acquireLease('lease', 'holder', 0), 'badValue');
  await rejectsWithKind(t, store.create('docs', 'k', undefined), 'badValue');
  t.is(await store.get('docs', 'k'), undefined);
  await store.close();
});

test('scan pages end exactly at the last document', async (t) => {
  const store = await openStore(':memory:');
  for (const key of ['a', 'b', 'c', 'd']) {
    await store.create('docs', key, { key });
  }

  const first = await store.scan('docs', { limit: 2 });
  t.deepEqual(
    first.documents.map((document) => document.key),
    ['a', 'b'],
  );
  t.not(first.nextCursor, undefined);
  const second = await store.scan('docs', { limit: 2, ...(first.nextCursor === undefined ? {} : { cursor: first.nextCursor }) });
  t.deepEqual(
    second.documents.map((document) => document.key),
    ['c', 'd'],
  );
  t.is(second.nextCursor, undefined);
  await store.close();
});
