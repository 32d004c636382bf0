import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { systemClock, type Core } from '@op-worker/core';
import type { Logger } from 'pino';
import { identityDependencies } from './admin/identity.js';
import { spacePrivilegeCheck } from './rest/privileges.js';
import { createApp } from './app.js';
import { spaceCapabilitiesFrom } from './cdmi/capabilities.js';
import { joinClusterIfManaged } from './cluster-worker.js';
import type { WorkerConfig } from './config.js';
import { openCore } from './core.js';
import { ensureEmbeddedDefaults } from './embedded.js';
import { replyToMalformedRequests } from './http/client-error.js';
import type { ProviderInfo } from './provider.js';
import { runJobsWhenChosen } from './singleton-work.js';

/** The server package's version, shown by `/configuration`. */
export const WORKER_VERSION = '0.1.0';

export interface RunningWorker {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Set when the embedded defaults ran; a secret. */
  adminToken?: string;
  server: Server;
  core: Core;
  /** Stop accepting connections, end open ones, then close storages and the store. */
  close(): Promise<void>;
}

/** Start a worker: open the store, build the services, apply the embedded defaults, listen. */
export async function startWorker(config: WorkerConfig, logger: Logger): Promise<RunningWorker> {
  const core = await openCore(config, logger);
  try {
    const defaults = config.embeddedDefaults
      ? await ensureEmbeddedDefaults(core, config.dataDir, config.adminTokenTtl, logger)
      : undefined;

    const provider: ProviderInfo = {
      providerId: config.providerId,
      name: config.providerName,
      domain: config.domain ?? config.host,
      version: WORKER_VERSION,
    };
    const spaceCapabilities = spaceCapabilitiesFrom(core.spaces, core.storages);
    const admin = { storages: core.storages, spaces: core.spaces, importer: core.importer, rules: core.rules, identity: identityDependencies(core) };
    const app = createApp({ lfs: core.lfs, users: core.users, tokens: core.tokens, shares: core.shares, importer: core.importer, logger, provider, spaceCapabilities, admin, dataManagement: { transfers: core.transfers, qos: core.qos }, spacePrivileges: spacePrivilegeCheck(core.store, systemClock) });
    // Undefined unless op-cluster-manager forked this process.
    const clusterWorker = joinClusterIfManaged(logger);
    const server = createServer(clusterWorker?.wrap(app.callback()) ?? app.callback());
    replyToMalformedRequests(server, logger);
    await listen(server, config.port, config.host);
    // Alone, this worker runs transfers, QoS and rule jobs; under a manager, only while the leader chose it.
    const singletonWork = runJobsWhenChosen(core.jobs, clusterWorker, logger);

    const address = server.address() as AddressInfo;
    const url = `http://${formatHost(address.address)}:${address.port}`;
    logger.info({ url, dataDir: config.dataDir }, 'worker listening');

    const close = async (): Promise<void> => {
      await singletonWork.dispose();
      await closeWorker(server, core, logger);
    };
    await clusterWorker?.attach(server, url, close);
    return { url, adminToken: defaults?.adminToken, server, core, close };
  } catch (error) {
    await core.close();
    throw error;
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

async function closeWorker(server: Server, core: Core, logger: Logger): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // NOTE: requests still running are cut off rather than drained; a drain timeout comes with the cluster manager.
  server.closeAllConnections();
  await closed;
  await core.close();
  logger.info('worker stopped');
}

function formatHost(address: string): string {
  return address.includes(':') ? `[${address}]` : address;
}
