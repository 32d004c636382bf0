import { randomUUID } from 'node:crypto';

import type { ExecutionContext, TestFn } from 'ava';

import { OpError, type OpErrorKind } from '../errors.js';
import type { MetadataStore } from '../metadata/store.js';
import type { Clock } from '../tokens.js';

/**
 * The conformance suite of the `MetadataStore` contract. Every store implementation
 * runs it from a few lines of its own test file:
 *
 *   registerMetadataStoreSuite(test, { create: (clock) => openMyStore(clock) });
 *
 * Each case opens its own store and uses collection, parent, space and lease names
 * unique to the case, so the cases may run concurrently against one shared database.
 */
export interface MetadataStoreSuiteOptions {
  /**
   * Returns an opened store. When `clock` is given, the store must read the time for
   * leases and change timestamps from it.
   */
  create(clock?: Clock): Promise<MetadataStore>;
  /**
   * Returns an opened store over the same data as `closed`, which the suite has just
   * closed. Stores that do not persist leave it out, and the persistence cases are not
   * registered.
   */
  reopen?(closed: MetadataStore, clock?: Clock): Promise<MetadataStore>;
  /** Releases a store after a case. Without it, the suite closes the store. */
  cleanup?(store: MetadataStore): Promise<void>;
  /** Prefix of every case title, to tell suites apart in one ava run. */
  titlePrefix?: string;
}

/** A clock that advances only when a test calls `advance`, for lease-expiry cases. */
export class ManualClock implements Clock {
  constructor(private currentMs = 1_700_000_000_000) {}

  now(): number {
    return this.currentMs;
  }

  /** Moves the time forward by `ms` milliseconds. */
  advance(ms: number): void {
    this.currentMs += ms;
  }
}

type Case = (t: ExecutionContext, store: MetadataStore, names: Names, clock: ManualClock) => Promise<void>;

/** Generates names unique to one case, so cases sharing a database do not meet. */
class Names {
  private readonly prefix = `t${randomUUID().replaceAll('-', '').slice(0, 16)}`;

  of(kind: string): string {
    return `${this.prefix}-${kind}`;
  }
}

/** Byte order of UTF-8 encodings, which `listChildren` promises (and which differs from JS string order). */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Names that tell byte order apart from other orders: digits sort as text, capitals
 * before lowercase, and U+1F600 (four UTF-8 bytes, a surrogate pair in UTF-16) after
 * U+FF5E, where UTF-16 code-unit order would put it before.
 */
const TRICKY_NAMES = [
  '10',
  '2',
  'a',
  'B',
  'b',
  'Z',
  '_',
  '-',
  '.hidden',
  'a b',
  'a.txt',
  'a~',
  'é',
  'e\u0301',
  'Ärger',
  'zebra',
  'ß',
  '日本語',
  '\uff5e',
  '\u{1f600}',
  '\u{10ffff}',
  'name with spaces',
  '~tilde',
];

export function registerMetadataStoreSuite(test: TestFn, options: MetadataStoreSuiteOptions): void {
  const prefix = options.titlePrefix === undefined ? 'metadata store' : options.titlePrefix;

  const register = (title: string, body: Case): void => {
    test(`${prefix}: ${title}`, async (t) => {
      const clock = new ManualClock();
      const store = await options.create(clock);
      try {
        await body(t, store, new Names(), clock);
      } finally {
        await release(options, store);
      }
    });
  };

  registerDocumentCases(register);
  registerScanCases(register);
  registerChildrenCases(register);
  registerChangeFeedCases(register);
  registerLeaseCases(register);
  if (options.reopen !== undefined) {
    registerPersistenceCases(test, prefix, options, options.reopen);
  }
}

async function release(options: MetadataStoreSuiteOptions, store: MetadataStore): Promise<void> {
  if (options.cleanup !== undefined) {
    await options.cleanup(store);
  } else {
    await store.close();
  }
}

/** Asserts that `promise` rejects with an `OpError` of `kind`. */
async function rejectsWithKind(t: ExecutionContext, promise: Promise<unknown>, kind: OpErrorKind): Promise<void> {
  const error = await t.throwsAsync(promise);
  t.true(OpError.is(error), `expected an OpError, got ${String(error)}`);
  t.is((error as OpError).kind, kind);
}

