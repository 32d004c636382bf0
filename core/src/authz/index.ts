export * from './access.js';
export * from './acl.js';
export * from './privileges.js';
export * from './membership.js';
export * from './authorizer.js';
export * from './identity-removal.js';
export * from './acl-principals.js';
