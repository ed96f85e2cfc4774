import { context, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { inSpan } from './tracing.js';

type Export = OTLPTraceExporter['export'];

const EXPORT_TIMEOUT_MS = 2000;

/**
 * Where the CLI's own spans go: OTEL_EXPORTER_OTLP_ENDPOINT (every command is then traced), else,
 * for --trace, the stack's Jaeger as `pnpm stack env` prints it.
 */
export function otlpEndpoint(env: NodeJS.ProcessEnv, traced: boolean): string | undefined {
  return env.OTEL_EXPORTER_OTLP_ENDPOINT || (traced ? env.SAFE_JAEGER_OTLP_ENDPOINT : undefined) || undefined;
}

/**
 * The OTLP exporter, saying once on `warn` that spans are being dropped: the BatchSpanProcessor
 * itself drops them silently, and a user who asked for a trace must know it will not be there.
 */
function exporterFor(endpoint: string, warn: (line: string) => void): OTLPTraceExporter {
  // A short deadline: the exporter retries a refused connection until it, and the command waits for it at exit.
  const exporter = new OTLPTraceExporter({ url: `${endpoint.replace(/\/+$/, '')}/v1/traces`, timeoutMillis: EXPORT_TIMEOUT_MS });
  const send: Export = exporter.export.bind(exporter);
  let warned = false;
  exporter.export = (spans, done) =>
    send(spans, (result) => {
      if (result.code !== 0 && !warned) {
        warned = true;
        warn(`safe: warning: spans could not be exported to ${endpoint}: ${result.error?.message ?? 'export failed'}\n`);
      }
      done(result);
    });
  return exporter;
}

/** Keeps spans (so trace ids are made and sent on) without exporting them: --trace with no collector here. */
const keepNothing = { onStart() {}, onEnd() {}, forceFlush: () => Promise.resolve(), shutdown: () => Promise.resolve() };

export interface CommandTrace {
  /** Runs the command inside its root span `safe <command>`. */
  run<T>(work: () => Promise<T>): Promise<T>;
}

/**
 * One trace per command: with `--trace` or an OTLP endpoint in the environment, the SDK is
 * registered, the command runs in a root span, and every Gateway call it makes is a child of it.
 * `--trace` prints `trace: <id>` on stderr before the command runs (and where to read it, when
 * SAFE_JAEGER_URL says where Jaeger is). Without either, the command runs untraced.
 */
export function commandTrace(
  name: string,
  attributes: Record<string, string>,
  options: { readonly print: boolean; readonly env: NodeJS.ProcessEnv; readonly stderr: { write(line: string): unknown } },
): CommandTrace {
  const endpoint = otlpEndpoint(options.env, options.print);
  if (!options.print && endpoint === undefined) return { run: (work) => work() };
  const warn = (line: string) => options.stderr.write(line);
  const sdk = new NodeSDK({
    serviceName: options.env.OTEL_SERVICE_NAME || 'safe-cli',
    spanProcessors: endpoint === undefined ? [keepNothing] : undefined,
    traceExporter: endpoint === undefined ? undefined : exporterFor(endpoint, warn),
    metricReaders: [],
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  return {
    async run(work) {
      try {
        return await inSpan(`safe ${name}`, 'internal', attributes, async (span) => {
          if (options.print) {
            const id = span.spanContext().traceId;
            const jaeger = options.env.SAFE_JAEGER_URL?.replace(/\/+$/, '');
            warn(`trace: ${id}\n${jaeger ? `trace url: ${jaeger}/api/traces/${id}  (or: safe trace ${id})\n` : ''}`);
          }
          return work();
        });
      } finally {
        // Flushes the spans; the export warning, if any, is written before the process exits.
        await sdk.shutdown().catch(() => undefined);
        trace.disable();
        context.disable();
        propagation.disable();
      }
    },
  };
}
