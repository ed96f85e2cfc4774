import { readFile } from 'node:fs/promises';
import { ConfigError, type Envelope, type ReceiveResult, type Telemetry } from '@safe/core';
import { parseEnvFile, stackEnvFile } from './stack-env.js';

/** Where `--trace` sends spans, and where Jaeger's query API is when the stack started one. */
export interface TracingTarget {
  readonly otlpEndpoint: string;
  readonly jaegerUrl: string | undefined;
}

/**
 * OTEL_EXPORTER_OTLP_ENDPOINT, else the Jaeger of `pnpm stack up --jaeger` (SAFE_JAEGER_OTLP_ENDPOINT
 * from the environment or the stack's env file). Throws ConfigError saying how to get one otherwise.
 */
export async function tracingTarget(env: Record<string, string | undefined>): Promise<TracingTarget> {
  const file = stackEnvFile(env);
  const stack = await readFile(file, 'utf8').then(parseEnvFile, () => ({}) as Record<string, string>);
  const pick = (variable: string) => env[variable]?.trim() || stack[variable]?.trim() || undefined;
  const jaegerUrl = pick('SAFE_JAEGER_URL');
  const explicit = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  if (explicit) return { otlpEndpoint: explicit, jaegerUrl };
  const jaeger = pick('SAFE_JAEGER_OTLP_ENDPOINT');
  if (jaeger) return { otlpEndpoint: jaeger, jaegerUrl };
  throw new ConfigError(
    `--trace needs somewhere to send spans: set OTEL_EXPORTER_OTLP_ENDPOINT, or start a Jaeger with \`pnpm stack up --jaeger\` (it writes ${file})`,
  );
}

/** A replica's telemetry, and the wrapper of its delivery that remembers its copies' trace contexts. */
export interface ReplicaTracing {
  readonly telemetry: Telemetry;
  deliver(envelope: Envelope, receive: (envelope: Envelope) => Promise<ReceiveResult>): Promise<ReceiveResult>;
}

/** Tracing for each replica of the embedded testnet, and the flush at its end. */
export interface EmbeddedTracing {
  tracingFor(persona: string, node: string): ReplicaTracing;
  shutdown(): Promise<void>;
}

/**
 * Starts the OpenTelemetry SDK in this process (service `safe-testnet`; the persona is an attribute
 * of each span) exporting to `endpoint`. @safe/host is loaded only here: importing it starts the
 * SDK whenever OTEL_EXPORTER_OTLP_ENDPOINT is set, which an untraced testnet must not do.
 */
export async function startEmbeddedTracing(endpoint: string, env: NodeJS.ProcessEnv = process.env): Promise<EmbeddedTracing> {
  env.OTEL_EXPORTER_OTLP_ENDPOINT = endpoint;
  env.OTEL_SERVICE_NAME ||= 'safe-testnet';
  const host = await import('@safe/host');
  host.startTelemetry(env.OTEL_SERVICE_NAME);
  const metrics = new host.MetricsRegistry({ processMetrics: false });
  return {
    tracingFor(persona, node) {
      // Per replica, as in a replica process: the copies one node received, for its handling spans' links.
      const copies = new host.CopyTraces();
      const telemetry = new host.OtelTelemetry({ metrics, copies, attributes: { 'safe.persona': persona, 'safe.node': node } });
      return { telemetry, deliver: (envelope, receive) => copies.deliver(envelope, receive) };
    },
    shutdown: () => host.shutdownTelemetry(),
  };
}
