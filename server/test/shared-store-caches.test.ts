import 'reflect-metadata';
import { setTimeout as sleep } from 'node:timers/promises';
import anyTest, { type TestFn } from 'ava';
import { DOCUMENT_CACHE_MS, SpaceMembership, systemClock, type Identity } from '@op-worker/core';
import { API, send } from './helpers.js';
import { startCountingWorker, type CountingWorker } from './support/request-cost.js';

/**
 * Two workers on one SQLite store, each with its own store object and so its own
 * caches, as two worker processes have. A change of membership or privileges takes
 * effect at once on the worker that made it, and on the other within
 * `DOCUMENT_CACHE_MS`.
 */

interface Context {
  first: CountingWorker;
  second: CountingWorker;
  fileId: string;
  memberId: string;
  memberToken: string;
}

const test = anyTest.serial as TestFn<Context>;

test.beforeEach(async (t) => {
  const first = await startCountingWorker();
  const second = await startCountingWorker(first.root);
  const admin: Identity = { userId: first.admin.id, isAdmin: true };
  const file = await first.core.lfs.create(admin, first.space.dirId, 'shared.txt', { type: 'REG', mode: 0o664 });
  const written = await send(first, `${API}/data/${file.fileId}/content`, { method: 'PUT', body: 'shared bytes' });
  if (written.status !== 204) throw new Error(`writing the file failed: ${written.status} ${written.text}`);

  const member = await first.core.users.create({ name: 'cache-member' });
  await new SpaceMembership(first.core.store, systemClock).setMember(first.space.spaceId, { userId: member.id });
  const memberToken = (await first.core.tokens.create(member.id, { ttlSeconds: 600 })).token;
  t.context = { first, second, fileId: file.fileId, memberId: member.id, memberToken };
});

test.afterEach.always(async (t) => {
  await t.context.second?.close();
  await t.context.first?.close();
});

test('removed member is refused on both workers', async (t) => {
  const { first, second, fileId, memberId, memberToken } = t.context;
  const contentPath = `${API}/data/${fileId}/content`;
  t.is((await send(first, contentPath, { token: memberToken })).status, 200);
  t.is((await send(second, contentPath, { token: memberToken })).status, 200);

  await new SpaceMembership(first.core.store, systemClock).removeMember(first.space.spaceId, { userId: memberId });
  t.is((await send(first, contentPath, { token: memberToken })).status, 403, 'the worker that removed the member refuses at once');

  await sleep(DOCUMENT_CACHE_MS + 100);
  const later = await send(second, contentPath, { token: memberToken });
  t.is(later.status, 403, later.text);
});

test('removed read privilege is refused on both workers', async (t) => {
  const { first, second, fileId, memberId, memberToken } = t.context;
  const contentPath = `${API}/data/${fileId}/content`;
  t.is((await send(second, contentPath, { token: memberToken })).status, 200);

  await new SpaceMembership(first.core.store, systemClock).setPrivileges(first.space.spaceId, { userId: memberId }, ['space_view']);
  const here = await send(first, contentPath, { token: memberToken });
  t.is(here.status, 403, here.text);
  t.regex(here.json.error.description, /space_read_data/);

  await sleep(DOCUMENT_CACHE_MS + 100);
  const there = await send(second, contentPath, { token: memberToken });
  t.is(there.status, 403, there.text);
  t.regex(there.json.error.description, /space_read_data/);
});

test('granted privilege shows at once where granted', async (t) => {
  const { first, fileId, memberId, memberToken } = t.context;
  const membership = new SpaceMembership(first.core.store, systemClock);
  await membership.setPrivileges(first.space.spaceId, { userId: memberId }, ['space_view']);
  t.is((await send(first, `${API}/data/${fileId}/content`, { token: memberToken })).status, 403);

  await membership.setPrivileges(first.space.spaceId, { userId: memberId }, ['space_view', 'space_read_data']);
  const response = await send(first, `${API}/data/${fileId}/content`, { token: memberToken });
  t.is(response.status, 200, response.text);
  t.is(response.text, 'shared bytes');
});

test('revoked token is refused on both workers', async (t) => {
  const { first, second, fileId, memberToken } = t.context;
  const contentPath = `${API}/data/${fileId}/content`;
  t.is((await send(second, contentPath, { token: memberToken })).status, 200);

  const claims = await first.core.tokens.verify(memberToken);
  await first.core.tokens.revoke(claims.tokenId);
  t.is((await send(first, contentPath, { token: memberToken })).status, 401);

  await sleep(DOCUMENT_CACHE_MS + 100);
  t.is((await send(second, contentPath, { token: memberToken })).status, 401);
});
