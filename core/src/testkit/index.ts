export {};
export * from './metadata-suite.js';
export * from './storage-suite.js';
export { PatternStream, patternBytes, digestOf, sha256, streamOf, collect } from './storage/streams.js';
