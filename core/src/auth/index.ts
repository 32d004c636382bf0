export * from './users.js';
export * from './tokens.js';
export * from './groups.js';
export * from './caveats.js';
export { SIGNING_KEY_RING_NAME, LEGACY_KEY_ID, KEY_RING_CACHE_MS, type SigningKeyInfo } from './signing-keys.js';
