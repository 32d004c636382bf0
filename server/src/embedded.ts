import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OpError, type Core, type SpaceInfo, type UserRecord } from '@op-worker/core';
import type { Logger } from 'pino';

/** Names of what the embedded default creates. */
export const DEFAULT_ADMIN_NAME = 'admin';
export const DEFAULT_STORAGE_NAME = 'default';
export const DEFAULT_SPACE_NAME = 'default';
export const ADMIN_TOKEN_FILE = 'admin-token';
export const STORAGE_FOLDER = 'storage';

/** A stored admin token is replaced when it expires within this many seconds. */
const TOKEN_RENEW_MARGIN_SECONDS = 24 * 3600;

export interface EmbeddedDefaults {
  admin: UserRecord;
  space: SpaceInfo;
  /** The admin token, also in `<dataDir>/admin-token` (mode 0600); a secret. */
  adminToken: string;
}

/**
 * Make sure the data folder has an admin user, a POSIX storage in `<dataDir>/storage`,
 * a space `default` supported by it, and a valid admin token. Each step reuses what a
 * previous start created, so a restart changes nothing but an expiring token.
 */
export async function ensureEmbeddedDefaults(core: Core, dataDir: string, tokenTtl: number, logger: Logger): Promise<EmbeddedDefaults> {
  const admin = (await core.users.findByName(DEFAULT_ADMIN_NAME)) ?? (await core.users.create({ name: DEFAULT_ADMIN_NAME, isAdmin: true }));
  const storageId = await ensureStorage(core, path.join(dataDir, STORAGE_FOLDER));
  const space = await ensureSpace(core, admin.id, storageId);
  const adminToken = await ensureAdminToken(core, path.join(dataDir, ADMIN_TOKEN_FILE), admin.id, tokenTtl);

  logger.info({ adminUserId: admin.id, spaceId: space.spaceId, storageId }, 'embedded defaults ready');
  return { admin, space, adminToken };
}

async function ensureStorage(core: Core, mountPoint: string): Promise<string> {
  const existing = (await core.storages.list()).find((storage) => storage.name === DEFAULT_STORAGE_NAME);
  if (existing !== undefined) return existing.storageId;

  await mkdir(mountPoint, { recursive: true, mode: 0o700 });
  const storage = await core.storages.add({ name: DEFAULT_STORAGE_NAME, type: 'posix', config: { mountPoint } });
  return storage.storageId;
}

async function ensureSpace(core: Core, ownerUserId: string, storageId: string): Promise<SpaceInfo> {
  const space = (await core.spaces.findByName(DEFAULT_SPACE_NAME)) ?? (await core.spaces.create({ name: DEFAULT_SPACE_NAME, ownerUserId }));
  if (space.storageIds.includes(storageId)) return space;
  return core.spaces.support({ spaceId: space.spaceId, storageId });
}

/** Reuse the token in `file` while it verifies and lives long enough; otherwise issue and store a new one. */
async function ensureAdminToken(core: Core, file: string, adminId: string, ttlSeconds: number): Promise<string> {
  const stored = await readStoredToken(file);
  if (stored !== undefined) {
    try {
      const claims = await core.tokens.verify(stored);
      const remaining = claims.expiresAt - Date.now() / 1000;
      if (claims.userId === adminId && remaining > TOKEN_RENEW_MARGIN_SECONDS) return stored;
    } catch (error) {
      if (!(OpError.is(error) && error.kind === 'unauthorized')) throw error;
    }
  }

  const issued = await core.tokens.create(adminId, { ttlSeconds });
  await writeFile(file, `${issued.token}\n`, { mode: 0o600 });
  await chmod(file, 0o600);
  return issued.token;
}

async function readStoredToken(file: string): Promise<string | undefined> {
  try {
    const text = (await readFile(file, 'utf8')).trim();
    return text === '' ? undefined : text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}
