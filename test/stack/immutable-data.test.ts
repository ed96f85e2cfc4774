import { defineImmutableDataSuite } from '../support/immutable-data-suite.js';
import { CLIENT_TIMEOUT_MS, startStackTestnet } from '../support/stack-testnet.js';

/**
 * The end-to-end suite of test/e2e, the same test bodies, against the multi-process testnet: one
 * OS process per replica on Kafka, Postgres and Redis. "Changes nothing" is checked by reading
 * every DataManager's schema in Postgres and every PmidNode's chunk directory.
 */
defineImmutableDataSuite(
  'multi-process testnet on the real stack',
  async () => {
    const { testnet, tracesOf, close } = await startStackTestnet();
    return { endpoint: testnet.endpoint, tracesOf, close, clientTimeoutMs: CLIENT_TIMEOUT_MS };
  },
  300_000,
);
