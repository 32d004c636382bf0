import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { identityDependencies } from '../../src/admin/identity.js';
import { createApp } from '../../src/app.js';
import { startTestWorker, type TestWorker } from '../helpers.js';

/** Path prefix of the admin API's provider routes. */
export const PANEL = '/api/v3/onepanel/provider';

/** A test worker, and the same worker's store behind a second app that also serves the admin API. */
export interface AdminContext {
  worker: TestWorker;
  admin: TestWorker;
  server: Server;
}

/** Start a test worker and an app with the admin API on its store, listening on a free port. */
export async function startAdminWorker(): Promise<AdminContext> {
  const worker = await startTestWorker();
  const { core } = worker;
  const app = createApp({
    lfs: core.lfs, users: core.users, tokens: core.tokens, logger: pino({ level: 'silent' }),
    provider: { providerId: 'test-provider', name: 'test', domain: '127.0.0.1', version: '0.1.0' },
    admin: { storages: core.storages, spaces: core.spaces, importer: core.importer, identity: identityDependencies(core) },
  });
  const server = createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { worker, server, admin: { ...worker, port: (server.address() as AddressInfo).port } };
}

/** Close the admin app's connections and the worker. */
export async function stopAdminWorker(context: AdminContext): Promise<void> {
  context.server.closeAllConnections();
  await new Promise<void>((resolve) => context.server.close(() => resolve()));
  await context.worker.close();
}
