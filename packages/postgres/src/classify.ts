/**
 * How a driver error (pg or PGlite) is treated: retryable or not, and whether a write may have
 * committed. Decided by SQLSTATE when the server answered, else by the Node socket error code or
 * pg's messages for a lost connection.
 */
import type { ErrorClass } from '@writethrough/core';

/** What the failed call was: a read never has an unknown outcome. */
export interface ClassifyContext {
  /** The call was a write (`set`, `setMany`, `delete`). */
  readonly write: boolean;
}

const RETRY_FAILED: ErrorClass = { retryable: true, outcome: 'failed' };
const RETRY_UNKNOWN: ErrorClass = { retryable: true, outcome: 'unknown' };
const PERMANENT: ErrorClass = { retryable: false, outcome: 'failed' };

/** SQLSTATEs whose statement certainly rolled back and may succeed when run again. */
const RETRYABLE_STATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '53300', // too_many_connections
  '55P03', // lock_not_available
  '57014', // query_canceled (statement_timeout, pg_cancel_backend): the statement was rolled back
  '57P03', // cannot_connect_now (starting up, in recovery)
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
]);

/**
 * SQLSTATEs of a connection that ended while the statement may have been running: its commit may
 * have happened (the answer was lost). 57P01 (admin_shutdown, pg_terminate_backend) can also arrive
 * after a commit that was waiting for synchronous replication.
 */
const CONNECTION_LOST_STATES = new Set(['57P01', '57P02', '40003']);

/** Socket errors before any statement could be sent. */
const NEVER_CONNECTED = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** Socket errors that can cut a statement in flight. */
const CONNECTION_LOST = new Set(['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);

/** A five-character SQLSTATE as the server sent it. */
export function sqlStateOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

/**
 * Classifies an error thrown by a Postgres driver for a call of the given kind:
 * - retryable, certainly failed: 40001, 40P01, 53300, 55P03, 57014, 57P03, 08001, 08004, a refused
 *   connection, a pool that could not hand out a connection in time, a client that was not queryable;
 * - retryable, unknown outcome for a write (failed for a read): the other 08xxx, 57P01, 57P02, 40003,
 *   a reset or timed-out socket, pg's "Connection terminated" and "Query read timeout";
 * - permanent: every other SQLSTATE (23xxx constraints, 22xxx data, 42xxx a missing table or column…);
 * - anything unrecognised: not retryable, unknown outcome for a write (it may have come after the
 *   commit), failed for a read.
 */
export function classifyPostgresError(error: unknown, context: ClassifyContext): ErrorClass {
  const lost = context.write ? RETRY_UNKNOWN : RETRY_FAILED;
  const state = sqlStateOf(error);
  if (state !== undefined) {
    if (RETRYABLE_STATES.has(state)) return RETRY_FAILED;
    if (CONNECTION_LOST_STATES.has(state) || state.startsWith('08')) return lost;
    return PERMANENT;
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (NEVER_CONNECTED.has(code)) return RETRY_FAILED;
    if (CONNECTION_LOST.has(code)) return lost;
  }
  const message = error instanceof Error ? error.message : String(error);
  // pg.Pool: no connection within connectionTimeoutMillis; pg.Client: used after an error or end().
  if (/timeout exceeded when trying to connect|is not queryable/i.test(message)) return RETRY_FAILED;
  // pg.Client: the socket closed or query_timeout fired while the statement was in flight.
  if (/connection terminated|query read timeout|connection (?:closed|lost|reset)/i.test(message)) return lost;
  return context.write ? { retryable: false, outcome: 'unknown' } : PERMANENT;
}