/** Settles racing calls and splits them into results and OpError kinds. */
async function settle<T>(calls: Promise<T>[]): Promise<{ values: T[]; kinds: string[] }> {
  const results = await Promise.allSettled(calls);
  const values: T[] = [];
  const kinds: string[] = [];
  for (const result of results) {
    if (result.status === 'fulfilled') {
      values.push(result.value);
    } else {
      kinds.push(OpError.is(result.reason) ? result.reason.kind : String(result.reason));
    }
  }
  return { values, kinds };
}

type Register = (title: string, body: Case) => void;

function registerDocumentCases(register: Register): void {
  register('get of absent document returns undefined', async (t, store, names) => {
    t.is(await store.get(names.of('docs'), 'missing'), undefined);
  });

  register('create starts at version 1', async (t, store, names) => {
    const collection = names.of('docs');
    const created = await store.create(collection, 'k1', { size: 5, name: 'a' });
    t.deepEqual(created, { key: 'k1', version: 1, value: { size: 5, name: 'a' } });

    const read = await store.get(collection, 'k1');
    t.deepEqual(read, { key: 'k1', version: 1, value: { size: 5, name: 'a' } });
  });

  register('create of taken key throws alreadyExists', async (t, store, names) => {
    const collection = names.of('docs');
    await store.create(collection, 'k1', { owner: 'first' });

    await rejectsWithKind(t, store.create(collection, 'k1', { owner: 'second' }), 'alreadyExists');
    const read = await store.get<{ owner: string }>(collection, 'k1');
    t.is(read?.value.owner, 'first');
    t.is(read?.version, 1);
  });

  register('racing creates: exactly one wins', async (t, store, names) => {
    const collection = names.of('docs');
    const racers = ['a', 'b', 'c', 'd'].map((owner) => store.create(collection, 'contested', { owner }));
    const { values, kinds } = await settle(racers);

    t.is(values.length, 1);
    t.deepEqual(kinds, ['alreadyExists', 'alreadyExists', 'alreadyExists']);
    const read = await store.get<{ owner: string }>(collection, 'contested');
    t.is(read?.value.owner, values[0]?.value.owner);
  });

  register('update with expected version increments it', async (t, store, names) => {
    const collection = names.of('docs');
    await store.create(collection, 'k1', { n: 1 });

    const second = await store.update(collection, 'k1', { n: 2 }, 1);
    t.deepEqual(second, { key: 'k1', version: 2, value: { n: 2 } });
    const third = await store.update(collection, 'k1', { n: 3 }, 2);
    t.is(third.version, 3);
    t.deepEqual(await store.get(collection, 'k1'), { key: 'k1', version: 3, value: { n: 3 } });
  });

  register('update with stale version throws conflict', async (t, store, names) => {
    const collection = names.of('docs');
    await store.create(collection, 'k1', { n: 1 });
    await store.update(collection, 'k1', { n: 2 }, 1);

    await rejectsWithKind(t, store.update(collection, 'k1', { n: 99 }, 1), 'conflict');
    await rejectsWithKind(t, store.update(collection, 'k1', { n: 99 }, 7), 'conflict');
    t.deepEqual(await store.get(collection, 'k1'), { key: 'k1', version: 2, value: { n: 2 } });
  });

  register('update of absent document throws notFound', async (t, store, names) => {
    const collection = names.of('docs');
    await rejectsWithKind(t, store.update(collection, 'missing', { n: 1 }, 1), 'notFound');
    t.is(await store.get(collection, 'missing'), undefined);
  });

  register('racing updates of one version: exactly one wins', async (t, store, names) => {
    const collection = names.of('docs');
    await store.create(collection, 'k1', { writer: 'none' });

    const racers = ['a', 'b', 'c'].map((writer) => store.update(collection, 'k1', { writer }, 1));
    const { values, kinds } = await settle(racers);

    t.is(values.length, 1);
    t.deepEqual(kinds, ['conflict', 'conflict']);
    const read = await store.get<{ writer: string }>(collection, 'k1');
    t.is(read?.version, 2);
    t.is(read?.value.writer, values[0]?.value.writer);
  });

  register('put creates at 1, then increments', async (t, store, names) => {
    const collection = names.of('docs');
    const first = await store.put(collection, 'k1', { n: 1 });
    t.deepEqual(first, { key: 'k1', version: 1, value: { n: 1 } });

    const second = await store.put(collection, 'k1', { n: 2 });
    t.deepEqual(second, { key: 'k1', version: 2, value: { n: 2 } });

    await store.update(collection, 'k1', { n: 3 }, 2);
    const fourth = await store.put(collection, 'k1', { n: 4 });
    t.is(fourth.version, 4);
    t.deepEqual(await store.get(collection, 'k1'), { key: 'k1', version: 4, value: { n: 4 } });
  });

  register('delete removes and reports presence', async (t, store, names) => {
    const collection = names.of('docs');
    await store.create(collection, 'k1', { n: 1 });

    t.true(await store.delete(collection, 'k1'));
    t.is(await store.get(collection, 'k1'), undefined);
    t.false(await store.delete(collection, 'k1'));
    t.false(await store.delete(collection, 'never-created'));
  });

  register('delete with expected version', async (t, store, names) => {
    const collection = names.of('docs');
    await store.create(collection, 'k1', { n: 1 });
    await store.update(collection, 'k1', { n: 2 }, 1);

    await rejectsWithKind(t, store.delete(collection, 'k1', 1), 'conflict');
    t.is((await store.get(collection, 'k1'))?.version, 2);

    t.true(await store.delete(collection, 'k1', 2));
    t.is(await store.get(collection, 'k1'), undefined);
    t.false(await store.delete(collection, 'k1', 2));
  });

  register('create after delete starts again at 1', async (t, store, names) => {
    const collection = names.of('docs');
    await store.put(collection, 'k1', { n: 1 });
    await store.put(collection, 'k1', { n: 2 });
    await store.delete(collection, 'k1');

    const recreated = await store.create(collection, 'k1', { n: 3 });
    t.is(recreated.version, 1);
    t.deepEqual(await store.get(collection, 'k1'), { key: 'k1', version: 1, value: { n: 3 } });
  });

  register('collections are separate key spaces', async (t, store, names) => {
    const files = names.of('files');
    const users = names.of('users');
    await store.create(files, 'same-key', { kind: 'file' });
    await store.create(users, 'same-key', { kind: 'user' });
    await store.update(users, 'same-key', { kind: 'user2' }, 1);

    t.deepEqual(await store.get(files, 'same-key'), { key: 'same-key', version: 1, value: { kind: 'file' } });
    t.deepEqual(await store.get(users, 'same-key'), { key: 'same-key', version: 2, value: { kind: 'user2' } });
    t.true(await store.delete(files, 'same-key'));
    t.not(await store.get(users, 'same-key'), undefined);
  });

  register('values round-trip as JSON', async (t, store, names) => {
    const collection = names.of('docs');
    const values: Record<string, unknown> = {
      nested: { a: [1, 2, { b: null }], c: { d: true, e: false } },
      text: 'plain string with "quotes", \\ and \n newline',
      unicode: { name: 'Zażółć 日本語 \u{1f600}' },
      number: 12345.678,
      zero: 0,
      emptyArray: [],
      emptyObject: {},
      nullValue: null,
    };

    for (const [key, value] of Object.entries(values)) {
      await store.create(collection, key, value);
    }
    for (const [key, value] of Object.entries(values)) {
      t.deepEqual((await store.get(collection, key))?.value, value, `value of ${key}`);
    }
  });

  register('keys may hold any characters', async (t, store, names) => {
    const collection = names.of('docs');
    const keys = ['with/slash', 'with space', "quote'd", 'percent%20', 'ünïcödé', '\u{1f600}', 'a'.repeat(200)];

    for (const key of keys) {
      await store.create(collection, key, { key });
    }
    for (const key of keys) {
      t.deepEqual((await store.get(collection, key))?.value, { key }, `key ${key}`);
    }
  });

  register('getMany returns only present keys', async (t, store, names) => {
    const collection = names.of('docs');
    await store.create(collection, 'a', { n: 1 });
    await store.create(collection, 'b', { n: 2 });
    await store.update(collection, 'b', { n: 3 }, 1);

    const found = await store.getMany(collection, ['a', 'b', 'missing']);
    t.is(found.size, 2);
    t.deepEqual(found.get('a'), { key: 'a', version: 1, value: { n: 1 } });
    t.deepEqual(found.get('b'), { key: 'b', version: 2, value: { n: 3 } });
    t.false(found.has('missing'));

    t.is((await store.getMany(collection, [])).size, 0);
    t.is((await store.getMany(collection, ['missing', 'also-missing'])).size, 0);
  });

  register('getMany of many keys', async (t, store, names) => {
    const collection = names.of('docs');
    const keys = Array.from({ length: 300 }, (_, i) => `key-${i}`);
    for (const key of keys.filter((_, i) => i % 3 !== 0)) {
      await store.create(collection, key, { key });
    }

    const found = await store.getMany(collection, [...keys, 'key-1']);
    t.is(found.size, 200);
    for (const [index, key] of keys.entries()) {
      t.is(found.has(key), index % 3 !== 0, `presence of ${key}`);
    }
    t.deepEqual(found.get('key-1')?.value, { key: 'key-1' });
  });
}

