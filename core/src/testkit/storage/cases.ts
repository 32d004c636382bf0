import type { ExecutionContext } from 'ava';
import { StorageError, type StorageErrorKind } from '../../errors.js';
import type { CapabilityName } from '../../storage/capabilities.js';
import type { StorageHelper } from '../../storage/helper.js';
import { collect, digestOf, failingStream, PatternStream, patternBytes, sha256, streamOf } from './streams.js';

/** Arguments of one case: the dispatched helper and a directory that no other case uses. */
export interface CaseContext {
  helper: StorageHelper;
  /** Storage path of this case's directory, without a trailing slash. */
  dir: string;
  /** Storage path of `name` inside the case's directory. */
  at(name: string): string;
}

export interface StorageCase {
  title: string;
  /** The sentence of the helper contract this case checks. */
  contract: string;
  /** Capabilities the case needs; it is registered only when all are true. */
  needs: CapabilityName[];
  run(t: ExecutionContext, context: CaseContext): Promise<void>;
}

const LARGE_OBJECT_BYTES = 20 * 1024 * 1024;

async function put(helper: StorageHelper, path: string, content: Buffer): Promise<void> {
  await helper.write(path, streamOf(content), { size: content.length });
}

async function readBack(helper: StorageHelper, path: string, range?: { offset: number; length?: number }): Promise<Buffer> {
  return collect(await helper.read(path, range));
}

/** Await a call that must fail with a StorageError of `kind`, and return the error. */
export async function expectKind(
  t: ExecutionContext,
  call: Promise<unknown>,
  kind: StorageErrorKind,
): Promise<StorageError | undefined> {
  const error = await t.throwsAsync(call);
  t.true(StorageError.is(error), `expected a StorageError, got ${String(error)}`);
  t.is((error as StorageError | undefined)?.kind, kind);
  return error as StorageError | undefined;
}

