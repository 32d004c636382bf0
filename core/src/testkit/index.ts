export {};
export * from './metadata-suite.js';