function registerScanCases(register: Register): void {
  register('scan of empty collection', async (t, store, names) => {
    const page = await store.scan(names.of('empty'), { limit: 10 });
    t.deepEqual(page.documents, []);
    t.is(page.nextCursor, undefined);
  });

  register('scan smaller than limit has no cursor', async (t, store, names) => {
    const collection = names.of('docs');
    await store.create(collection, 'x', { n: 1 });
    await store.create(collection, 'y', { n: 2 });
    await store.update(collection, 'y', { n: 3 }, 1);

    const page = await store.scan<{ n: number }>(collection, { limit: 10 });
    t.is(page.nextCursor, undefined);
    const byKey = new Map(page.documents.map((document) => [document.key, document]));
    t.deepEqual(byKey.get('x'), { key: 'x', version: 1, value: { n: 1 } });
    t.deepEqual(byKey.get('y'), { key: 'y', version: 2, value: { n: 3 } });
    t.is(byKey.size, 2);
  });

  register('scan pages cover every document once', async (t, store, names) => {
    const collection = names.of('docs');
    const otherCollection = names.of('other');
    const keys = Array.from({ length: 23 }, (_, i) => `doc-${i}`);
    for (const key of keys) {
      await store.create(collection, key, { key });
    }
    await store.create(otherCollection, 'doc-0', { key: 'other' });

    for (const limit of [1, 2, 5, 7, 22, 23, 24, 100]) {
      const seen = await scanAll(t, store, collection, limit);
      t.deepEqual([...seen].sort(), [...keys].sort(), `keys seen with limit ${limit}`);
    }
  });

  register('scan order is stable under updates', async (t, store, names) => {
    const collection = names.of('docs');
    const keys = Array.from({ length: 12 }, (_, i) => `doc-${String(i).padStart(2, '0')}`);
    for (const key of keys) {
      await store.create(collection, key, { round: 0 });
    }

    const seen: string[] = [];
    let cursor: string | undefined;
    let round = 0;
    do {
      const page = await store.scan(collection, { limit: 4, ...(cursor === undefined ? {} : { cursor }) });
      seen.push(...page.documents.map((document) => document.key));
      cursor = page.nextCursor;

      // Rewrite every document between pages, as a concurrent writer would.
      round += 1;
      for (const key of keys) {
        await store.put(collection, key, { round });
      }
    } while (cursor !== undefined);

    t.deepEqual([...seen].sort(), keys);
  });
}

