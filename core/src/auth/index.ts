export * from './users.js';
export * from './tokens.js';
