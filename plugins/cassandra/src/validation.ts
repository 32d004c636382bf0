import { OpError } from '@op-worker/core';

export function serializeValue(value: unknown, what: string): string {
  const json = JSON.stringify(value);
  if (json === undefined) {
    throw OpError.badValue('value', `${what} has a value that JSON cannot represent`);
  }
  return json;
}

export function checkLimit(limit: number, operation: string): number {
  if (!Number.isSafeInteger(limit) || limit < 1) {
    throw OpError.badValue('limit', `${operation} needs a limit that is a positive integer, got ${limit}`, { limit });
  }
  return limit;
}

export function checkTtl(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) {
    throw OpError.badValue('ttlMs', `lease ttlMs must be a positive integer of milliseconds, got ${ttlMs}`, { ttlMs });
  }
}

export function checkVersion(version: number, key: string): void {
  if (!Number.isSafeInteger(version) || version < 1) {
    throw OpError.badValue(key, `${key} must be a positive integer, got ${version}`, { [key]: version });
  }
}
