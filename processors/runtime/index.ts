/**
 * Public API of the processor runtime. A processor imports from here only.
 */
export { defineProcessor, input, jsonSerde, keyValueStore, output, TIMER_STORE_NAME } from './processor.ts';
export type {
  DecodeContext,
  Decoder,
  FiredTimer,
  InputDefinition,
  InputRecord,
  InputRecordOf,
  JoinKey,
  JsonValue,
  KeyValueStore,
  OutputDefinition,
  OutputRecord,
  ProcessorContext,
  ProcessorDefinition,
  Repartition,
  Serde,
  SomeProcessorDefinition,
  SourceMessage,
  StoreDefinition,
  TaskContext,
  Timer,
  TimerKind,
  TimerRequest,
} from './processor.ts';
export { runMain } from './main.ts';
export type { MainOptions } from './main.ts';
export { ProcessorRuntime } from './runtime.ts';
export type { RuntimeEvents, RuntimeOptions } from './runtime.ts';
export { CONFIG_KEYS, loadRuntimeConfig, parseRuntimeConfig } from './config.ts';
export type { RuntimeConfig } from './config.ts';
export {
  KAFKA_SECURITY_CONFIG_KEYS,
  NO_KAFKA_SECURITY,
  SASL_MECHANISMS,
  describeKafkaSecurity,
  kafkaClientSecurity,
  parseKafkaSecurity,
} from './kafka-security.ts';
export type { KafkaSaslConfig, KafkaSecurityConfig, KafkaTlsConfig, SaslMechanism } from './kafka-security.ts';
export { systemClock } from './timers.ts';
export type { Clock } from './timers.ts';
export { DLQ_HEADERS } from './dlq.ts';
export { ORIGIN_HEADERS, dlqTopicName, repartitionTopicName } from './repartition.ts';
export { changelogTopicName } from './store.ts';
export { installReadCommittedFix } from './read-committed.ts';
export {
  ConfigError,
  DefinitionError,
  RecordRejectedError,
  RuntimeError,
  TopologyError,
  isRetriable,
} from './errors.ts';