const READ_WRITE_CASES: StorageCase[] = [
  {
    title: 'write then read returns same bytes',
    contract: 'A whole write replaces the object and a read without range returns all of it.',
    needs: ['write', 'read'],
    async run(t, { helper, at }) {
      const content = patternBytes('whole', 100_000);

      const result = await helper.write(at('object'), streamOf(content));

      t.is(result.written, content.length);
      t.is(result.size, content.length);
      t.is(sha256(await readBack(helper, at('object'))), sha256(content));
    },
  },
  {
    title: 'empty object round trip',
    contract: 'An empty stream creates an object of 0 bytes, and reading it yields no bytes.',
    needs: ['write', 'read', 'stat'],
    async run(t, { helper, at }) {
      const result = await helper.write(at('empty'), streamOf());

      t.deepEqual(result, { written: 0, size: 0 });
      t.is((await helper.stat(at('empty'))).size, 0);
      t.is((await helper.stat(at('empty'))).type, 'file');
      t.is((await readBack(helper, at('empty'))).length, 0);
    },
  },
  {
    title: 'multi-MiB stream round trip',
    contract: 'Writes and reads stream: a 20 MiB object keeps every byte, compared by sha256.',
    needs: ['write', 'read', 'stat'],
    async run(t, { helper, at }) {
      const source = new PatternStream('large', LARGE_OBJECT_BYTES);

      const result = await helper.write(at('large'), source, { size: LARGE_OBJECT_BYTES });
      const read = await digestOf(await helper.read(at('large')));

      t.is(result.written, LARGE_OBJECT_BYTES);
      t.is(read.bytes, LARGE_OBJECT_BYTES);
      t.is(read.digest, source.digest());
      t.is((await helper.stat(at('large'))).size, LARGE_OBJECT_BYTES);
    },
  },
  {
    title: 'whole write replaces longer content',
    contract: 'Without offset the object is replaced as a whole, so no old bytes remain past the new end.',
    needs: ['write', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), patternBytes('long', 5000));
      await put(helper, at('object'), Buffer.from('short'));

      t.is((await readBack(helper, at('object'))).toString(), 'short');
    },
  },
  {
    title: 'write creates missing parents',
    contract: 'A write creates the object and, on storages with directories, its missing parents.',
    needs: ['write', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('a/b/c/object'), Buffer.from('deep'));

      t.is((await readBack(helper, at('a/b/c/object'))).toString(), 'deep');
      if (helper.capabilities.directories && helper.capabilities.stat) {
        t.is((await helper.stat(at('a/b'))).type, 'directory');
      }
    },
  },
  {
    title: 'read of missing object is NotFound',
    contract: 'read throws NotFound when the object does not exist.',
    needs: ['read'],
    async run(t, { helper, at }) {
      await expectKind(t, helper.read(at('missing')), 'NotFound');
    },
  },
  {
    title: 'read of directory is IsADirectory',
    contract: 'read throws IsADirectory for a directory.',
    needs: ['read', 'mkdir', 'directories'],
    async run(t, { helper, at }) {
      await helper.mkdir(at('directory'));

      await expectKind(t, helper.read(at('directory')), 'IsADirectory');
    },
  },
  {
    title: 'concurrent writes to different paths',
    contract: 'Writes to different paths do not interfere with each other.',
    needs: ['write', 'read'],
    async run(t, { helper, at }) {
      const names = Array.from({ length: 16 }, (_, index) => `parallel-${index}`);
      const contents = names.map((name) => patternBytes(name, 32_768 + names.indexOf(name)));

      await Promise.all(names.map((name, index) => put(helper, at(name), contents[index]!)));

      for (const [index, name] of names.entries()) {
        t.is(sha256(await readBack(helper, at(name))), sha256(contents[index]!), name);
      }
    },
  },
  {
    title: 'unusual names round trip',
    contract: 'Any valid name is stored as given: spaces, non-ASCII letters, %, # and leading dots.',
    needs: ['write', 'read', 'list'],
    async run(t, { helper, at, dir }) {
      const names = ['with space', 'zażółć gęślą', '日本語', '100%', 'a#b', '%41', '.hidden', 'a+b=c&d', "it's"];

      for (const name of names) await put(helper, at(`names/${name}`), Buffer.from(`content of ${name}`));

      for (const name of names) {
        t.is((await readBack(helper, at(`names/${name}`))).toString(), `content of ${name}`, name);
      }
      const listed = (await helper.list(`${dir}/names`)).entries.map((entry) => entry.name);
      t.deepEqual([...listed].sort(), [...names].sort());
    },
  },
];

const RANGE_CASES: StorageCase[] = [
  {
    title: 'range read from start',
    contract: 'read with a range returns the bytes [offset, offset + length).',
    needs: ['write', 'read_with_range'],
    async run(t, { helper, at }) {
      const content = patternBytes('range', 4096);
      await put(helper, at('object'), content);

      t.deepEqual(await readBack(helper, at('object'), { offset: 0, length: 100 }), content.subarray(0, 100));
    },
  },
  {
    title: 'range read in the middle',
    contract: 'read with a range returns the bytes [offset, offset + length).',
    needs: ['write', 'read_with_range'],
    async run(t, { helper, at }) {
      const content = patternBytes('range', 4096);
      await put(helper, at('object'), content);

      t.deepEqual(await readBack(helper, at('object'), { offset: 1000, length: 1500 }), content.subarray(1000, 2500));
    },
  },
  {
    title: 'range read past end yields rest',
    contract: 'A range that extends past the end yields the bytes up to the end.',
    needs: ['write', 'read_with_range'],
    async run(t, { helper, at }) {
      const content = patternBytes('range', 4096);
      await put(helper, at('object'), content);

      t.deepEqual(await readBack(helper, at('object'), { offset: 4000, length: 1000 }), content.subarray(4000));
    },
  },
  {
    title: 'range read without length',
    contract: 'A range without length reads from the offset to the end.',
    needs: ['write', 'read_with_range'],
    async run(t, { helper, at }) {
      const content = patternBytes('range', 4096);
      await put(helper, at('object'), content);

      t.deepEqual(await readBack(helper, at('object'), { offset: 4090 }), content.subarray(4090));
    },
  },
  {
    title: 'range read of length zero',
    contract: 'A range of length 0 yields no bytes.',
    needs: ['write', 'read_with_range'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), patternBytes('range', 4096));

      t.is((await readBack(helper, at('object'), { offset: 10, length: 0 })).length, 0);
    },
  },
];

