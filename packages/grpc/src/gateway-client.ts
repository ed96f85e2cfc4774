import { type Client, credentials, makeClientConstructor, type ServiceDefinition, type ServiceError } from '@grpc/grpc-js';
import { type Envelope, toWire } from '@safe/core';
import { service as healthService } from 'grpc-health-check';
import type { AdoptedVault, NetworkInfo } from './gateway-server.js';
import { loadGateway } from './proto.js';

export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';
const HEALTH_STATUS: readonly HealthStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/**
 * A bare, promise-shaped client of one Gateway: the raw calls, failures left as grpc-js
 * ServiceErrors (status code and details) so tests and probes can see exactly what the server
 * answered. The SDK (packages/client) builds on the same contract with retries and typed errors.
 */
export interface GatewayClient {
  send(envelope: Envelope, deadlineMs?: number): Promise<Uint8Array>;
  /** Sends whatever object is given as the Envelope message, as is (tests of malformed input). */
  sendWire(wire: object, deadlineMs?: number): Promise<Uint8Array>;
  info(): Promise<NetworkInfo>;
  adoptVault(maidPublicKey: Uint8Array): Promise<AdoptedVault>;
  /** grpc.health.v1 Check of `service` ('' for the server as a whole). */
  health(service?: string): Promise<HealthStatus>;
  close(): void;
}

type Callback = (error: ServiceError | null, reply?: unknown) => void;
type Method = (request: unknown, options: { deadline?: Date }, callback: Callback) => unknown;

function unary(client: Client, method: string, request: unknown, deadlineMs: number): Promise<unknown> {
  const fn = (client as unknown as Record<string, Method>)[method];
  if (fn === undefined) return Promise.reject(new Error(`no method ${method}`));
  return new Promise((resolve, reject) => {
    fn.call(client, request, { deadline: new Date(Date.now() + deadlineMs) }, (error, reply) => (error ? reject(error) : resolve(reply)));
  });
}

export function connectGateway(endpoint: string, defaultDeadlineMs = 60_000): GatewayClient {
  const { Client: GatewayCtor } = loadGateway();
  const HealthCtor = makeClientConstructor(healthService as unknown as ServiceDefinition, 'grpc.health.v1.Health');
  const gateway = new GatewayCtor(endpoint, credentials.createInsecure(), {
    'grpc.max_receive_message_length': 8 * 1024 * 1024,
    'grpc.max_send_message_length': 8 * 1024 * 1024,
  });
  const health = new HealthCtor(endpoint, credentials.createInsecure());
  return {
    send(envelope, deadlineMs = defaultDeadlineMs) {
      return this.sendWire(toWire(envelope), deadlineMs);
    },
    async sendWire(wire, deadlineMs = defaultDeadlineMs) {
      const reply = (await unary(gateway, 'Send', wire, deadlineMs)) as { payload?: Uint8Array };
      return new Uint8Array(reply.payload ?? new Uint8Array(0));
    },
    async info() {
      return (await unary(gateway, 'Info', {}, defaultDeadlineMs)) as NetworkInfo;
    },
    async adoptVault(maidPublicKey) {
      const reply = (await unary(gateway, 'AdoptVault', { maidPublicKey }, defaultDeadlineMs)) as AdoptedVault;
      return { pmidPublicKey: new Uint8Array(reply.pmidPublicKey), pmidSignature: new Uint8Array(reply.pmidSignature) };
    },
    async health(service = '') {
      const reply = (await unary(health, 'check', { service }, defaultDeadlineMs)) as { status?: number | string };
      if (typeof reply.status === 'string') return reply.status as HealthStatus;
      return HEALTH_STATUS[reply.status ?? 0] ?? 'UNKNOWN';
    },
    close() {
      gateway.close();
      health.close();
    },
  };
}
