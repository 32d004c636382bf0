import 'reflect-metadata';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { SpaceMembership, systemClock, type Identity } from '@op-worker/core';
import { API, send, type RequestOptions } from './helpers.js';
import { fsTotal, startCountingWorker, storeTotal, type CountingWorker, type RequestCost } from './support/request-cost.js';

/**
 * Work per request on the hot paths of small files: metadata store calls and thread-pool
 * file system requests, counted rather than timed. The file has 4 KiB, lies one directory
 * below the space root, and is read and written by the space owner (an administrator) and
 * by a member. Each case has a ceiling at the count it reached, so a change that adds
 * work fails here, and a change that saves work should lower the ceiling.
 */

interface Context {
  worker: CountingWorker;
  fileId: string;
  memberToken: string;
}

const test = anyTest.serial as TestFn<Context>;
const CDMI = { 'X-CDMI-Specification-Version': '1.1.1' };
const CONTENT = Buffer.alloc(4096, 0x61);

test.before(async (t) => {
  const worker = await startCountingWorker();
  const admin: Identity = { userId: worker.admin.id, isAdmin: true };
  const dir = await worker.core.lfs.create(admin, worker.space.dirId, 'costs', { type: 'DIR', mode: 0o775 });
  const file = await worker.core.lfs.create(admin, dir.fileId, 'file-4k', { type: 'REG', mode: 0o664 });
  const written = await send(worker, `${API}/data/${file.fileId}/content`, { method: 'PUT', body: CONTENT });
  if (written.status !== 204) throw new Error(`writing the file failed: ${written.status} ${written.text}`);

  const member = await worker.core.users.create({ name: 'cost-member' });
  await new SpaceMembership(worker.core.store, systemClock).setMember(worker.space.spaceId, { userId: member.id });
  const memberToken = (await worker.core.tokens.create(member.id, { ttlSeconds: 600 })).token;
  t.context = { worker, fileId: file.fileId, memberToken };
});

test.after.always(async (t) => {
  await t.context.worker?.close();
});

/**
 * Send a request once to fill the per-worker caches, then three more, and return the
 * cheapest of those three. Caches live about a second, so on a slow machine one request
 * may find them expired. The cheapest of three is the steady-state cost.
 */
async function costOf(t: ExecutionContext<Context>, requestPath: string, options: RequestOptions, status: number): Promise<RequestCost> {
  const { worker } = t.context;
  const costs: RequestCost[] = [];
  for (let round = 0; round < 4; round += 1) {
    const response = await send(worker, requestPath, options);
    t.is(response.status, status, response.text);
    if (round > 0) costs.push(worker.lastCost());
  }
  return costs.reduce((best, cost) => (storeTotal(cost) + fsTotal(cost) < storeTotal(best) + fsTotal(best) ? cost : best));
}

function describeCost(cost: RequestCost): string {
  const list = (counts: Record<string, number>): string =>
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, count]) => `${key}: ${count}`)
      .join(', ');
  return `store ${storeTotal(cost)} (${list(cost.store)}); fs ${fsTotal(cost)} (${list(cost.fs)})`;
}

interface Case {
  title: string;
  request: (context: Context) => { path: string; options: RequestOptions; status: number };
  /** Most store calls and fs requests allowed per request. */
  ceiling: { store: number; fs: number };
}

const CASES: Case[] = [
  {
    title: 'content GET by admin',
    request: ({ fileId }) => ({ path: `${API}/data/${fileId}/content`, options: {}, status: 200 }),
    ceiling: { store: 4, fs: 3 },
  },
  {
    title: 'content GET by member',
    request: ({ fileId, memberToken }) => ({ path: `${API}/data/${fileId}/content`, options: { token: memberToken }, status: 200 }),
    ceiling: { store: 6, fs: 3 },
  },
  {
    title: 'attributes GET by admin',
    request: ({ fileId }) => ({ path: `${API}/data/${fileId}`, options: {}, status: 200 }),
    ceiling: { store: 4, fs: 0 },
  },
  {
    title: 'attributes GET by member',
    request: ({ fileId, memberToken }) => ({ path: `${API}/data/${fileId}`, options: { token: memberToken }, status: 200 }),
    ceiling: { store: 5, fs: 0 },
  },
  {
    title: 'CDMI GET by admin',
    request: ({ fileId }) => ({ path: `/cdmi/cdmi_objectid/${fileId}`, options: { headers: CDMI }, status: 200 }),
    ceiling: { store: 17, fs: 3 },
  },
  {
    title: 'CDMI GET by member',
    request: ({ fileId, memberToken }) => ({ path: `/cdmi/cdmi_objectid/${fileId}`, options: { headers: CDMI, token: memberToken }, status: 200 }),
    ceiling: { store: 32, fs: 3 },
  },
  {
    title: 'content PUT by admin',
    request: ({ fileId }) => ({ path: `${API}/data/${fileId}/content`, options: { method: 'PUT', body: CONTENT }, status: 204 }),
    ceiling: { store: 10, fs: 11 },
  },
  {
    title: 'content PUT by member',
    request: ({ fileId, memberToken }) => ({ path: `${API}/data/${fileId}/content`, options: { method: 'PUT', body: CONTENT, token: memberToken }, status: 204 }),
    ceiling: { store: 12, fs: 11 },
  },
];

for (const testCase of CASES) {
  test(`cost of ${testCase.title}`, async (t) => {
    const { path: requestPath, options, status } = testCase.request(t.context);
    const cost = await costOf(t, requestPath, options, status);
    t.log(describeCost(cost));
    t.true(storeTotal(cost) <= testCase.ceiling.store, `store calls: ${describeCost(cost)}; at most ${testCase.ceiling.store} expected`);
    t.true(fsTotal(cost) <= testCase.ceiling.fs, `fs requests: ${describeCost(cost)}; at most ${testCase.ceiling.fs} expected`);
  });
}