const OFFSET_WRITE_CASES: StorageCase[] = [
  {
    title: 'offset write overwrites middle',
    contract: 'With offset the bytes [offset, offset + written) are replaced and the rest is kept.',
    needs: ['write', 'write_at_offset', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('0123456789'));

      const result = await helper.write(at('object'), streamOf(Buffer.from('abc')), { offset: 4 });

      t.deepEqual(result, { written: 3, size: 10 });
      t.is((await readBack(helper, at('object'))).toString(), '0123abc789');
    },
  },
  {
    title: 'offset write past end zero-fills gap',
    contract: 'A gap past the end is filled with zero bytes.',
    needs: ['write', 'write_at_offset', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('head'));

      const result = await helper.write(at('object'), streamOf(Buffer.from('tail')), { offset: 10 });

      t.deepEqual(result, { written: 4, size: 14 });
      t.deepEqual(await readBack(helper, at('object')), Buffer.concat([Buffer.from('head'), Buffer.alloc(6), Buffer.from('tail')]));
    },
  },
  {
    title: 'offset write creates missing object',
    contract: 'An offset write creates a missing object, zero-filled before the offset.',
    needs: ['write_at_offset', 'read'],
    async run(t, { helper, at }) {
      await helper.write(at('new'), streamOf(Buffer.from('xy')), { offset: 3 });

      t.deepEqual(await readBack(helper, at('new')), Buffer.from([0, 0, 0, 0x78, 0x79]));
    },
  },
  {
    title: 'offset write appends at end',
    contract: 'An offset equal to the size appends.',
    needs: ['write', 'write_at_offset', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('abc'));

      await helper.write(at('object'), streamOf(Buffer.from('def')), { offset: 3, size: 3 });

      t.is((await readBack(helper, at('object'))).toString(), 'abcdef');
    },
  },
];

const WRITE_CONDITION_CASES: StorageCase[] = [
  {
    title: 'short stream fails size check',
    contract: 'A stream with fewer bytes than size fails with ConditionNotMatch, and nothing changes.',
    needs: ['write', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('previous'));

      await expectKind(t, helper.write(at('object'), streamOf(Buffer.from('abc')), { size: 4 }), 'ConditionNotMatch');

      t.is((await readBack(helper, at('object'))).toString(), 'previous');
    },
  },
  {
    title: 'long stream fails size check',
    contract: 'A stream with more bytes than size fails with ConditionNotMatch, and nothing changes.',
    needs: ['write', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('previous'));

      const data = new PatternStream('too-long', 3 * 1024 * 1024);
      await expectKind(t, helper.write(at('object'), data, { size: 1024 }), 'ConditionNotMatch');

      t.is((await readBack(helper, at('object'))).toString(), 'previous');
    },
  },
  {
    title: 'failed size check creates nothing',
    contract: 'A whole write that fails its size check does not create the object.',
    needs: ['write', 'stat'],
    async run(t, { helper, at }) {
      await expectKind(t, helper.write(at('never'), streamOf(Buffer.from('abc')), { size: 10 }), 'ConditionNotMatch');

      await expectKind(t, helper.stat(at('never')), 'NotFound');
    },
  },
  {
    title: 'failing stream keeps previous content',
    contract: 'The new content becomes visible only when the stream is consumed completely; a failed stream leaves the previous content.',
    needs: ['write', 'read'],
    async run(t, { helper, at }) {
      const previous = patternBytes('previous', 10_000);
      await put(helper, at('object'), previous);

      const data = failingStream([patternBytes('partial-1', 65_536), patternBytes('partial-2', 65_536)]);
      await t.throwsAsync(helper.write(at('object'), data));

      t.is(sha256(await readBack(helper, at('object'))), sha256(previous));
    },
  },
  {
    title: 'failing stream creates nothing',
    contract: 'A failed whole write of a new object leaves no object behind.',
    needs: ['write', 'stat'],
    async run(t, { helper, at }) {
      await t.throwsAsync(helper.write(at('never'), failingStream([Buffer.alloc(4096)])));

      await expectKind(t, helper.stat(at('never')), 'NotFound');
    },
  },
  {
    title: 'durable write is readable',
    contract: 'A durable write returns after the data is durable and reads back like any write.',
    needs: ['write', 'durable_write', 'read'],
    async run(t, { helper, at }) {
      const content = patternBytes('durable', 8192);

      await helper.write(at('object'), streamOf(content), { durable: true, size: content.length });

      t.is(sha256(await readBack(helper, at('object'))), sha256(content));
    },
  },
];

