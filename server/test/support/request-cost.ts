import { AsyncLocalStorage, createHook } from 'node:async_hooks';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { bootstrapCore, SqliteMetadataStore, systemClock, type MetadataStore } from '@op-worker/core';
import { posixPlugin } from '@op-worker/plugin-posix';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { METADATA_FILE } from '../../src/core.js';
import { ensureEmbeddedDefaults } from '../../src/embedded.js';
import { spacePrivilegeCheck } from '../../src/rest/privileges.js';
import type { TestWorker } from '../helpers.js';

/**
 * Work done for one HTTP request, counted rather than timed, so the figures do not
 * depend on the load of the machine. It has the metadata store calls by method and
 * collection, and the file system requests that Node sends to its thread pool (each is
 * one round trip).
 */
export interface RequestCost {
  /** `<method> <collection>`, e.g. `get space`; children index calls count under `children`. */
  store: Record<string, number>;
  /** By the Node function that issued the request, e.g. `open`, `read`, `close`. */
  fs: Record<string, number>;
}

export function storeTotal(cost: RequestCost): number {
  return Object.values(cost.store).reduce((sum, count) => sum + count, 0);
}

export function fsTotal(cost: RequestCost): number {
  return Object.values(cost.fs).reduce((sum, count) => sum + count, 0);
}

/** The cost of the request whose handler runs in this asynchronous context, if it is being counted. */
const current = new AsyncLocalStorage<RequestCost>();

/** Store methods whose first argument is a collection name. */
const COLLECTION_METHODS = new Set(['get', 'getMany', 'create', 'update', 'put', 'delete', 'scan']);
const CHILDREN_METHODS = new Set(['addChild', 'getChild', 'removeChild', 'listChildren']);

/** Wrap a store so that every call made while a counted request runs is added to that request's cost. */
export function countingStore(inner: MetadataStore): MetadataStore {
  return new Proxy(inner, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      return (...args: unknown[]) => {
        const cost = current.getStore();
        if (cost !== undefined) {
          const key = `${property} ${collectionOf(property, args)}`;
          cost.store[key] = (cost.store[key] ?? 0) + 1;
        }
        return (value as (...callArgs: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function collectionOf(method: string, args: unknown[]): string {
  if (COLLECTION_METHODS.has(method)) return String(args[0]);
  if (CHILDREN_METHODS.has(method)) return 'children';
  if (method.endsWith('Change') || method.endsWith('Changes') || method === 'lastChangeSeq') return 'changes';
  return 'lease';
}

/** Async resource types of libuv file system requests (promise, callback and file-handle close). */
const FS_RESOURCE_TYPES = new Set(['FSREQPROMISE', 'FSREQCALLBACK', 'FILEHANDLECLOSEREQ']);

/** Counts thread-pool file system requests of counted requests; the stack names the Node function. */
const fsHook = createHook({
  init(_asyncId, type) {
    if (!FS_RESOURCE_TYPES.has(type)) return;
    const cost = current.getStore();
    if (cost === undefined) return;
    const name = type === 'FILEHANDLECLOSEREQ' ? 'close' : fsFunctionName(new Error().stack ?? '');
    cost.fs[name] = (cost.fs[name] ?? 0) + 1;
  },
});

/** Name of the outermost `node:internal/fs` frame of a stack, which is the public function called. */
function fsFunctionName(stack: string): string {
  const frames = stack.split('\n').filter((line) => line.includes('node:internal/fs/'));
  const outer = frames.at(-1);
  const match = outer === undefined ? null : /at (?:async )?(?:\S+\.)?(\w+) \(/.exec(outer);
  return match?.[1] ?? 'unknown';
}

/** A test worker (see `startTestWorker`) whose store calls and fs requests are counted per request. */
export interface CountingWorker extends TestWorker {
  /** Cost of the last request that finished. */
  lastCost(): RequestCost;
}

/**
 * Start a worker on SQLite and POSIX storage in a temporary folder, like `startTestWorker`,
 * with the store wrapped by `countingStore` and every HTTP request counted. With
 * `sharedRoot` (the `root` of another counting worker) it opens that worker's store and
 * storage with a store object of its own, as a second worker process would, and leaves
 * the folder in place when it closes.
 */
export async function startCountingWorker(sharedRoot?: string): Promise<CountingWorker> {
  const root = sharedRoot ?? (await mkdtemp(path.join(tmpdir(), 'op-cost-')));
  const dataDir = path.join(root, 'data');
  const logger = pino({ level: 'silent' });

  const store = countingStore(new SqliteMetadataStore({ path: path.join(root, METADATA_FILE), logger }));
  await store.open();
  const core = bootstrapCore({ store, plugins: [posixPlugin], logger, providerId: 'test-provider' });
  const defaults = await ensureEmbeddedDefaults(core, dataDir, 3600, logger);
  const app = createApp({
    lfs: core.lfs,
    users: core.users,
    tokens: core.tokens,
    shares: core.shares,
    spacePrivileges: spacePrivilegeCheck(core.store, systemClock),
    importer: core.importer,
    logger,
    provider: { providerId: 'test-provider', name: 'test', domain: '127.0.0.1', version: '0.1.0' },
  });

  let last: RequestCost = { store: {}, fs: {} };
  const handle = app.callback();
  const server = createServer((request, response) => {
    const cost: RequestCost = { store: {}, fs: {} };
    response.once('finish', () => {
      last = cost;
    });
    current.run(cost, () => void handle(request, response));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fsHook.enable();

  return {
    root,
    dataDir,
    core,
    server,
    port: (server.address() as AddressInfo).port,
    admin: defaults.admin,
    space: defaults.space,
    token: defaults.adminToken,
    lastCost: () => last,
    async close() {
      fsHook.disable();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await core.close();
      if (sharedRoot === undefined) await rm(root, { recursive: true, force: true });
    },
  };
}
