import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { uniqueKeyspace } from '@op-worker/metadata-cassandra/testkit';
import { API, send, startWorkerProcess, type WorkerProcess } from './worker-process.js';

/**
 * Helpers for tests that run the `op-worker` binary on a Cassandra metadata store. Each
 * test file starts its own node (or uses `OP_TEST_CASSANDRA_CONTACT_POINTS`) and a
 * keyspace of its own, so files never see each other's data.
 */

/** Client-side request timeout of the workers, in milliseconds: short, so outage requests fail quickly. */
const REQUEST_TIMEOUT_MS = 5000;

/** Environment that selects the Cassandra store for a worker process. */
export function cassandraEnv(contactPoints: readonly string[], keyspace: string): Record<string, string> {
  return {
    OP_WORKER_METADATA_STORE: 'cassandra',
    OP_WORKER_CASSANDRA_CONTACT_POINTS: contactPoints.join(','),
    OP_WORKER_CASSANDRA_KEYSPACE: keyspace,
    OP_WORKER_CASSANDRA_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS),
  };
}

export interface CassandraWorkers {
  workers: WorkerProcess[];
  keyspace: string;
  /** The `default` space's directory id, the same for every worker. */
  spaceDirId: string;
  /** Stop the workers by PID and remove their data folders. */
  close(): Promise<void>;
}

/**
 * Start `count` worker processes, one after another, on one keyspace. The first one
 * creates the schema and the embedded defaults. The others reuse them, so they share
 * the first one's `default` POSIX storage on this host.
 */
export async function startCassandraWorkers(contactPoints: readonly string[], label: string, count: number): Promise<CassandraWorkers> {
  const root = await mkdtemp(path.join(tmpdir(), `op-cassandra-${label}-`));
  const keyspace = uniqueKeyspace(label);
  const env = cassandraEnv(contactPoints, keyspace);
  const workers: WorkerProcess[] = [];

  const close = async (): Promise<void> => {
    await Promise.all(workers.map((worker) => worker.kill()));
    await rm(root, { recursive: true, force: true });
  };

  try {
    for (let index = 0; index < count; index++) {
      workers.push(await startWorkerProcess(path.join(root, `worker-${index}`), env));
    }
    return { workers, keyspace, spaceDirId: await defaultSpaceDirId(workers[0]!), close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function defaultSpaceDirId(worker: WorkerProcess): Promise<string> {
  const spaces = await send(worker, `${API}/spaces`);
  const space = (spaces.json as Array<{ spaceId: string; name: string }> | undefined)?.find((entry) => entry.name === 'default');
  if (space === undefined) throw new Error(`no default space: ${spaces.status} ${spaces.text}`);

  const details = await send(worker, `${API}/spaces/${space.spaceId}`);
  return details.json.dirId as string;
}