/** Follows `nextCursor` to the end and returns every key seen, failing on duplicates. */
async function scanAll(t: ExecutionContext, store: MetadataStore, collection: string, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await store.scan(collection, { limit, ...(cursor === undefined ? {} : { cursor }) });
    t.true(page.documents.length <= limit, `page of ${page.documents.length} exceeds limit ${limit}`);
    seen.push(...page.documents.map((document) => document.key));
    cursor = page.nextCursor;
    pages += 1;
  } while (cursor !== undefined && pages < 1000);

  t.is(cursor, undefined, 'scan never ended');
  t.is(new Set(seen).size, seen.length, `duplicate keys with limit ${limit}`);
  return seen;
}

function registerChildrenCases(register: Register): void {
  register('addChild then getChild', async (t, store, names) => {
    const parent = names.of('dir');
    await store.addChild(parent, 'file.txt', 'id-1');
    await store.addChild(parent, 'other', 'id-2');

    t.is(await store.getChild(parent, 'file.txt'), 'id-1');
    t.is(await store.getChild(parent, 'other'), 'id-2');
    t.is(await store.getChild(parent, 'missing'), undefined);
    t.is(await store.getChild(names.of('no-such-dir'), 'file.txt'), undefined);
  });

  register('addChild of taken name throws alreadyExists', async (t, store, names) => {
    const parent = names.of('dir');
    await store.addChild(parent, 'name', 'first');

    await rejectsWithKind(t, store.addChild(parent, 'name', 'second'), 'alreadyExists');
    await rejectsWithKind(t, store.addChild(parent, 'name', 'first'), 'alreadyExists');
    t.is(await store.getChild(parent, 'name'), 'first');
  });

  register('racing addChild: exactly one wins', async (t, store, names) => {
    const parent = names.of('dir');
    const racers = ['c1', 'c2', 'c3', 'c4', 'c5'].map((childId) => store.addChild(parent, 'contested', childId));
    const { values, kinds } = await settle(racers);

    t.is(values.length, 1);
    t.deepEqual(kinds, ['alreadyExists', 'alreadyExists', 'alreadyExists', 'alreadyExists']);
    const listed = await store.listChildren(parent, { limit: 10 });
    t.is(listed.length, 1);
  });

  register('names are per parent', async (t, store, names) => {
    const first = names.of('dir1');
    const second = names.of('dir2');
    await store.addChild(first, 'same', 'in-first');
    await store.addChild(second, 'same', 'in-second');

    t.is(await store.getChild(first, 'same'), 'in-first');
    t.is(await store.getChild(second, 'same'), 'in-second');
    t.true(await store.removeChild(first, 'same'));
    t.is(await store.getChild(second, 'same'), 'in-second');
  });

  register('removeChild frees the name', async (t, store, names) => {
    const parent = names.of('dir');
    await store.addChild(parent, 'name', 'old');

    t.true(await store.removeChild(parent, 'name'));
    t.is(await store.getChild(parent, 'name'), undefined);
    t.false(await store.removeChild(parent, 'name'));

    await store.addChild(parent, 'name', 'new');
    t.is(await store.getChild(parent, 'name'), 'new');
  });

  register('removeChild with expectedChildId', async (t, store, names) => {
    const parent = names.of('dir');
    await store.addChild(parent, 'name', 'current');

    t.false(await store.removeChild(parent, 'name', 'stale'));
    t.is(await store.getChild(parent, 'name'), 'current');
    t.true(await store.removeChild(parent, 'name', 'current'));
    t.is(await store.getChild(parent, 'name'), undefined);
    t.false(await store.removeChild(parent, 'name', 'current'));
  });

  register('listChildren of empty parent', async (t, store, names) => {
    t.deepEqual(await store.listChildren(names.of('empty'), { limit: 5 }), []);
    t.deepEqual(await store.listChildren(names.of('empty'), { limit: 5, startAfter: 'a' }), []);
  });

  register('listChildren in UTF-8 byte order', async (t, store, names) => {
    const parent = names.of('dir');
    const shuffled = [...TRICKY_NAMES].reverse();
    for (const [index, name] of shuffled.entries()) {
      await store.addChild(parent, name, `id-${index}`);
    }
    await store.addChild(names.of('sibling'), 'a', 'elsewhere');

    const listed = await store.listChildren(parent, { limit: 1000 });
    const expected = [...TRICKY_NAMES].sort(compareUtf8);
    t.deepEqual(
      listed.map((entry) => entry.name),
      expected,
    );
    for (const entry of listed) {
      t.is(entry.childId, `id-${shuffled.indexOf(entry.name)}`, `child id of ${entry.name}`);
    }
  });

  register('listChildren pages of every limit', async (t, store, names) => {
    const parent = names.of('dir');
    for (const name of TRICKY_NAMES) {
      await store.addChild(parent, name, `id-${name}`);
    }
    const expected = [...TRICKY_NAMES].sort(compareUtf8);

    for (let limit = 1; limit <= expected.length + 1; limit++) {
      const seen = await listAllChildren(store, parent, limit);
      t.deepEqual(seen, expected, `names listed with limit ${limit}`);
    }
  });

  register('listChildren startAfter an absent name', async (t, store, names) => {
    const parent = names.of('dir');
    for (const name of ['a', 'c', 'e', 'g']) {
      await store.addChild(parent, name, `id-${name}`);
    }

    const afterB = await store.listChildren(parent, { startAfter: 'b', limit: 2 });
    t.deepEqual(afterB, [
      { name: 'c', childId: 'id-c' },
      { name: 'e', childId: 'id-e' },
    ]);
    t.deepEqual(
      (await store.listChildren(parent, { startAfter: '', limit: 10 })).map((entry) => entry.name),
      ['a', 'c', 'e', 'g'],
    );
    t.deepEqual(await store.listChildren(parent, { startAfter: 'g', limit: 10 }), []);
    t.deepEqual(await store.listChildren(parent, { startAfter: 'zzz', limit: 10 }), []);
  });

  register('listChildren skips removed entries', async (t, store, names) => {
    const parent = names.of('dir');
    for (const name of ['n1', 'n2', 'n3', 'n4']) {
      await store.addChild(parent, name, `id-${name}`);
    }
    await store.removeChild(parent, 'n2');
    await store.removeChild(parent, 'n4', 'id-n4');

    t.deepEqual(
      (await store.listChildren(parent, { limit: 10 })).map((entry) => entry.name),
      ['n1', 'n3'],
    );
  });

  register('listChildren of a large directory', async (t, store, names) => {
    const parent = names.of('dir');
    const all = Array.from({ length: 250 }, (_, i) => `file-${i}`);
    for (const name of all) {
      await store.addChild(parent, name, `id-${name}`);
    }

    const seen = await listAllChildren(store, parent, 64);
    t.deepEqual(seen, [...all].sort(compareUtf8));
  });
}

