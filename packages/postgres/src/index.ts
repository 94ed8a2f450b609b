export type {
  PgliteListenClient,
  PostgresBusOptions,
  PostgresBusStats,
  PostgresListenClient,
  PostgresPublishClient,
} from './bus.js';
export { PostgresBus, postgresBus } from './bus.js';
export type { ClassifyContext } from './classify.js';
export { classifyPostgresError } from './classify.js';
export type { MigrationClient, MigrationOptions } from './migrate.js';
export { migrate, migrationSql } from './migrate.js';
export type { OutboxOptions } from './outbox-sql.js';
export type { OwnTableKeyType, OwnTableSchemaOptions } from './own-table.js';
export type { PurgeBounds, PurgeClient, PurgeOptions, PurgeResult } from './purge.js';
export {
  DEFAULT_PURGE_BATCH_SIZE,
  DEFAULT_TOMBSTONE_AGE_MS,
  MIN_TOMBSTONE_AGE_MS,
  purgeTombstones,
} from './purge.js';
export type { OwnTableOptions, PostgresClient, PostgresRecordsOptions } from './records.js';
export { PostgresRecords, postgresRecords } from './records.js';
export type {
  OutboxRelayOptions,
  OutboxRelayStats,
  RelayConnection,
  RelayPass,
  RelaySource,
  RelayTarget,
} from './relay.js';
export { OutboxRelay, outboxRelay } from './relay.js';
export type { TableOptions } from './sql.js';
export { DEFAULT_SCHEMA, DEFAULT_TABLE } from './sql.js';
