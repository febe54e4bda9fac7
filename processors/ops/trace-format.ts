/**
 * Output of `cio-cdc trace`: text for people, JSON lines for scripts.
 *
 * JSON lines: one object per line, each with a `type`:
 *   {"type":"read", source, topic, partitionCount, partition, fromOffset, endOffset, scanned, matched}
 *     one per traced topic, in the order read; partition fields are null when the topic does not exist
 *   {"type":"entry", time, timeMs, source, topic, partition, offset, event, eventId, text, record}
 *     one per record of the customer, in timeline order; `record` is the decoded record
 *   {"type":"outcome", key, event, eventId, status, text}
 *     one per event id, and one per identify record (key `<topic>[<partition>]@<offset>`)
 */
import { stringifyExact } from '../debezium/index.ts';
import type { TraceSource } from './trace-config.ts';
import type { TraceRecord } from './trace-records.ts';
import type { TraceResult } from './trace.ts';
import { clockOf, dayOf, plural } from './trace-explain.ts';

/** Short name of each source in the text output. */
export const SOURCE_LABELS: Readonly<Record<TraceSource, string>> = Object.freeze({
  customers: 'source',
  orderEvents: 'orders',
  cartEvents: 'carts',
  decisions: 'suppression',
  customerEvents: 'events',
  outbox: 'outbox',
  deliveryLog: 'delivery',
  deadLetter: 'dead-letter',
});

const LABEL_WIDTH = Math.max(...Object.values(SOURCE_LABELS).map((label) => label.length));

/** Renders the trace as text: what was read, the timeline by day (UTC), and the outcomes. */
export function renderText(result: TraceResult): string {
  const lines: string[] = [];
  lines.push(`Customer ${result.customerId}, traced at ${result.startedAt}`);
  lines.push('Read one partition per topic, from the earliest offset to the end offset at that time:');
  const topicWidth = Math.max(...result.reads.map((read) => read.topic.length));
  for (const read of result.reads) {
    const head = `  ${SOURCE_LABELS[read.source].padEnd(LABEL_WIDTH)}  ${read.topic.padEnd(topicWidth)}  `;
    if (read.partition === null) {
      lines.push(`${head}topic not found`);
      continue;
    }
    lines.push(`${head}partition ${read.partition} of ${read.partitionCount}, offsets ${read.fromOffset} to ${read.endOffset}: ${read.matched} of ${plural(read.scanned, 'record')}`);
  }
  lines.push('');

  if (result.entries.length === 0) {
    lines.push(`No record of customer ${result.customerId} in the partitions read.`);
    return `${lines.join('\n')}\n`;
  }
  let day = '';
  for (const entry of result.entries) {
    if (dayOf(entry.timeMs) !== day) {
      day = dayOf(entry.timeMs);
      lines.push(`${day} (UTC)`);
    }
    lines.push(`  ${clockOf(entry.timeMs)}  ${SOURCE_LABELS[entry.source].padEnd(LABEL_WIDTH)}  ${entry.text}`);
  }

  if (result.outcomes.length > 0) {
    lines.push('', 'Outcome:');
    for (const outcome of result.outcomes) {
      lines.push(`  ${outcome.event} ${outcome.key}: ${outcome.text}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Returns the decoded value of a trace record, without its position. */
function payloadOf(record: TraceRecord): unknown {
  switch (record.kind) {
    case 'source-row':
      return record.change;
    case 'event':
    case 'outbox':
      return record.record;
    case 'decision':
      return record.decision;
    case 'delivery':
      return record.entry;
    case 'dead-letter':
      return record.letter;
    case 'unreadable':
      return { problem: record.problem };
  }
}

/** Renders the trace as JSON lines (see the file comment). */
export function renderJsonLines(result: TraceResult): string {
  const lines: string[] = [];
  for (const read of result.reads) lines.push(stringifyExact({ type: 'read', ...read }));
  for (const entry of result.entries) {
    const { record, ...fields } = entry;
    lines.push(stringifyExact({ type: 'entry', time: new Date(entry.timeMs).toISOString(), ...fields, record: payloadOf(record) }));
  }
  for (const outcome of result.outcomes) lines.push(stringifyExact({ type: 'outcome', ...outcome }));
  return `${lines.join('\n')}\n`;
}