/** Lists every child through keyset pages of `limit`. */
async function listAllChildren(store: MetadataStore, parent: string, limit: number): Promise<string[]> {
  const seen: string[] = [];
  let startAfter: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await store.listChildren(parent, { limit, ...(startAfter === undefined ? {} : { startAfter }) });
    seen.push(...page.map((entry) => entry.name));
    if (page.length < limit) {
      break;
    }
    startAfter = page.at(-1)?.name;
  }
  return seen;
}

function registerChangeFeedCases(register: Register): void {
  register('new space has an empty feed', async (t, store, names) => {
    const space = names.of('space');
    t.is(await store.lastChangeSeq(space), 0);
    t.deepEqual(await store.readChanges(space, { afterSeq: 0, limit: 10 }), []);
  });

  register('appendChange returns increasing seqs', async (t, store, names, clock) => {
    const space = names.of('space');
    const first = await store.appendChange(space, { collection: 'file', key: 'f1', deleted: false, data: { size: 1 } });
    clock.advance(10);
    const second = await store.appendChange(space, { collection: 'xattrs', key: 'f1', deleted: false });
    clock.advance(10);
    const third = await store.appendChange(space, { collection: 'file', key: 'f2', deleted: true, data: 'gone' });

    t.true(first > 0);
    t.true(second > first);
    t.true(third > second);
    t.is(await store.lastChangeSeq(space), third);
  });

  register('readChanges returns records in order', async (t, store, names, clock) => {
    const space = names.of('space');
    const startMs = clock.now();
    const first = await store.appendChange(space, { collection: 'file', key: 'f1', deleted: false, data: { size: 1 } });
    clock.advance(25);
    const second = await store.appendChange(space, { collection: 'location', key: 'f1', deleted: true });

    const records = await store.readChanges(space, { afterSeq: 0, limit: 10 });
    t.is(records.length, 2);
    t.deepEqual(records[0], {
      seq: first,
      collection: 'file',
      key: 'f1',
      deleted: false,
      data: { size: 1 },
      timeMs: startMs,
    });

    const last = records[1];
    t.is(last?.seq, second);
    t.is(last?.collection, 'location');
    t.is(last?.key, 'f1');
    t.is(last?.deleted, true);
    t.is(last?.data, undefined);
    t.is(last?.timeMs, startMs + 25);
  });

  register('readChanges honours afterSeq and limit', async (t, store, names) => {
    const space = names.of('space');
    const seqs: number[] = [];
    for (let i = 0; i < 10; i++) {
      seqs.push(await store.appendChange(space, { collection: 'file', key: `f${i}`, deleted: false }));
    }

    const firstThree = await store.readChanges(space, { afterSeq: 0, limit: 3 });
    t.deepEqual(
      firstThree.map((record) => record.key),
      ['f0', 'f1', 'f2'],
    );

    const afterFourth = await store.readChanges(space, { afterSeq: seqs[3] ?? 0, limit: 100 });
    t.deepEqual(
      afterFourth.map((record) => record.seq),
      seqs.slice(4),
    );
    t.deepEqual(await store.readChanges(space, { afterSeq: seqs[9] ?? 0, limit: 10 }), []);
  });

  register('reading the feed page by page', async (t, store, names) => {
    const space = names.of('space');
    const keys = Array.from({ length: 17 }, (_, i) => `f${i}`);
    for (const key of keys) {
      await store.appendChange(space, { collection: 'file', key, deleted: false });
    }

    const seen: string[] = [];
    let afterSeq = 0;
    for (let pages = 0; pages < 100; pages++) {
      const page = await store.readChanges(space, { afterSeq, limit: 4 });
      if (page.length === 0) {
        break;
      }
      seen.push(...page.map((record) => record.key));
      afterSeq = page.at(-1)?.seq ?? afterSeq;
    }
    t.deepEqual(seen, keys);
  });

  register('feeds are separate per space', async (t, store, names) => {
    const spaceA = names.of('space-a');
    const spaceB = names.of('space-b');
    await store.appendChange(spaceA, { collection: 'file', key: 'a1', deleted: false });
    await store.appendChange(spaceB, { collection: 'file', key: 'b1', deleted: false });
    await store.appendChange(spaceA, { collection: 'file', key: 'a2', deleted: false });

    const recordsA = await store.readChanges(spaceA, { afterSeq: 0, limit: 10 });
    const recordsB = await store.readChanges(spaceB, { afterSeq: 0, limit: 10 });
    t.deepEqual(
      recordsA.map((record) => record.key),
      ['a1', 'a2'],
    );
    t.deepEqual(
      recordsB.map((record) => record.key),
      ['b1'],
    );
    t.is(await store.lastChangeSeq(spaceA), recordsA[1]?.seq ?? -1);
    t.is(await store.lastChangeSeq(spaceB), recordsB[0]?.seq ?? -1);
  });

  register('racing appends get unique seqs', async (t, store, names) => {
    const space = names.of('space');
    const appends = Array.from({ length: 40 }, (_, i) =>
      store.appendChange(space, { collection: 'file', key: `f${i}`, deleted: false }),
    );
    const seqs = await Promise.all(appends);

    t.is(new Set(seqs).size, seqs.length);
    const records = await store.readChanges(space, { afterSeq: 0, limit: 100 });
    t.is(records.length, 40);
    const readSeqs = records.map((record) => record.seq);
    t.deepEqual(readSeqs, [...seqs].sort((a, b) => a - b));
    t.is(await store.lastChangeSeq(space), Math.max(...seqs));
  });
}

