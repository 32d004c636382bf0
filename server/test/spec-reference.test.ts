import anyTest, { type TestFn } from 'ava';
import { SPEC_CORRECTIONS, specViolations, type ObservedResponse } from './spec-reference.js';

const test = anyTest as TestFn;
const API = '/api/v3/oneprovider';
const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' };

function observed(method: string, path: string, status: number, body: unknown): ObservedResponse {
  return { method, path, status, headers: JSON_HEADERS, text: JSON.stringify(body) };
}

test('conforming attributes pass', (t) => {
  const body = { fileId: 'AB', name: 'a', type: 'REG', size: 3, parentFileId: null, 'xattr.k': null };
  t.deepEqual(specViolations(observed('GET', `${API}/data/0000/`.slice(0, -1), 200, body)), []);
});

test('ill-typed attribute is reported', (t) => {
  const violations = specViolations(observed('GET', `${API}/data/0000`, 200, { size: 'three' }));
  t.is(violations.length, 1);
  t.regex(violations[0]!, /\/size/);
});

test('spec error shape is rejected', (t) => {
  const violations = specViolations(observed('GET', `${API}/data/0000`, 400, { error: 'badValue', error_description: 'x' }));
  t.true(violations.length > 0);
  t.deepEqual(specViolations(observed('GET', `${API}/data/0000`, 400, { error: { id: 'badValue', description: 'x' } })), []);
});

test('undocumented status is reported', (t) => {
  t.regex(specViolations(observed('GET', `${API}/data/0000`, 202, {}))[0] ?? '', /not documented/);
  t.deepEqual(specViolations(observed('GET', `${API}/data/0000`, 401, { error: { id: 'unauthorized', description: 'x' } })), []);
});

test('literal path wins over parameter', (t) => {
  // `/data/register` answers 201 with {fileId}; `/data/{id}` has no POST at all.
  t.deepEqual(specViolations(observed('POST', `${API}/data/register`, 201, { fileId: 'AB' })), []);
});

test('operation outside the spec is reported', (t) => {
  t.regex(specViolations(observed('POST', `${API}/data/0000/rename`, 200, {}))[0] ?? '', /no such operation/);
});

test('change stream lines are validated', (t) => {
  const good = { method: 'POST', path: `${API}/changes/metadata/s1`, status: 200, headers: JSON_HEADERS, text: '{"seq":1,"fileId":"A","filePath":"/s/a"}\n{"seq":2,"fileId":"B","filePath":"/s/b"}\n' };
  t.deepEqual(specViolations(good), []);
  t.true(specViolations({ ...good, text: '{"seq":"one","fileId":"A","filePath":"/s/a"}\n' }).length > 0);
});

test('every correction has a reason', (t) => {
  for (const correction of SPEC_CORRECTIONS) t.true(correction.reason.length > 20);
});
