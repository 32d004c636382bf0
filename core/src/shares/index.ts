export * from './model.js';
export * from './scope.js';
export * from './share-service.js';
