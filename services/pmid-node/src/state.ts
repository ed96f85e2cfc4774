import { ChunkStore } from './chunk-store.js';

export interface PmidNodeState {
  readonly chunks: ChunkStore;
}

export async function openPmidNodeState(chunkDir: string, capacity: number): Promise<PmidNodeState> {
  return { chunks: await ChunkStore.open(chunkDir, capacity) };
}
