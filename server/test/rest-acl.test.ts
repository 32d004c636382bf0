import 'reflect-metadata';
import { GroupService, systemClock } from '@op-worker/core';
import anyTest, { type TestFn } from 'ava';
import { API, createFile, send, startTestWorker, type TestWorker } from './helpers.js';
import { sendChecked } from './spec-reference.js';

/** The REST `acl` and `activePermissionsType` attributes of files with and without an ACL set through CDMI. */

interface Context {
  worker: TestWorker;
  aclFileId: string;
  plainFileId: string;
  groupId: string;
}

const test = anyTest as TestFn<Context>;
const CO = { 'X-CDMI-Specification-Version': '1.1.1', 'Content-Type': 'application/cdmi-object' };

test.before(async (t) => {
  const worker = await startTestWorker();
  const aclFileId = await createFile(worker, 'with-acl.txt', 'guarded');
  const plainFileId = await createFile(worker, 'plain.txt', 'open');
  const groupId = (await new GroupService(worker.core.store, systemClock).create('acl-readers')).id;

  const acl = [
    { acetype: 'ALLOW', identifier: `${worker.admin.name}#${worker.admin.id}`, aceflags: 'NO_FLAGS', acemask: 'READ_OBJECT, WRITE_OBJECT, WRITE_ACL' },
    { acetype: '0x1', identifier: groupId, aceflags: 'IDENTIFIER_GROUP', acemask: '0x2' },
    { acetype: 'ALLOW', identifier: 'EVERYONE@', aceflags: '0x0', acemask: 'READ_ALL' },
  ];
  const response = await send(worker, `/cdmi/${worker.space.name}/with-acl.txt?metadata:cdmi_acl`, {
    method: 'PUT', headers: CO, body: JSON.stringify({ metadata: { cdmi_acl: acl } }),
  });
  if (response.status !== 204) throw new Error(`setting the ACL failed: ${response.status} ${response.text}`);
  t.context = { worker, aclFileId, plainFileId, groupId };
});

test.after.always(async (t) => {
  await t.context.worker.close();
});

const EXPECTED_ACL = (context: Context) => [
  { aceType: 'ALLOW', identifier: context.worker.admin.id, aceFlags: 0, aceMask: 0x1 | 0x2 | 0x40000 },
  { aceType: 'DENY', identifier: context.groupId, aceFlags: 0x40, aceMask: 0x2 },
  { aceType: 'ALLOW', identifier: 'EVERYONE@', aceFlags: 0, aceMask: 0x1 | 0x8 | 0x80 | 0x20000 },
];

test('acl attribute of a file', async (t) => {
  const { worker, aclFileId } = t.context;
  const response = await sendChecked(worker, `${API}/data/${aclFileId}?attributes=acl,activePermissionsType`);
  t.is(response.status, 200, response.text);
  t.deepEqual(response.json.acl, EXPECTED_ACL(t.context));
  t.is(response.json.activePermissionsType, 'acl');
});

test('file without ACL shows posix', async (t) => {
  const { worker, plainFileId } = t.context;
  const response = await sendChecked(worker, `${API}/data/${plainFileId}?attributes=acl,activePermissionsType`);
  t.is(response.status, 200, response.text);
  t.deepEqual(response.json.acl, []);
  t.is(response.json.activePermissionsType, 'posix');
});

test('listing shows each ACL', async (t) => {
  const { worker } = t.context;
  const response = await sendChecked(worker, `${API}/data/${worker.space.dirId}/children?attributes=name,acl,activePermissionsType`);
  t.is(response.status, 200, response.text);
  const byName = new Map((response.json.children as Array<{ name: string; acl: unknown; activePermissionsType: string }>).map((child) => [child.name, child]));
  t.deepEqual(byName.get('with-acl.txt')?.acl, EXPECTED_ACL(t.context));
  t.is(byName.get('with-acl.txt')?.activePermissionsType, 'acl');
  t.deepEqual(byName.get('plain.txt')?.acl, []);
  t.is(byName.get('plain.txt')?.activePermissionsType, 'posix');
});

test('default attributes report ACL mode', async (t) => {
  const { worker, aclFileId } = t.context;
  const response = await sendChecked(worker, `${API}/data/${aclFileId}`);
  t.is(response.status, 200, response.text);
  t.is(response.json.activePermissionsType, 'acl');
  t.is(response.json.acl, undefined, 'acl is not among the default attributes');
});

test('CDMI and REST show one ACL', async (t) => {
  const { worker } = t.context;
  const response = await send(worker, `/cdmi/${worker.space.name}/with-acl.txt?metadata:cdmi_acl`, {
    headers: { 'X-CDMI-Specification-Version': '1.1.1' },
  });
  t.is(response.status, 200, response.text);
  const cdmi = response.json.metadata.cdmi_acl as Array<{ acetype: string; identifier: string; aceflags: string; acemask: string }>;
  const rest = EXPECTED_ACL(t.context);
  t.is(cdmi.length, rest.length);
  for (const [index, entry] of cdmi.entries()) {
    t.is(Number.parseInt(entry.acemask, 16), rest[index]!.aceMask);
    t.is(Number.parseInt(entry.aceflags, 16), rest[index]!.aceFlags);
    t.true(entry.identifier.endsWith(rest[index]!.identifier));
  }
});
