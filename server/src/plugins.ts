import type { StoragePluginManifest } from '@op-worker/core';

/**
 * Import storage plugin packages by name and collect the manifests they export. A
 * package may export any number of manifests (named exports or `default`); an
 * export counts as one when it has `type`, `configSchema` and `create`.
 */
export async function loadPlugins(packageNames: readonly string[]): Promise<StoragePluginManifest[]> {
  const manifests: StoragePluginManifest[] = [];
  for (const packageName of packageNames) {
    let exported: Record<string, unknown>;
    try {
      exported = (await import(packageName)) as Record<string, unknown>;
    } catch (error) {
      throw new Error(`cannot load storage plugin "${packageName}": ${(error as Error).message}; install it or remove it from the "plugins" option`, {
        cause: error,
      });
    }

    const found = Object.values(exported).filter(isManifest);
    if (found.length === 0) throw new Error(`package "${packageName}" exports no storage plugin manifest`);
    for (const manifest of found) {
      if (!manifests.some((known) => known.type === manifest.type)) manifests.push(manifest);
    }
  }
  return manifests;
}

function isManifest(value: unknown): value is StoragePluginManifest {
  if (typeof value !== 'object' || value === null) return false;
  const candidate = value as Partial<StoragePluginManifest>;
  return typeof candidate.type === 'string' && typeof candidate.configSchema === 'object' && typeof candidate.create === 'function';
}
