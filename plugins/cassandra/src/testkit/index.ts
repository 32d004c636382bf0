export { CassandraNode, freePort, testCluster, uniqueKeyspace } from './cassandra-node.js';