function registerLeaseCases(register: Register): void {
  register('getLease of absent lease', async (t, store, names) => {
    t.is(await store.getLease(names.of('lease')), undefined);
  });

  register('acquireLease of free lease', async (t, store, names, clock) => {
    const name = names.of('lease');
    const lease = await store.acquireLease(name, 'worker-1', 5000);

    t.deepEqual(lease, { name, holder: 'worker-1', expiresAtMs: clock.now() + 5000 });
    t.deepEqual(await store.getLease(name), lease);
  });

  register('acquireLease held by another fails', async (t, store, names, clock) => {
    const name = names.of('lease');
    await store.acquireLease(name, 'worker-1', 5000);
    clock.advance(4000);

    t.is(await store.acquireLease(name, 'worker-2', 5000), undefined);
    t.is((await store.getLease(name))?.holder, 'worker-1');
  });

  register('acquireLease by holder extends it', async (t, store, names, clock) => {
    const name = names.of('lease');
    await store.acquireLease(name, 'worker-1', 5000);
    clock.advance(3000);

    const extended = await store.acquireLease(name, 'worker-1', 5000);
    t.deepEqual(extended, { name, holder: 'worker-1', expiresAtMs: clock.now() + 5000 });
    clock.advance(4000);
    t.is((await store.getLease(name))?.holder, 'worker-1');
  });

  register('expired lease passes to another holder', async (t, store, names, clock) => {
    const name = names.of('lease');
    await store.acquireLease(name, 'worker-1', 1000);
    clock.advance(999);
    t.is(await store.acquireLease(name, 'worker-2', 1000), undefined);

    clock.advance(2);
    t.is(await store.getLease(name), undefined);
    const taken = await store.acquireLease(name, 'worker-2', 1000);
    t.deepEqual(taken, { name, holder: 'worker-2', expiresAtMs: clock.now() + 1000 });
    t.is(await store.acquireLease(name, 'worker-1', 1000), undefined);
  });

  register('racing acquires: exactly one wins', async (t, store, names) => {
    const name = names.of('lease');
    const holders = ['w1', 'w2', 'w3', 'w4'];
    const results = await Promise.all(holders.map((holder) => store.acquireLease(name, holder, 10_000)));
    const winners = results.filter((lease) => lease !== undefined);

    t.is(winners.length, 1);
    t.is((await store.getLease(name))?.holder, winners[0]?.holder);
  });

  register('renewLease extends only the holder', async (t, store, names, clock) => {
    const name = names.of('lease');
    await store.acquireLease(name, 'worker-1', 1000);
    clock.advance(800);

    const renewed = await store.renewLease(name, 'worker-1', 1000);
    t.deepEqual(renewed, { name, holder: 'worker-1', expiresAtMs: clock.now() + 1000 });
    t.is(await store.renewLease(name, 'worker-2', 1000), undefined);

    clock.advance(800);
    t.is((await store.getLease(name))?.holder, 'worker-1');
  });

  register('renewLease of lost lease', async (t, store, names, clock) => {
    const name = names.of('lease');
    t.is(await store.renewLease(name, 'worker-1', 1000), undefined);
    t.is(await store.getLease(name), undefined);

    // An expired lease is lost even before another holder takes it, as getLease shows.
    await store.acquireLease(name, 'worker-1', 1000);
    clock.advance(1500);
    t.is(await store.renewLease(name, 'worker-1', 1000), undefined);
    t.is(await store.getLease(name), undefined);

    await store.acquireLease(name, 'worker-2', 1000);
    t.is(await store.renewLease(name, 'worker-1', 1000), undefined);
    t.is((await store.getLease(name))?.holder, 'worker-2');
  });

  register('releaseLease frees only for the holder', async (t, store, names) => {
    const name = names.of('lease');
    await store.acquireLease(name, 'worker-1', 60_000);

    await store.releaseLease(name, 'worker-2');
    t.is((await store.getLease(name))?.holder, 'worker-1');

    await store.releaseLease(name, 'worker-1');
    t.is(await store.getLease(name), undefined);
    t.not(await store.acquireLease(name, 'worker-2', 60_000), undefined);
    await store.releaseLease(names.of('never-taken'), 'worker-1');
  });

  register('leases are independent by name', async (t, store, names) => {
    const first = names.of('lease-1');
    const second = names.of('lease-2');

    t.not(await store.acquireLease(first, 'worker-1', 60_000), undefined);
    t.not(await store.acquireLease(second, 'worker-2', 60_000), undefined);
    t.is((await store.getLease(first))?.holder, 'worker-1');
    t.is((await store.getLease(second))?.holder, 'worker-2');
  });
}

