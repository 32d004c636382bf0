import { OpError } from '@op-worker/core';
import { errors, types } from 'cassandra-driver';

/** Location of a driver error (operation, cluster, keyspace), for the message and the error details. */
export interface ErrorContext {
  operation: string;
  contactPoints: readonly string[];
  keyspace: string;
}

/**
 * Server response codes that mean the cluster could not serve the request now (too few
 * replicas alive, a timeout, overload, a node still starting), so a later retry may
 * succeed. A timeout of a conditional write leaves its outcome unknown.
 */
const UNAVAILABLE_RESPONSE_CODES: ReadonlyMap<number, string> = new Map([
  [types.responseErrorCodes.unavailableException, 'too few replicas are alive'],
  [types.responseErrorCodes.overloaded, 'the coordinator is overloaded'],
  [types.responseErrorCodes.isBootstrapping, 'the node is still bootstrapping'],
  [types.responseErrorCodes.writeTimeout, 'the write timed out on the replicas, so it may or may not have been applied'],
  [types.responseErrorCodes.readTimeout, 'the read timed out on the replicas'],
  [types.responseErrorCodes.writeFailure, 'replicas failed the write'],
  [types.responseErrorCodes.readFailure, 'replicas failed the read'],
]);

/**
 * Maps a cassandra-driver failure to `OpError`. This is the only place that looks at
 * driver error types. No reachable host, client-side timeouts, busy connections and the
 * server's availability codes become the retryable `unavailable`, and everything else
 * becomes `internal`. An `OpError` passes through unchanged.
 */
export function toOpError(error: unknown, context: ErrorContext): OpError {
  if (OpError.is(error)) {
    return error;
  }

  const where = `Cassandra at ${context.contactPoints.join(', ')} (keyspace ${context.keyspace})`;
  const details = { operation: context.operation, contactPoints: [...context.contactPoints], keyspace: context.keyspace };

  if (error instanceof errors.NoHostAvailableError) {
    return new OpError(
      'unavailable',
      `${where} is unavailable during ${context.operation}: no host could be reached. Check that the nodes run and the contact points are right.`,
      { ...details, reason: 'noHostAvailable' },
      error,
    );
  }
  if (error instanceof errors.OperationTimedOutError) {
    return new OpError(
      'unavailable',
      `${where} did not answer ${context.operation} in time; the outcome is unknown. Retry later.`,
      { ...details, reason: 'clientTimeout' },
      error,
    );
  }
  if (error instanceof errors.BusyConnectionError) {
    return new OpError(
      'unavailable',
      `${where} has too many requests in flight during ${context.operation}. Retry later.`,
      { ...details, reason: 'busyConnection' },
      error,
    );
  }
  if (error instanceof errors.ResponseError) {
    const reason = UNAVAILABLE_RESPONSE_CODES.get(error.code);
    if (reason !== undefined) {
      return new OpError(
        'unavailable',
        `${where} could not serve ${context.operation}: ${reason}. Retry later.`,
        { ...details, reason: 'serverUnavailable', code: error.code },
        error,
      );
    }
  }

  const message = error instanceof Error ? error.message : String(error);
  return new OpError('internal', `${where} failed during ${context.operation}: ${message}`, details, error);
}
