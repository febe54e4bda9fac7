/**
 * The decoder of the Debezium inputs of the orders, carts and people processors. It decodes each
 * record with the given DebeziumDecoder (JSON or Avro) and skips tombstones and truncates. Then it
 * checks the table's columns against the last field set seen and against the mapping:
 *
 * - Columns added or removed: a warning naming the table and the columns, counted in
 *   `cio_cdc_source_schema_changes_total{table}`. The record is processed as usual.
 * - A column the mapping requires is missing: MissingColumnError, which names the table and the
 *   column. The runtime sends the record to the dead-letter topic and the partition moves on.
 *
 * The field sets live in memory, per decoder and so per process; the first record of each table
 * after a start is the baseline and is not counted.
 */
import promClient from 'prom-client';
import type { Counter, Registry } from 'prom-client';

import { MissingColumnError, SourceSchemaTracker } from '../debezium/index.ts';
import type { ChangeEvent, DebeziumDecoder, SchemaInspection } from '../debezium/index.ts';
import type { DecodeContext, Decoder } from '../runtime/index.ts';
import { requiredColumnsOf } from './mapping.ts';
import type { Mapping } from './mapping.ts';

const SCHEMA_CHANGES_METRIC = 'cio_cdc_source_schema_changes_total';

/** Returns the registry's schema-change counter, and creates it there on first use. */
function schemaChangesCounter(registry: Registry): Counter<'table'> {
  const existing = registry.getSingleMetric(SCHEMA_CHANGES_METRIC);
  if (existing !== undefined) {
    return existing as Counter<'table'>;
  }
  return new promClient.Counter({
    name: 'cio_cdc_source_schema_changes_total',
    help: 'Column sets of source tables that changed (columns added or removed), per table, since the process started.',
    labelNames: ['table'],
    registers: [registry],
  });
}

function report(inspection: SchemaInspection, event: ChangeEvent, context: DecodeContext): void {
  const { table } = inspection;
  if (inspection.status === 'baseline') {
    // The series starts at 0, so the first change is an increase that alerts can see.
    schemaChangesCounter(context.registry).inc({ table }, 0);
    context.log.debug({ table, columns: [...event.columns], schemaId: event.valueSchemaId }, 'source table columns learned');
    return;
  }
  const change = inspection.change;
  if (inspection.status !== 'changed' || change === null) {
    return;
  }
  schemaChangesCounter(context.registry).inc({ table });
  context.log.warn(
    {
      table,
      added: change.added,
      removed: change.removed,
      previousSchemaId: change.previousSchemaId,
      schemaId: change.schemaId,
      topic: event.topic,
      partition: event.partition,
      offset: event.offset,
    },
    'source table columns changed',
  );
}

/**
 * Wraps `decoder` into the runtime decoder of a processor's Debezium inputs. Tombstones and
 * truncates return null (skipped). Records read back from a repartition topic were checked when
 * they were re-keyed, so only their required columns are checked again.
 */
export function changeEventDecoder(mapping: Mapping, decoder: DebeziumDecoder): Decoder<ChangeEvent> {
  const tracker = new SourceSchemaTracker({ requiredColumns: requiredColumnsOf(mapping) });
  return async (message, context) => {
    if (message.value === null) {
      return null;
    }
    // The record key is not decoded: rows carry their ids, and a re-keyed record's key is the
    // join key text rather than Debezium's key struct.
    const decoded = await decoder.decode({ ...message, key: null });
    if (decoded.kind === 'tombstone' || decoded.op === 'truncate') {
      return null;
    }
    const inspection = tracker.inspect(decoded, context.role !== 'repartition');
    report(inspection, decoded, context);
    if (inspection.missing.length > 0) {
      throw new MissingColumnError(inspection.missing, decoded);
    }
    return decoded;
  };
}
