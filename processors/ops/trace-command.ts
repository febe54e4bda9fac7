/**
 * The `cio-cdc trace` command: parses the arguments, runs the trace and prints it.
 * Exit codes: 0 after printing, 1 when reading Kafka failed, 2 for invalid arguments or settings.
 */
import { parseArgs } from 'node:util';

import { pino } from 'pino';

import type { Environment } from '../runtime/env.ts';
import { TOPIC_FLAGS, TRACE_SOURCES, parseTraceConfig } from './trace-config.ts';
import type { TraceConfig, TraceSource } from './trace-config.ts';
import { renderJsonLines, renderText } from './trace-format.ts';
import { traceCustomer } from './trace.ts';

const TOPIC_DEFAULTS: Readonly<Record<TraceSource, string>> = {
  customers: '<topicPrefix>.<database>.<customers table> of CIO_CDC_MAPPING_FILE',
  orderEvents: 'CIO_CDC_ORDER_EVENTS_TOPIC, cio.order-events',
  cartEvents: 'CIO_CDC_CART_EVENTS_TOPIC, cio.cart-events',
  decisions: 'CIO_CDC_SUPPRESSION_DECISIONS_TOPIC, cio.suppression-decisions',
  customerEvents: 'CIO_CDC_CUSTOMER_EVENTS_TOPIC, cio.customer-events',
  outbox: 'SINK_OUTBOX_TOPIC, cio.outbox',
  deliveryLog: 'SINK_DELIVERY_LOG_TOPIC, cio.delivery-log',
  deadLetter: 'SINK_DLQ_TOPIC, <outbox topic>.dlq',
};

export function traceUsage(): string {
  const width = Math.max(...Object.values(TOPIC_FLAGS).map((flag) => flag.length)) + ' TOPIC'.length;
  return [
    'usage: cio-cdc trace [options] CUSTOMER_ID',
    '',
    "Prints everything the pipeline recorded about one customer as one timeline (UTC), then how far each",
    "of the customer's events got: the customers source rows, order and cart events, suppression decisions,",
    'the events suppression let through, outbox records, delivery-log records and dead letters. Each topic',
    "is read in the one partition the customer's key maps to, from the earliest offset to the end offset",
    'at the start, read_committed.',
    '',
    'options:',
    `  ${'--json'.padEnd(width)}  print JSON lines (types read, entry, outcome) instead of text`,
    ...TRACE_SOURCES.map((source) => `  ${`${TOPIC_FLAGS[source]} TOPIC`.padEnd(width)}  default: ${TOPIC_DEFAULTS[source]}`),
    '',
    'Kafka settings are the runtime\'s: KAFKA_BROKERS (default 127.0.0.1:9092) and the other KAFKA_* variables.',
    '',
  ].join('\n');
}

type ParsedArguments = { help: true } | { help: false; customerId: string; json: boolean; overrides: Partial<Record<TraceSource, string>> };

function parseArguments(argv: readonly string[]): ParsedArguments {
  const topicOptions = Object.fromEntries(TRACE_SOURCES.map((source) => [TOPIC_FLAGS[source].slice(2), { type: 'string' as const }]));
  const { values: parsedValues, positionals } = parseArgs({
    args: [...argv],
    options: { json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, ...topicOptions },
    allowPositionals: true,
    strict: true,
  });
  const values = parsedValues as Readonly<Record<string, string | boolean | undefined>>;
  if (values['help'] === true) return { help: true };
  if (positionals.length !== 1) {
    throw new TypeError(positionals.length === 0 ? 'missing CUSTOMER_ID' : `expected one CUSTOMER_ID, got ${positionals.length}: ${positionals.join(' ')}`);
  }
  const customerId = positionals[0]!;
  if (customerId.trim() === '' || customerId !== customerId.trim()) {
    throw new TypeError(`CUSTOMER_ID must be non-empty without surrounding spaces, got ${JSON.stringify(customerId)}`);
  }
  const overrides: Partial<Record<TraceSource, string>> = {};
  for (const source of TRACE_SOURCES) {
    const value = values[TOPIC_FLAGS[source].slice(2)];
    if (typeof value !== 'string') continue;
    if (value.trim() === '') throw new TypeError(`${TOPIC_FLAGS[source]} must name a topic`);
    overrides[source] = value.trim();
  }
  return { help: false, customerId, json: values['json'] === true, overrides };
}

/** Runs `cio-cdc trace`; resolves with the exit code. */
export async function runTraceCommand(argv: readonly string[], env: Environment = process.env): Promise<number> {
  let parsed: ParsedArguments;
  let config: TraceConfig;
  try {
    parsed = parseArguments(argv);
    if (parsed.help) {
      process.stdout.write(traceUsage());
      return 0;
    }
    config = parseTraceConfig(env, parsed.overrides);
  } catch (error) {
    process.stderr.write(`cio-cdc trace: ${error instanceof Error ? error.message : String(error)}\n\n${traceUsage()}`);
    return 2;
  }

  // Logs (kafkajs warnings, errors) go to stderr so stdout holds only the trace.
  const logger = pino({ name: 'cio-cdc-trace', level: config.runtime.logLevel }, pino.destination(2));
  try {
    const result = await traceCustomer(config, parsed.customerId, { logger });
    process.stdout.write(parsed.json ? renderJsonLines(result) : renderText(result));
    return 0;
  } catch (error) {
    logger.error({ err: error, customerId: parsed.customerId }, 'trace failed');
    process.stderr.write(`cio-cdc trace: reading Kafka failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}
