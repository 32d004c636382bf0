import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { SpaceInfo } from '@op-worker/core';
import { startAzure, startS3, startSftp, type StorageServer } from './storages.js';
import { cliJson, REST, send, startWorkerProcess, type WorkerProcess } from './worker.js';

export type StorageType = 'posix' | 's3' | 'sftp' | 'azure';
export const STORAGE_TYPES: StorageType[] = ['posix', 's3', 'sftp', 'azure'];

/** A running worker with one space on each storage type; `stop` ends every process and removes the data. */
export interface ProviderOnEveryStorage {
  worker: WorkerProcess;
  dataDir: string;
  spaceOf(type: StorageType): SpaceInfo;
  stop(): Promise<void>;
}

/**
 * Start moto, sshd, Azurite and the real `op-worker` binary. The embedded default space
 * is the POSIX one; each remote storage is added with `op-worker storage add` and
 * supports a space named `<spacePrefix>-<type>`.
 */
export async function startProviderOnEveryStorage(spacePrefix: string): Promise<ProviderOnEveryStorage> {
  const root = await mkdtemp(path.join(tmpdir(), `op-it-${spacePrefix}-`));
  const dataDir = path.join(root, 'data');
  const servers: StorageServer[] = [];
  const spaces = new Map<StorageType, SpaceInfo>();
  let worker: WorkerProcess | undefined;

  const stop = async (): Promise<void> => {
    await worker?.stop();
    await Promise.all(servers.map((server) => server.stop()));
    await rm(root, { recursive: true, force: true });
  };

  try {
    servers.push(...(await Promise.all([startS3(), startSftp(), startAzure()])));
    worker = await startWorkerProcess(dataDir);
    spaces.set('posix', await defaultSpace(worker));

    for (const server of servers) {
      const options = await server.newStorage(`${spacePrefix}-${server.type}`);
      const spaceName = `${spacePrefix}-${server.type}`;
      await cliJson(dataDir, 'storage', 'add', '--name', server.type, '--type', server.type, '--config', JSON.stringify(options));
      await cliJson(dataDir, 'space', 'create', spaceName, '--owner', 'admin');
      spaces.set(server.type, await cliJson<SpaceInfo>(dataDir, 'space', 'support', spaceName, '--storage', server.type));
    }
  } catch (error) {
    await stop();
    throw error;
  }

  const started = worker;
  return {
    worker: started,
    dataDir,
    spaceOf(type) {
      const space = spaces.get(type);
      if (space === undefined) throw new Error(`no space was set up for storage type ${type}`);
      return space;
    },
    stop,
  };
}

/** The embedded default space, which lives on the POSIX storage in the data folder. */
async function defaultSpace(worker: WorkerProcess): Promise<SpaceInfo> {
  const listed = (await send(worker, `${REST}/spaces`)).json() as Array<{ spaceId: string; name: string }>;
  const found = listed.find((space) => space.name === 'default');
  if (found === undefined) throw new Error('the worker created no default space');
  return (await send(worker, `${REST}/spaces/${found.spaceId}`)).json() as SpaceInfo;
}