const STAT_CASES: StorageCase[] = [
  {
    title: 'stat reports file size and time',
    contract: 'stat returns the type, size in bytes and modification time of an object.',
    needs: ['write', 'stat'],
    async run(t, { helper, at }) {
      const before = Date.now();
      await put(helper, at('object'), Buffer.alloc(1234, 7));

      const stat = await helper.stat(at('object'));

      t.is(stat.type, 'file');
      t.is(stat.size, 1234);
      t.true(Number.isFinite(stat.mtimeMs));
      // File systems with coarse timestamps may round down by up to 2 s (FAT), so allow that much.
      t.true(stat.mtimeMs >= before - 2000, `mtimeMs ${stat.mtimeMs} is before the write at ${before}`);
    },
  },
  {
    title: 'stat of directory',
    contract: 'stat reports a directory as type directory with size 0.',
    needs: ['mkdir', 'stat', 'directories'],
    async run(t, { helper, at }) {
      await helper.mkdir(at('directory'));

      const stat = await helper.stat(at('directory'));

      t.is(stat.type, 'directory');
      t.is(stat.size, 0);
    },
  },
  {
    title: 'stat of missing path is NotFound',
    contract: 'stat throws NotFound when the entry does not exist.',
    needs: ['stat'],
    async run(t, { helper, at }) {
      await expectKind(t, helper.stat(at('missing')), 'NotFound');
    },
  },
];

const LIST_NAMES = ['b', 'B', 'a', '10', '9', 'é', 'z', '~tilde', 'a b', 'Z'];

