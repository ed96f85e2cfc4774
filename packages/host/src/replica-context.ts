import type { Logger, PersonaName, RoutingTable } from '@safe/core';
import type { Readiness } from './admin.js';
import type { Cleanup } from './cleanup.js';
import type { HostConfig } from './config.js';
import type { MetricsRegistry } from './metrics.js';

/** What every start step of a replica shares: its config and log, the admin port's registry and readiness, the cleanup. */
export interface StartContext {
  readonly config: HostConfig;
  readonly persona: PersonaName;
  readonly log: Logger;
  readonly metrics: MetricsRegistry;
  readonly readiness: Readiness;
  readonly cleanup: Cleanup;
}

/** The membership view this replica acts on now (undefined until it has seen itself join). */
export interface CurrentView {
  latest: RoutingTable | undefined;
}
