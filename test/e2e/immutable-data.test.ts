import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Name } from '@safe/core';
import type { DataManagerState } from '@safe/data-manager';
import type { PmidNodeState } from '@safe/pmid-node';
import { ChunkCopy } from '@safe/proto/messages';
import { startEmbeddedTestnet } from '@safe/testnet';
import { defineImmutableDataSuite } from '../support/immutable-data-suite.js';

/** The end-to-end suite against the embedded testnet (every persona, the in-memory bus, PGlite). */
defineImmutableDataSuite('embedded testnet', async () => {
  const dataDir = await mkdtemp(join(tmpdir(), 'safe-e2e-'));
  const testnet = await startEmbeddedTestnet({ dataDir, fresh: true, port: 0 });
  return {
    endpoint: testnet.endpoint,
    /** Read off the replicas' own state: DataManager records of the chunk's primary copy, and copies on PmidNodes. */
    async tracesOf(name: Name) {
      let traces = 0;
      for (const replica of testnet.replicas.get('data-manager') ?? []) {
        if (await (replica.state as DataManagerState).store.record(name, ChunkCopy.PRIMARY)) traces++;
      }
      for (const replica of testnet.replicas.get('pmid-node') ?? []) {
        for (const copy of [ChunkCopy.PRIMARY, ChunkCopy.BACKUP, ChunkCopy.SACRIFICIAL] as const)
          if (await (replica.state as PmidNodeState).chunks.has(name, copy)) traces++;
      }
      return traces;
    },
    async close() {
      await testnet.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
});