const LIST_CASES: StorageCase[] = [
  {
    title: 'list returns byte order',
    contract: 'list returns the direct children in byte order of their names, each with its stat.',
    needs: ['write', 'list'],
    async run(t, { helper, at, dir }) {
      for (const name of LIST_NAMES) await put(helper, at(`listing/${name}`), Buffer.from(name));

      const page = await helper.list(`${dir}/listing`);

      const expected = [...LIST_NAMES].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      t.deepEqual(page.entries.map((entry) => entry.name), expected);
      t.true(page.isLast);
      for (const entry of page.entries) {
        t.is(entry.stat.type, 'file', entry.name);
        t.is(entry.stat.size, Buffer.byteLength(entry.name), entry.name);
      }
    },
  },
  {
    title: 'list resumes after a name',
    contract: 'startAfter resumes the listing after that name, which need not exist.',
    needs: ['write', 'list', 'list_with_start_after'],
    async run(t, { helper, at, dir }) {
      for (const name of ['a', 'b', 'c', 'd']) await put(helper, at(`listing/${name}`), Buffer.from(name));

      const afterB = await helper.list(`${dir}/listing`, { startAfter: 'b' });
      const afterBb = await helper.list(`${dir}/listing`, { startAfter: 'bb' });
      const afterLast = await helper.list(`${dir}/listing`, { startAfter: 'd' });

      t.deepEqual(afterB.entries.map((entry) => entry.name), ['c', 'd']);
      t.deepEqual(afterBb.entries.map((entry) => entry.name), ['c', 'd']);
      t.deepEqual(afterLast.entries, []);
      t.true(afterLast.isLast);
    },
  },
  {
    title: 'paging covers every entry once',
    contract: 'Pages of at most limit entries, each resumed after the last name, list every child exactly once.',
    needs: ['write', 'list', 'list_with_start_after'],
    async run(t, { helper, at, dir }) {
      const names = Array.from({ length: 23 }, (_, index) => `entry-${String(index).padStart(2, '0')}`);
      await Promise.all(names.map((name) => put(helper, at(`paging/${name}`), Buffer.from(name))));

      const seen: string[] = [];
      let startAfter: string | undefined;
      for (let pages = 0; pages < 50; pages++) {
        const page = await helper.list(`${dir}/paging`, { limit: 5, startAfter });
        t.true(page.entries.length <= 5, `page of ${page.entries.length} entries exceeds limit 5`);
        seen.push(...page.entries.map((entry) => entry.name));
        startAfter = page.entries.at(-1)?.name ?? startAfter;
        if (page.isLast) break;
      }

      t.deepEqual(seen, names);
    },
  },
  {
    title: 'list of empty directory',
    contract: 'Listing an empty directory returns no entries.',
    needs: ['mkdir', 'list'],
    async run(t, { helper, at }) {
      await helper.mkdir(at('empty'));

      const page = await helper.list(at('empty'));

      t.deepEqual(page.entries, []);
      t.true(page.isLast);
    },
  },
  {
    title: 'list of missing directory',
    contract: 'Listing a missing directory returns no entries; it does not throw.',
    needs: ['list'],
    async run(t, { helper, at }) {
      const page = await helper.list(at('missing'));

      t.deepEqual(page.entries, []);
      t.true(page.isLast);
    },
  },
  {
    title: 'list shows subdirectories',
    contract: 'list returns direct children only, with subdirectories typed directory.',
    needs: ['write', 'mkdir', 'list', 'directories'],
    async run(t, { helper, at, dir }) {
      await helper.mkdir(at('tree/sub'));
      await put(helper, at('tree/sub/inner'), Buffer.from('inner'));
      await put(helper, at('tree/file'), Buffer.from('file'));

      const page = await helper.list(`${dir}/tree`);

      t.deepEqual(page.entries.map((entry) => [entry.name, entry.stat.type]), [
        ['file', 'file'],
        ['sub', 'directory'],
      ]);
    },
  },
];

const DELETE_CASES: StorageCase[] = [
  {
    title: 'delete removes object',
    contract: 'delete removes an object.',
    needs: ['write', 'delete', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('x'));

      await helper.delete(at('object'));

      await expectKind(t, helper.read(at('object')), 'NotFound');
    },
  },
  {
    title: 'delete of missing object succeeds',
    contract: 'Removing a missing object is not an error.',
    needs: ['delete'],
    async run(t, { helper, at }) {
      await t.notThrowsAsync(helper.delete(at('missing')));
    },
  },
  {
    title: 'rmdir removes empty directory',
    contract: 'rmdir removes an empty directory.',
    needs: ['mkdir', 'delete', 'stat', 'directories'],
    async run(t, { helper, at }) {
      await helper.mkdir(at('directory'));

      await helper.rmdir(at('directory'));

      await expectKind(t, helper.stat(at('directory')), 'NotFound');
    },
  },
  {
    title: 'rmdir of non-empty directory',
    contract: 'rmdir throws NotEmpty for a directory with children, and keeps them.',
    needs: ['write', 'delete', 'read', 'directories'],
    async run(t, { helper, at }) {
      await put(helper, at('full/child'), Buffer.from('kept'));

      await expectKind(t, helper.rmdir(at('full')), 'NotEmpty');

      t.is((await readBack(helper, at('full/child'))).toString(), 'kept');
    },
  },
  {
    title: 'rmdir of missing directory succeeds',
    contract: 'A missing directory is not an error for rmdir.',
    needs: ['delete'],
    async run(t, { helper, at }) {
      await t.notThrowsAsync(helper.rmdir(at('missing')));
    },
  },
  {
    title: 'mkdir is idempotent',
    contract: 'mkdir creates missing parents, and an existing directory is not an error.',
    needs: ['mkdir', 'stat', 'directories'],
    async run(t, { helper, at }) {
      await helper.mkdir(at('x/y/z'));
      await helper.mkdir(at('x/y/z'));
      await helper.mkdir(at('x/y'));

      t.is((await helper.stat(at('x/y/z'))).type, 'directory');
      t.is((await helper.stat(at('x'))).type, 'directory');
    },
  },
];

