import path from 'node:path';
import test from 'ava';
import { OpError } from '../src/errors.js';
import {
  assertValidName,
  baseName,
  normalizeLogicalPath,
  resolveInsideRoot,
  splitLogicalPath,
  storagePathParent,
  toStoragePath,
} from '../src/paths.js';

const ROOT = '/srv/storage/root';

/** Inputs a client may send that must never be interpreted as a path. */
const REJECTED_PATHS: Array<[string, string]> = [
  ['parent segment', '/space/../etc/passwd'],
  ['leading parent', '../outside'],
  ['trailing parent', 'a/b/..'],
  ['encoded dots and slash', '/space/%2e%2e%2fsecret'],
  ['upper-case encoded dots', '/space/%2E%2E/x'],
  ['encoded slash', '/space/a%2Fb'],
  ['encoded backslash', '/space/a%5cb'],
  ['encoded NUL', '/space/a%00b'],
  ['raw NUL', '/space/a\0b'],
  ['overlong name', `/space/${'n'.repeat(256)}`],
  ['overlong multibyte name', `/space/${'é'.repeat(128)}`],
  ['overlong path', `/${'d/'.repeat(2049)}`],
];

for (const [label, input] of REJECTED_PATHS) {
  test(`splitLogicalPath rejects ${label}`, (t) => {
    const error = t.throws(() => splitLogicalPath(input));
    t.true(OpError.is(error));
    t.is((error as OpError).kind, 'badValue');
  });

  test(`resolveInsideRoot rejects ${label}`, (t) => {
    const error = t.throws(() => resolveInsideRoot(ROOT, input.replace(/^\/+/, '')));
    t.is((error as OpError).kind, 'badValue');
  });
}

test('splitLogicalPath drops empty and dot segments', (t) => {
  t.deepEqual(splitLogicalPath('//space/./a//b/'), ['space', 'a', 'b']);
  t.deepEqual(splitLogicalPath('/'), []);
  t.deepEqual(splitLogicalPath(''), []);
});

test('splitLogicalPath keeps unusual valid names', (t) => {
  const names = ['with space', 'zażółć', '100%', 'a#b', '...', '.hidden', 'x%41y', '日本語'];
  t.deepEqual(splitLogicalPath(`/${names.join('/')}`), names);
});

test('names of exactly 255 bytes are valid', (t) => {
  t.is(assertValidName('n'.repeat(255)), 'n'.repeat(255));
  t.is(assertValidName('é'.repeat(127) + 'x'), 'é'.repeat(127) + 'x');
});

test('assertValidName rejects bad names', (t) => {
  for (const name of ['', '.', '..', 'a/b', 'a\0b', 'n'.repeat(256)]) {
    const error = t.throws(() => assertValidName(name), undefined, JSON.stringify(name));
    t.is((error as OpError).kind, 'badValue');
    t.is((error as OpError).details.key, 'name');
  }
});

test('resolveInsideRoot stays inside the root', (t) => {
  const inputs = ['', 'a', 'a/b/c', 'a/./b', '.../x', '..a/b', 'a..', 'with space/日本'];
  for (const input of inputs) {
    const resolved = resolveInsideRoot(ROOT, input);
    t.true(resolved === ROOT || resolved.startsWith(ROOT + path.sep), input);
  }
  t.is(resolveInsideRoot(ROOT, ''), ROOT);
  t.is(resolveInsideRoot(ROOT, 'a/b'), `${ROOT}/a/b`);
});

test('resolveInsideRoot normalises a relative root', (t) => {
  t.is(resolveInsideRoot('relative/root/', 'x'), path.resolve('relative/root', 'x'));
});

test('resolveInsideRoot does not treat a sibling prefix as inside', (t) => {
  const resolved = resolveInsideRoot('/srv/data', 'x');
  t.false(resolved.startsWith('/srv/data-other'));
  t.is(resolved, '/srv/data/x');
});

test('normalizeLogicalPath returns slash form', (t) => {
  t.is(normalizeLogicalPath('space//a/./b/'), '/space/a/b');
  t.is(normalizeLogicalPath('///'), '/');
});

test('toStoragePath validates every segment', (t) => {
  t.is(toStoragePath(['a', 'b']), 'a/b');
  t.is(toStoragePath([]), '');
  t.throws(() => toStoragePath(['a', '..']));
  t.throws(() => toStoragePath(['a/b']));
});

test('storagePathParent and baseName', (t) => {
  t.is(storagePathParent('a/b/c'), 'a/b');
  t.is(storagePathParent('a'), '');
  t.is(baseName('/space/dir/file.txt'), 'file.txt');
  t.is(baseName('/space/dir/'), 'dir');
});
