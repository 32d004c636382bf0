import { CassandraNode } from '@op-worker/metadata-cassandra/testkit';
import test from 'ava';
import { startCassandraWorkers, type CassandraWorkers } from './support/cassandra-workers.js';
import { API, send, type HttpResponse, type WorkerProcess } from './support/worker-process.js';

/**
 * Restarting Cassandra under a running worker: requests during the outage fail with 503
 * and a message that names the cluster, and the same worker process serves again once
 * the node is back. The node is stopped with SIGTERM, as an operator's restart does.
 * SIGKILL would act as a crash. The test node syncs its commit log periodically, so a
 * single node loses the writes acknowledged in the last sync period, and the check that
 * data written before the outage survives would fail for that reason.
 * This file always starts a node of its own, even when `OP_TEST_CASSANDRA_CONTACT_POINTS`
 * names a cluster, because it stops the node.
 */

/** Bound on waiting for the worker to serve again after the node restarts, in milliseconds. */
const RECOVERY_LIMIT_MS = 120_000;

let node: CassandraNode | undefined;
let cluster: CassandraWorkers | undefined;

test.before(async () => {
  node = await CassandraNode.start();
  cluster = await startCassandraWorkers([node.contactPoint], 'outage', 1);
});

test.after.always(async () => {
  await cluster?.close();
  await node?.destroy();
});

function assertUnavailable(t: import('ava').ExecutionContext, response: HttpResponse, label: string): void {
  t.is(response.status, 503, `${label}: ${response.text}`);
  t.is(response.json?.error?.id, 'serviceUnavailable', label);
  const description = String(response.json?.error?.description);
  t.true(description.includes(node!.contactPoint), `${label}: ${description}`);
  t.true(description.includes('unavailable'), `${label}: ${description}`);
}

/** Repeat `request` every half second until it returns `status`, for at most RECOVERY_LIMIT_MS. */
async function eventually(request: () => Promise<HttpResponse>, status: number): Promise<HttpResponse> {
  const deadline = Date.now() + RECOVERY_LIMIT_MS;
  for (;;) {
    const response = await request();
    if (response.status === status || Date.now() > deadline) return response;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

test('worker survives a Cassandra restart', async (t) => {
  const worker: WorkerProcess = cluster!.workers[0]!;
  const dirId = cluster!.spaceDirId;

  const before = await send(worker, `${API}/data/${dirId}/children?name=before.txt`, { method: 'POST', body: 'written before the outage' });
  t.is(before.status, 201, before.text);
  const fileId = before.json.fileId as string;

  await node!.stop('SIGTERM');

  assertUnavailable(t, await send(worker, `${API}/data/${fileId}/content`), 'read during outage');
  assertUnavailable(t, await send(worker, `${API}/data/${dirId}/children?name=during.txt`, { method: 'POST', body: 'x' }), 'create during outage');
  assertUnavailable(t, await send(worker, `${API}/data/${dirId}/children`), 'list during outage');
  assertUnavailable(t, await send(worker, '/cdmi/default/before.txt', { headers: { 'X-CDMI-Specification-Version': '1.1.1' } }), 'CDMI read during outage');
  t.is(worker.child.exitCode, null, 'the worker keeps running during the outage');

  const restartMs = await node!.start();
  const stoppedAt = Date.now();
  const recovered = await eventually(() => send(worker, `${API}/data/${fileId}/content`), 200);
  t.log(`node restarted in ${restartMs} ms; the worker served again ${Date.now() - stoppedAt} ms after the node's port opened`);
  t.is(recovered.status, 200, recovered.text);
  t.is(recovered.text, 'written before the outage');

  const after = await send(worker, `${API}/data/${dirId}/children?name=after.txt`, { method: 'POST', body: 'written after the outage' });
  t.is(after.status, 201, after.text);
  const listing = await send(worker, `${API}/data/${dirId}/children?attributes=name`);
  const names = listing.json.children.map((child: { name: string }) => child.name);
  t.true(names.includes('before.txt') && names.includes('after.txt'), names.join(','));
  t.false(names.includes('during.txt'), 'the create that failed with 503 left no entry');
  t.is(worker.child.exitCode, null, 'the same worker process served before and after');
});
