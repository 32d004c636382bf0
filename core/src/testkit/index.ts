export {};
export * from './metadata-suite.js';
export * from './storage-suite.js';
export { PatternStream, patternBytes, digestOf, sha256 } from './storage/streams.js';
