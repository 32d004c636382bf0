import 'reflect-metadata';
import anyTest, { type ExecutionContext, type TestFn } from 'ava';
import { API, startTestWorker, type TestWorker } from './helpers.js';
import { sendChecked as send } from './spec-reference.js';

/** `GET /data/{id}/dir_size_stats` in its layout and slice modes, with totals walked on request. */

const test = anyTest as TestFn<TestWorker>;

test.before(async (t) => {
  t.context = await startTestWorker();
});

test.after.always(async (t) => {
  await t.context.close();
});

type T = ExecutionContext<TestWorker>;

const JSON_TYPE = { 'Content-Type': 'application/json' };

async function mkdir(t: T, parentId: string, name: string): Promise<string> {
  const response = await send(t.context, `${API}/data/${parentId}/children?name=${encodeURIComponent(name)}&type=DIR`, { method: 'POST' });
  t.is(response.status, 201, response.text);
  return response.json.fileId as string;
}

async function upload(t: T, parentId: string, name: string, content: string): Promise<string> {
  const response = await send(t.context, `${API}/data/${parentId}/children?name=${encodeURIComponent(name)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: content,
  });
  t.is(response.status, 201, response.text);
  return response.json.fileId as string;
}

function stats(t: T, dirId: string, query: unknown) {
  return send(t.context, `${API}/data/${dirId}/dir_size_stats`, { headers: JSON_TYPE, body: JSON.stringify(query) });
}

/** Create a directory with files of 5 and 7 bytes (one in a subdirectory) and a symlink. */
async function makeTree(t: T, name: string): Promise<string> {
  const dirId = await mkdir(t, t.context.space.dirId, name);
  const subId = await mkdir(t, dirId, 'sub');
  await upload(t, dirId, 'five', '12345');
  await upload(t, subId, 'seven', '1234567');
  const link = await send(t.context, `${API}/data/${dirId}/children?name=link&type=SYMLNK&target_file_path=five`, { method: 'POST' });
  t.is(link.status, 201, link.text);
  return dirId;
}

test('layout lists series and metrics', async (t) => {
  const dirId = await makeTree(t, 'layout');
  const storageId = t.context.space.storageIds[0]!;
  const metrics = ['day', 'hour', 'minute', 'month'];

  for (const query of [{ mode: 'layout' }, undefined]) {
    const response = query === undefined ? await send(t.context, `${API}/data/${dirId}/dir_size_stats`) : await stats(t, dirId, query);
    t.is(response.status, 200, response.text);
    t.deepEqual(Object.keys(response.json.layout).sort(), [
      'dir_count', 'dir_errors_count', 'file_errors_count', 'reg_file_and_link_count', `storage_use_${storageId}`, 'total_size',
    ]);
    for (const series of Object.values(response.json.layout)) t.deepEqual(series, metrics);
  }
});

test('slice gives current totals', async (t) => {
  const dirId = await makeTree(t, 'slice');
  const storageId = t.context.space.storageIds[0]!;
  const layout = {
    total_size: ['minute', 'month'],
    reg_file_and_link_count: ['hour'],
    dir_count: ['day'],
    file_errors_count: ['minute'],
    dir_errors_count: ['minute'],
    [`storage_use_${storageId}`]: ['minute'],
  };

  const response = await stats(t, dirId, { mode: 'slice', layout, extendedInfo: true });
  t.is(response.status, 200, response.text);
  const result = response.json.slice;
  t.is(result.total_size.minute[0].value, 12);
  t.is(result.total_size.month[0].value, 12);
  t.is(result.reg_file_and_link_count.hour[0].value, 3);
  t.is(result.dir_count.day[0].value, 1);
  t.is(result.file_errors_count.minute[0].value, 0);
  t.is(result.dir_errors_count.minute[0].value, 0);
  t.is(result[`storage_use_${storageId}`].minute[0].value, 12);

  const window = result.total_size.minute[0];
  t.is(window.timestamp % 60, 0);
  t.true(window.lastMeasurementTimestamp >= window.timestamp);
  t.true(window.lastMeasurementTimestamp < window.timestamp + 60);
  t.is(result.reg_file_and_link_count.hour[0].timestamp % 3600, 0);
});

test('totals follow changes', async (t) => {
  const dirId = await makeTree(t, 'changes');
  const query = { mode: 'slice', layout: { total_size: ['minute'], reg_file_and_link_count: ['minute'] } };
  t.is((await stats(t, dirId, query)).json.slice.total_size.minute[0].value, 12);

  const added = await upload(t, dirId, 'more', '123');
  const grown = (await stats(t, dirId, query)).json.slice;
  t.is(grown.total_size.minute[0].value, 15);
  t.is(grown.reg_file_and_link_count.minute[0].value, 4);
  t.is('firstMeasurementTimestamp' in grown.total_size.minute[0], false);

  t.is((await send(t.context, `${API}/data/${added}`, { method: 'DELETE' })).status, 204);
  t.is((await stats(t, dirId, query)).json.slice.total_size.minute[0].value, 12);
});

test('time bounds and limit select the window', async (t) => {
  const dirId = await makeTree(t, 'bounds');
  const layout = { total_size: ['minute'] };
  const now = Math.floor(Date.now() / 1000);

  const older = await stats(t, dirId, { mode: 'slice', layout, startTimestamp: now - 3600 });
  t.deepEqual(older.json.slice.total_size.minute, []);
  const none = await stats(t, dirId, { mode: 'slice', layout, windowLimit: 0 });
  t.deepEqual(none.json.slice.total_size.minute, []);
  const spanning = await stats(t, dirId, { mode: 'slice', layout, startTimestamp: String(now + 3600), stopTimestamp: now - 3600, windowLimit: '31' });
  t.is(spanning.json.slice.total_size.minute.length, 1);
});

test('bad queries are 400', async (t) => {
  const dirId = await makeTree(t, 'bad');
  const fileId = await upload(t, dirId, 'plain', 'x');
  const cases: Array<[unknown, string]> = [
    [{ mode: 'slice' }, 'missing layout'],
    [{ mode: 'slice', layout: { no_such_series: ['minute'] } }, 'unknown series'],
    [{ mode: 'slice', layout: { total_size: ['week'] } }, 'unknown metric'],
    [{ mode: 'other' }, 'unknown mode'],
    [{ layout: {} }, 'missing mode'],
    [{ mode: 'layout', extra: 1 }, 'unknown field'],
  ];
  for (const [query, label] of cases) {
    const response = await stats(t, dirId, query);
    t.is(response.status, 400, label);
    t.truthy(response.json.error.id, label);
  }

  const onFile = await stats(t, fileId, { mode: 'layout' });
  t.is(onFile.status, 400);
  t.is(onFile.json.error.details.errno, 'enotdir');
});
