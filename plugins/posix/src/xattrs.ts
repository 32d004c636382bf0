import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { errnoCode } from './errors.js';
import { OPEN_READ } from './root.js';

type XattrModule = typeof import('fs-xattr');

/**
 * The native `fs-xattr` module, or undefined when it did not build or load. Its calls
 * take a path and follow symbolic links, so this helper passes them the
 * `/proc/self/fd/<fd>` path of a file it opened with O_NOFOLLOW. Without `/proc`
 * (outside Linux) extended attributes are unsupported.
 */
const xattrModule: XattrModule | undefined = existsSync('/proc/self/fd')
  ? await import('fs-xattr').catch(() => undefined)
  : undefined;

/** Whether extended attributes work in this process. */
export const xattrsAvailable = xattrModule !== undefined;

/**
 * Namespace of every attribute this helper stores. Callers name attributes without it,
 * and listings show only this namespace with the prefix removed.
 */
const NAMESPACE = 'user.';

const MISSING_ATTRIBUTE_CODES = new Set(['ENODATA', 'ENOATTR']);

export async function getXattr(absolute: string, name: string): Promise<Buffer | undefined> {
  return withOpenedFile(absolute, async (xattr, target) => {
    try {
      return await xattr.getAttribute(target, NAMESPACE + name);
    } catch (error) {
      if (MISSING_ATTRIBUTE_CODES.has(errnoCode(error) ?? '')) return undefined;
      throw error;
    }
  });
}

export async function setXattr(absolute: string, name: string, value: Buffer): Promise<void> {
  await withOpenedFile(absolute, (xattr, target) => xattr.setAttribute(target, NAMESPACE + name, value));
}

/** Remove an attribute; removing a missing attribute is not an error. */
export async function removeXattr(absolute: string, name: string): Promise<void> {
  await withOpenedFile(absolute, async (xattr, target) => {
    try {
      await xattr.removeAttribute(target, NAMESPACE + name);
    } catch (error) {
      if (!MISSING_ATTRIBUTE_CODES.has(errnoCode(error) ?? '')) throw error;
    }
  });
}

export async function listXattrs(absolute: string): Promise<string[]> {
  return withOpenedFile(absolute, async (xattr, target) => {
    const names = await xattr.listAttributes(target);
    return names.filter((name) => name.startsWith(NAMESPACE)).map((name) => name.slice(NAMESPACE.length));
  });
}

async function withOpenedFile<T>(absolute: string, call: (xattr: XattrModule, target: string) => Promise<T>): Promise<T> {
  if (xattrModule === undefined) throw new Error('fs-xattr is not loaded; the xattrs capability is false');

  const handle = await open(absolute, OPEN_READ);
  try {
    return await call(xattrModule, `/proc/self/fd/${handle.fd}`);
  } finally {
    await handle.close();
  }
}
