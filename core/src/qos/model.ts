import type { QosExpressionTree } from './expression.js';

/** Collections and index partitions of QoS records. */
export const QOS_COLLECTIONS = {
  requirement: 'qos_requirement',
  /** Keyed by file uuid: the requirements added on that file itself (not inherited). */
  file: 'qos_file',
  auditEntry: 'qos_audit_entry',
} as const;

export function spaceRequirementsParent(spaceId: string): string {
  return `qos:${spaceId}`;
}

export function auditParent(qosRequirementId: string): string {
  return `qos_audit:${qosRequirementId}`;
}

export type QosStatus = 'fulfilled' | 'pending' | 'impossible';

/** A QoS requirement on a file or directory; it applies to everything below a directory. */
export interface QosRequirementDoc {
  qosRequirementId: string;
  spaceId: string;
  fileUuid: string;
  fileId: string;
  /** Infix form of the parsed expression. */
  expression: string;
  tree: QosExpressionTree;
  replicasNum: number;
  /** Storages chosen to hold the replicas; empty while fewer storages match than `replicasNum`. */
  assignedStorages: string[];
  possible: boolean;
  /** Provider that holds the requirement record; kept for federation. */
  providerId: string;
  /** Job that replicates the existing files onto the assigned storages. */
  traverseJobId: string | null;
  createdMs: number;
}

export interface QosFileDoc {
  requirementIds: string[];
}

/** One audit log entry: what happened to one file for one requirement. */
export interface QosAuditEntry {
  index: string;
  /** Milliseconds since the epoch. */
  timestamp: number;
  content: {
    fileId: string;
    status: 'scheduled' | 'completed' | 'failed' | 'skipped';
    severity: 'info' | 'error';
    description: string;
    reason?: string;
  };
}