const TRUNCATE_CASES: StorageCase[] = [
  {
    title: 'truncate shrinks object',
    contract: 'truncate cuts the object to the given size.',
    needs: ['write', 'truncate', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('0123456789'));

      await helper.truncate(at('object'), 4);

      t.is((await readBack(helper, at('object'))).toString(), '0123');
    },
  },
  {
    title: 'truncate extends with zeros',
    contract: 'truncate to a larger size zero-extends the object.',
    needs: ['write', 'truncate', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('ab'));

      await helper.truncate(at('object'), 5);

      t.deepEqual(await readBack(helper, at('object')), Buffer.from([0x61, 0x62, 0, 0, 0]));
    },
  },
  {
    title: 'truncate of missing object',
    contract: 'truncate throws NotFound when the object does not exist.',
    needs: ['truncate'],
    async run(t, { helper, at }) {
      await expectKind(t, helper.truncate(at('missing'), 0), 'NotFound');
    },
  },
];

const RENAME_COPY_CASES: StorageCase[] = [
  {
    title: 'rename moves object',
    contract: 'rename moves an object to the target path.',
    needs: ['write', 'rename', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('from'), Buffer.from('moved'));

      await helper.rename!(at('from'), at('sub/to'));

      t.is((await readBack(helper, at('sub/to'))).toString(), 'moved');
      await expectKind(t, helper.read(at('from')), 'NotFound');
    },
  },
  {
    title: 'rename replaces existing target',
    contract: 'rename replaces an existing target object.',
    needs: ['write', 'rename', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('from'), Buffer.from('new'));
      await put(helper, at('to'), Buffer.from('old content'));

      await helper.rename!(at('from'), at('to'));

      t.is((await readBack(helper, at('to'))).toString(), 'new');
    },
  },
  {
    title: 'rename of missing source',
    contract: 'rename throws NotFound when the source does not exist.',
    needs: ['rename'],
    async run(t, { helper, at }) {
      await expectKind(t, helper.rename!(at('missing'), at('to')), 'NotFound');
    },
  },
  {
    title: 'copy duplicates object',
    contract: 'copy creates the target with the source content and keeps the source.',
    needs: ['write', 'copy', 'read'],
    async run(t, { helper, at }) {
      const content = patternBytes('copy', 300_000);
      await put(helper, at('source'), content);

      await helper.copy!(at('source'), at('copies/target'));

      t.is(sha256(await readBack(helper, at('copies/target'))), sha256(content));
      t.is(sha256(await readBack(helper, at('source'))), sha256(content));
    },
  },
  {
    title: 'copy replaces existing target',
    contract: 'copy replaces an existing target object.',
    needs: ['write', 'copy', 'read'],
    async run(t, { helper, at }) {
      await put(helper, at('source'), Buffer.from('fresh'));
      await put(helper, at('target'), Buffer.from('stale and longer'));

      await helper.copy!(at('source'), at('target'));

      t.is((await readBack(helper, at('target'))).toString(), 'fresh');
    },
  },
];

