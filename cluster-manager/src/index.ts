export { ClusterManager, DEFAULT_LEASE_TTL_MS, type ManagerOptions, type StatusReport } from './manager.js';
export { Membership, LEADER_LEASE, NODES_COLLECTION, ASSIGNMENTS_COLLECTION, type MembershipOptions, type MembershipView, type NodeRecord, type SingletonAssignment } from './membership.js';
export { Supervisor, DEFAULT_TIMINGS, WorkerStartError, type SupervisorOptions, type SupervisorTimings, type WorkerState, type WorkerStatus, type WorkerExit } from './supervisor.js';
export { RestartPolicy, DEFAULT_RESTART_POLICY, type RestartPolicyOptions, type RestartDecision } from './restart-policy.js';
export { runEnvironment, TOKENS_FILE } from './environment.js';
export { checkAgainstStore, DescriptionError, readDescription, type EnvironmentDescription } from './description.js';
