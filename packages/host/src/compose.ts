/**
 * The composition a replica process (run-replica.ts) and the embedded testnet share: the cleanup
 * stages, the replicas on the adapters each passes, the tick loop. Loads nothing but @safe/core
 * (`@safe/host/compose`): the index starts OpenTelemetry and pulls in Kafka, Redis and gRPC.
 */
export { Cleanup, SHUTDOWN_STAGES, type ShutdownStage } from './cleanup.js';
export { groupParametersOf } from './group-parameters.js';
export { ReplicaSet, type ReplicaSetOptions, startTicks, type TickOptions, within } from './replica-set.js';
