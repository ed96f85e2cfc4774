import { AccountCheck } from './account.js';
import { ChunkStore } from './chunk-store.js';

export interface PmidNodeState {
  readonly chunks: ChunkStore;
  /** SendAccount rounds being gathered, and the copies stored since the last one. In memory only. */
  readonly account: AccountCheck;
}

export async function openPmidNodeState(chunkDir: string, capacity: number): Promise<PmidNodeState> {
  return { chunks: await ChunkStore.open(chunkDir, capacity), account: new AccountCheck() };
}
