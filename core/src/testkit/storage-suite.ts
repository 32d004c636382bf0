import { randomBytes } from 'node:crypto';
import type { TestFn } from 'ava';
import { pino } from 'pino';
import { StorageError } from '../errors.js';
import { createDispatchedHelper } from '../storage/dispatcher.js';
import type { StorageHelper } from '../storage/helper.js';
import { expectKind, STORAGE_CASES, UNSUPPORTED_CALLS, type CaseContext } from './storage/cases.js';

export interface StorageSuiteOptions {
  /** Name of the helper under test; it prefixes every test title. */
  name: string;
  /**
   * Create the helper under test and a function that releases what it needs (a temporary
   * directory, a bucket). Called once per test file.
   */
  create(): Promise<{ helper: StorageHelper; cleanup(): Promise<void> }>;
}

/** Bound on listing rounds while removing a test tree, so a broken helper cannot loop forever. */
const MAX_CLEANUP_PAGES = 1000;

/**
 * Register the storage helper conformance suite with ava. Await it at the top level of
 * the test file, before declaring other tests, because it creates the helper first and
 * picks the cases from the capabilities the helper declares:
 *
 *   await registerStorageHelperSuite(test, { name: 'posix', create: async () => ... });
 *
 * The helper is wrapped with the core dispatcher, as in production. Each case works in
 * its own directory below a random root (`conformance-<hex>`), so runs against a shared
 * storage never collide, and the root is removed after the last case. A case whose
 * capability is false is not registered; instead one case per false capability checks
 * that the dispatcher rejects the call with Unsupported.
 */
export async function registerStorageHelperSuite(test: TestFn, options: StorageSuiteOptions): Promise<void> {
  const created = await options.create();
  const root = `conformance-${randomBytes(6).toString('hex')}`;
  const helper = createDispatchedHelper(created.helper, {
    storageId: `conformance-${options.name}`,
    type: options.name,
    logger: pino({ level: process.env.STORAGE_SUITE_LOG_LEVEL ?? 'silent' }),
    backoff: { initialDelayMs: 10, maxDelayMs: 200 },
  });
  const capabilities = helper.capabilities;

  STORAGE_CASES.forEach((storageCase, index) => {
    if (!storageCase.needs.every((capability) => capabilities[capability])) return;

    const dir = `${root}/case-${String(index).padStart(2, '0')}`;
    const context: CaseContext = { helper, dir, at: (name) => `${dir}/${name}` };
    test(`${options.name}: ${storageCase.title}`, async (t) => {
      t.log(`contract: ${storageCase.contract}`);
      await storageCase.run(t, context);
    });
  });

  for (const [capability, call] of UNSUPPORTED_CALLS) {
    if (capabilities[capability]) continue;

    test(`${options.name}: ${capability} false rejects the call`, async (t) => {
      t.log(`contract: a call that needs ${capability} fails with Unsupported and never reaches the plugin`);
      const error = await expectKind(t, call(helper, `${root}/unsupported`), 'Unsupported');
      t.is(error?.context.capability, capability);
    });
  }

  test.after.always(`${options.name}: remove the conformance root`, async () => {
    try {
      await removeTree(helper, root);
    } finally {
      await helper.close();
      await created.cleanup();
    }
  });
}

/** Remove `path` and everything below it, using only the helper's own operations. */
async function removeTree(helper: StorageHelper, path: string): Promise<void> {
  const { capabilities } = helper;
  if (!capabilities.list || !capabilities.delete) return;

  for (let pages = 0; pages < MAX_CLEANUP_PAGES; pages++) {
    const page = await helper.list(path, { limit: 1000 });
    if (page.entries.length === 0) break;

    for (const entry of page.entries) {
      const child = `${path}/${entry.name}`;
      if (entry.stat.type === 'directory') await removeTree(helper, child);
      else await helper.delete(child);
    }
  }

  try {
    await helper.rmdir(path);
  } catch (error) {
    // Object stores without directories have nothing to remove once the children are gone.
    if (!StorageError.is(error) || error.kind !== 'NotFound') throw error;
  }
}