function registerPersistenceCases(
  test: TestFn,
  prefix: string,
  options: MetadataStoreSuiteOptions,
  reopen: NonNullable<MetadataStoreSuiteOptions['reopen']>,
): void {
  test(`${prefix}: data survives close and reopen`, async (t) => {
    const clock = new ManualClock();
    const names = new Names();
    const collection = names.of('docs');
    const parent = names.of('dir');
    const space = names.of('space');
    const leaseName = names.of('lease');

    const first = await options.create(clock);
    await first.create(collection, 'k1', { n: 1 });
    await first.update(collection, 'k1', { n: 2 }, 1);
    await first.addChild(parent, 'child', 'child-id');
    const seqs = [
      await first.appendChange(space, { collection: 'file', key: 'f1', deleted: false }),
      await first.appendChange(space, { collection: 'file', key: 'f2', deleted: false }),
    ];
    await first.acquireLease(leaseName, 'worker-1', 60_000);
    await first.close();

    const second = await reopen(first, clock);
    try {
      t.deepEqual(await second.get(collection, 'k1'), { key: 'k1', version: 2, value: { n: 2 } });
      t.is(await second.getChild(parent, 'child'), 'child-id');
      t.is(await second.lastChangeSeq(space), seqs[1] ?? -1);
      t.is((await second.getLease(leaseName))?.holder, 'worker-1');

      const next = await second.appendChange(space, { collection: 'file', key: 'f3', deleted: false });
      t.true(next > (seqs[1] ?? Infinity), 'seq after reopen continues the feed');
      const records = await second.readChanges(space, { afterSeq: 0, limit: 10 });
      t.deepEqual(
        records.map((record) => record.key),
        ['f1', 'f2', 'f3'],
      );
      await rejectsWithKind(t, second.create(collection, 'k1', { n: 0 }), 'alreadyExists');
    } finally {
      await release(options, second);
    }
  });
}