const ATTRIBUTE_CASES: StorageCase[] = [
  {
    title: 'xattrs set, get, list, remove',
    contract: 'Extended attributes store binary values by name; listXattrs names them and removeXattr deletes one.',
    needs: ['write', 'xattrs'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('x'));
      const binary = Buffer.from([0, 1, 2, 255]);

      await helper.setXattr!(at('object'), 'conformance-binary', binary);
      await helper.setXattr!(at('object'), 'conformance-text', Buffer.from('value'));
      await helper.setXattr!(at('object'), 'conformance-text', Buffer.from('replaced'));

      t.deepEqual(await helper.getXattr!(at('object'), 'conformance-binary'), binary);
      t.is((await helper.getXattr!(at('object'), 'conformance-text'))?.toString(), 'replaced');
      t.deepEqual((await helper.listXattrs!(at('object'))).sort(), ['conformance-binary', 'conformance-text']);

      await helper.removeXattr!(at('object'), 'conformance-binary');

      t.deepEqual(await helper.listXattrs!(at('object')), ['conformance-text']);
      t.is(await helper.getXattr!(at('object'), 'conformance-binary'), undefined);
    },
  },
  {
    title: 'xattr absent returns undefined',
    contract: 'getXattr returns undefined when the attribute is absent.',
    needs: ['write', 'xattrs'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('x'));

      t.is(await helper.getXattr!(at('object'), 'conformance-absent'), undefined);
      t.deepEqual(await helper.listXattrs!(at('object')), []);
    },
  },
  {
    title: 'xattrs of missing object',
    contract: 'Extended attribute calls on a missing object throw NotFound.',
    needs: ['xattrs'],
    async run(t, { helper, at }) {
      await expectKind(t, helper.getXattr!(at('missing'), 'conformance-a'), 'NotFound');
      await expectKind(t, helper.setXattr!(at('missing'), 'conformance-a', Buffer.from('v')), 'NotFound');
    },
  },
  {
    title: 'chmod sets permission bits',
    contract: 'chmod changes the permission bits that stat reports.',
    needs: ['write', 'chmod', 'stat'],
    async run(t, { helper, at }) {
      await put(helper, at('object'), Buffer.from('x'));

      await helper.chmod!(at('object'), 0o640);
      const first = await helper.stat(at('object'));
      await helper.chmod!(at('object'), 0o604);
      const second = await helper.stat(at('object'));

      t.is((first.mode ?? -1) & 0o777, 0o640);
      t.is((second.mode ?? -1) & 0o777, 0o604);
    },
  },
  {
    title: 'chmod of missing object',
    contract: 'chmod throws NotFound when the entry does not exist.',
    needs: ['chmod'],
    async run(t, { helper, at }) {
      await expectKind(t, helper.chmod!(at('missing'), 0o600), 'NotFound');
    },
  },
];

/** Every case of the suite, in registration order. */
export const STORAGE_CASES: readonly StorageCase[] = [
  ...READ_WRITE_CASES,
  ...RANGE_CASES,
  ...OFFSET_WRITE_CASES,
  ...WRITE_CONDITION_CASES,
  ...STAT_CASES,
  ...LIST_CASES,
  ...DELETE_CASES,
  ...TRUNCATE_CASES,
  ...RENAME_COPY_CASES,
  ...ATTRIBUTE_CASES,
];

/**
 * Calls that need one capability each. When a helper declares the capability false, the
 * suite checks that the dispatcher rejects the call with Unsupported.
 */
export const UNSUPPORTED_CALLS: ReadonlyArray<[CapabilityName, (helper: StorageHelper, path: string) => Promise<unknown>]> = [
  ['stat', (helper, path) => helper.stat(path)],
  ['list', (helper, path) => helper.list(path)],
  ['list_with_start_after', (helper, path) => helper.list(path, { startAfter: 'a' })],
  ['read', (helper, path) => helper.read(path)],
  ['read_with_range', (helper, path) => helper.read(path, { offset: 1, length: 1 })],
  ['write', (helper, path) => helper.write(path, streamOf(Buffer.from('x')))],
  ['write_at_offset', (helper, path) => helper.write(path, streamOf(Buffer.from('x')), { offset: 1 })],
  ['durable_write', (helper, path) => helper.write(path, streamOf(Buffer.from('x')), { durable: true })],
  ['truncate', (helper, path) => helper.truncate(path, 0)],
  ['delete', (helper, path) => helper.delete(path)],
  ['mkdir', (helper, path) => helper.mkdir(path)],
  ['rename', (helper, path) => helper.rename!(path, `${path}-renamed`)],
  ['copy', (helper, path) => helper.copy!(path, `${path}-copy`)],
  ['xattrs', (helper, path) => helper.getXattr!(path, 'conformance-a')],
  ['chmod', (helper, path) => helper.chmod!(path, 0o600)],
];
