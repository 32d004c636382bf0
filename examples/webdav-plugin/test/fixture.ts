import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { parseStorageConfig, type StorageConfig } from '@op-worker/core';
import { webdavConfigSchema, webdavPlugin, type WebdavHelper } from '../src/index.js';
import { WebdavServer } from './webdav-server.js';

/** Where the tests find their WebDAV server: one they started, or one named by the environment. */
export interface WebdavTarget {
  /** Base URL serving the /open/, /basic/ and /bearer/ trees of `scripts/servers/webdav.sh`. */
  url: string;
  /** Set when this process started the server; undefined for an external one. */
  server?: WebdavServer;
  dispose(): Promise<void>;
}

/**
 * Start httpd for a test file, or use the server that `OP_TEST_WEBDAV_URL` names (one
 * started by `scripts/servers/webdav.sh run`, e.g. http://127.0.0.1:8091).
 */
export async function webdavTarget(): Promise<WebdavTarget> {
  const external = process.env.OP_TEST_WEBDAV_URL;
  if (external) return { url: external.replace(/\/+$/, ''), dispose: async () => undefined };

  const server = await WebdavServer.launch();
  return { url: server.url, server, dispose: () => server.dispose() };
}

/** A helper built the way the worker builds one: options parsed against the schema first. */
export async function createHelper(raw: Record<string, unknown>): Promise<WebdavHelper> {
  const config: StorageConfig = parseStorageConfig(webdavConfigSchema, raw);
  const logger = pino({ level: process.env.WEBDAV_TEST_LOG_LEVEL ?? 'silent' });
  return (await webdavPlugin.create(config, { storageId: 'webdav-test', logger })) as WebdavHelper;
}

/**
 * Create a fresh collection below the unauthenticated tree and return its endpoint URL
 * and a function removing it.
 */
export async function makeRoot(target: WebdavTarget, label: string): Promise<{ endpoint: string; remove(): Promise<void> }> {
  const name = `${label}-${randomBytes(5).toString('hex')}`;
  const top = await createHelper({ endpoint: `${target.url}/open/` });
  try {
    await top.mkdir(name);
  } finally {
    await top.close();
  }

  return {
    endpoint: `${target.url}/open/${name}/`,
    async remove() {
      const helper = await createHelper({ endpoint: `${target.url}/open/` });
      try {
        await removeTree(helper, name);
      } finally {
        await helper.close();
      }
    },
  };
}

async function removeTree(helper: WebdavHelper, path: string): Promise<void> {
  const page = await helper.list(path);
  for (const entry of page.entries) {
    if (entry.stat.type === 'directory') await removeTree(helper, `${path}/${entry.name}`);
    else await helper.delete(`${path}/${entry.name}`);
  }
  await helper.rmdir(path);
}
