/**
 * OpenTelemetry for a replica process. Preload it so it starts before anything else:
 *
 *   node --import ./packages/host/dist/otel.js services/<persona>/dist/main.js
 *
 * (run-replica imports it too, so a process started without the preload still exports its spans.)
 * The NodeSDK starts only when OTEL_EXPORTER_OTLP_ENDPOINT is set: spans go to
 * `$OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces` as OTLP/HTTP protobuf, with the W3C trace-context
 * propagator; metrics stay on the admin port's /metrics (Prometheus), not OTLP. service.name is
 * OTEL_SERVICE_NAME, else `safe-<persona>` (the persona read from the script path
 * `services/<persona>/...`). The admin server (fastify) is traced through @fastify/otel, except the
 * probes /healthz and /readyz and the /metrics polls (they would fill the trace list).
 * Spans that cannot be exported are dropped by the SDK without a word; the first failure is said
 * once on stderr (the replica's log), so "tracing on" in the log does not hide an absent collector.
 */
import { FastifyOtelInstrumentation } from '@fastify/otel';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { NodeSDK } from '@opentelemetry/sdk-node';

/** Says once, on the first export that fails, where spans were going and why they are lost. */
class WarningExporter extends OTLPTraceExporter {
  #warned = false;

  override export(...[spans, done]: Parameters<OTLPTraceExporter['export']>): void {
    super.export(spans, (result) => {
      if (result.code !== 0 && !this.#warned) {
        this.#warned = true;
        const where = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
        process.stderr.write(
          `${JSON.stringify({ level: 40, time: Date.now(), msg: 'spans cannot be exported; they are dropped (said once)', endpoint: where, err: result.error?.message })}\n`,
        );
      }
      done(result);
    });
  }
}

const UNTRACED_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

interface OtelState {
  sdk: NodeSDK | undefined;
  serviceName: string | undefined;
}

// One SDK per process even if this module were loaded twice (preload and import by two paths).
const STATE = Symbol.for('safe.host.otel');
const global = globalThis as typeof globalThis & { [STATE]?: OtelState };
global[STATE] ??= { sdk: undefined, serviceName: undefined };
const state: OtelState = global[STATE];

/** `safe-<persona>` from a script path like `.../services/pmid-node/dist/main.js`. */
export function serviceNameFor(script: string | undefined, env: Record<string, string | undefined> = process.env): string {
  const fromEnv = env.OTEL_SERVICE_NAME;
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  const match = /(?:^|[\\/])services[\\/]([a-z][a-z-]*)[\\/]/.exec(script ?? '');
  return match?.[1] !== undefined ? `safe-${match[1]}` : 'safe-replica';
}

/** Starts the NodeSDK once, if OTEL_EXPORTER_OTLP_ENDPOINT is set; returns whether tracing is on. */
export function startTelemetry(serviceName = serviceNameFor(process.argv[1])): boolean {
  if (state.sdk !== undefined) return true;
  const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (endpoint === undefined || endpoint === '') return false;
  const sdk = new NodeSDK({
    serviceName,
    traceExporter: new WarningExporter(),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [
      new FastifyOtelInstrumentation({
        registerOnInitialization: true,
        ignorePaths: (route) => UNTRACED_PATHS.has(route.url),
      }),
    ],
  });
  sdk.start();
  state.sdk = sdk;
  state.serviceName = serviceName;
  return true;
}

/** The service name spans are exported under, if tracing is on. */
export function tracingServiceName(): string | undefined {
  return state.sdk === undefined ? undefined : state.serviceName;
}

/** Flushes and stops the SDK (the last step of a graceful shutdown). Never throws; idempotent. */
export async function shutdownTelemetry(timeoutMs = 5000): Promise<void> {
  const sdk = state.sdk;
  if (sdk === undefined) return;
  state.sdk = undefined;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    sdk.shutdown().catch(() => undefined),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, timeoutMs);
      timer.unref();
    }),
  ]);
  clearTimeout(timer);
}

startTelemetry();
