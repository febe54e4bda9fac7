/**
 * Detection of column changes in source tables, from the field set every decoded change event
 * carries (`ChangeEvent.columns`): the fields of the value schema for JSON with schemas and for
 * Avro (each record's writer schema), the keys of the row for schemaless JSON.
 *
 * The tracker keeps, in memory, the last field set seen per table. The first event of a table
 * after a start is the baseline and is never reported as a change. A restart therefore learns the
 * field set again, and a column change whose records were all read before the restart is not
 * reported again.
 *
 * Each event is compared by schema identity first (the Avro schema id, else the column list), so
 * an unchanged table costs one string comparison. Column sets are compared only when the identity
 * differs.
 */
import type { ChangeEvent } from './envelope.ts';

/** Columns added to and removed from one table between two events. */
export interface SchemaChange {
  /** `<db>.<table>` */
  readonly table: string;
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Avro schema id of the earlier field set, null for JSON. */
  readonly previousSchemaId: number | null;
  /** Avro schema id of the event that showed the change, null for JSON. */
  readonly schemaId: number | null;
}

/**
 * Outcome of `inspect`:
 * - baseline: the first event of the table since the start;
 * - same: the table's field set is unchanged (the schema identity may have changed, for example
 *   a new Avro schema id after a column type change);
 * - changed: columns were added or removed;
 * - older: the event has another field set but was committed no later than the first event of the
 *   field set in use, so it predates the change (a lagging partition or a replay);
 * - untracked: tracking was not requested.
 */
export type SchemaStatus = 'baseline' | 'same' | 'changed' | 'older' | 'untracked';

export interface SchemaInspection {
  /** `<db>.<table>` */
  readonly table: string;
  readonly status: SchemaStatus;
  /** Set when `status` is `changed`. */
  readonly change: SchemaChange | null;
  /** Required columns the event lacks, each as `<db>.<table>.<column>`. */
  readonly missing: readonly string[];
}

export interface SourceSchemaTrackerOptions {
  /** Columns that must exist, by `<db>.<table>`. Tables not listed require none. */
  readonly requiredColumns?: Readonly<Record<string, readonly string[]>>;
}

interface TableState {
  identity: string;
  columns: ReadonlySet<string>;
  schemaId: number | null;
  /** Earliest source commit time (epoch ms) seen with this field set, null when none was known. */
  sinceMs: number | null;
}

const NONE: readonly string[] = Object.freeze([]);

function tableOf(event: ChangeEvent): string {
  return event.source.db === '' ? event.source.table : `${event.source.db}.${event.source.table}`;
}

/** Returns the Avro schema id when there is one, else the column names in order (NUL cannot occur in a MySQL name). */
function schemaIdentity(event: ChangeEvent): string {
  return event.valueSchemaId === null ? `columns:${[...event.columns].join('\u0000')}` : `schema:${event.valueSchemaId}`;
}

/** Remembers the field set of each source table and reports changes and missing required columns. */
export class SourceSchemaTracker {
  readonly #required: ReadonlyMap<string, readonly string[]>;
  readonly #tables = new Map<string, TableState>();
  /** Missing required columns by table and schema identity; one entry per schema version seen. */
  readonly #missing = new Map<string, readonly string[]>();

  constructor({ requiredColumns = {} }: SourceSchemaTrackerOptions = {}) {
    this.#required = new Map(Object.entries(requiredColumns));
  }

  /**
   * Checks one event. With `track` false only the required columns are checked, for records that
   * were already tracked once (a re-keyed record read back from its repartition topic).
   * A truncate carries no row and so no field set; it is reported as `same`.
   */
  inspect(event: ChangeEvent, track = true): SchemaInspection {
    const table = tableOf(event);
    if (event.after === null && event.before === null) {
      return { table, status: 'same', change: null, missing: NONE };
    }
    const identity = schemaIdentity(event);
    const missing = this.#missingRequired(event, table, identity);
    if (!track) {
      return { table, status: 'untracked', change: null, missing };
    }

    const eventMs = event.source.tsMs ?? event.tsMs;
    const state = this.#tables.get(table);
    if (state === undefined) {
      this.#tables.set(table, { identity, columns: event.columns, schemaId: event.valueSchemaId, sinceMs: eventMs });
      return { table, status: 'baseline', change: null, missing };
    }
    if (state.identity === identity) {
      if (eventMs !== null && (state.sinceMs === null || eventMs < state.sinceMs)) {
        state.sinceMs = eventMs;
      }
      return { table, status: 'same', change: null, missing };
    }
    // Binlog times have whole seconds, so an event of the same second as the field set in use is
    // taken as older. A change within that second is reported with the next later event.
    if (eventMs !== null && state.sinceMs !== null && eventMs <= state.sinceMs) {
      return { table, status: 'older', change: null, missing };
    }

    const added = [...event.columns].filter((column) => !state.columns.has(column));
    const removed = [...state.columns].filter((column) => !event.columns.has(column));
    const previousSchemaId = state.schemaId;
    this.#tables.set(table, { identity, columns: event.columns, schemaId: event.valueSchemaId, sinceMs: eventMs });
    if (added.length === 0 && removed.length === 0) {
      return { table, status: 'same', change: null, missing };
    }
    const change: SchemaChange = { table, added, removed, previousSchemaId, schemaId: event.valueSchemaId };
    return { table, status: 'changed', change, missing };
  }

  #missingRequired(event: ChangeEvent, table: string, identity: string): readonly string[] {
    const required = this.#required.get(table);
    if (required === undefined || required.length === 0) {
      return NONE;
    }
    const key = `${table}\u0000${identity}`;
    let missing = this.#missing.get(key);
    if (missing === undefined) {
      const absent = required.filter((column) => !event.columns.has(column)).map((column) => `${table}.${column}`);
      missing = absent.length === 0 ? NONE : Object.freeze(absent);
      this.#missing.set(key, missing);
    }
    return missing;
  }
}
