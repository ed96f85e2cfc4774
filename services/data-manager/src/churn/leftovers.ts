import { type HandlerContext, type Outbound, toHex } from '@safe/core';
import { deleteFrom } from '../rules.js';
import type { DataManagerState } from '../state.js';
import { SWEEP_EVERY_MS, sweepTombstones } from '../tombstones.js';

/** At a tick: late answers' records of deleted copies go, and their holders delete the copies. */
export async function sweepOnTick(ctx: HandlerContext<DataManagerState>): Promise<Outbound[]> {
  if (ctx.now() < ctx.state.nextSweepAt) return [];
  ctx.state.nextSweepAt = ctx.now() + SWEEP_EVERY_MS;
  const leftovers = await ctx.state.store.db.transaction((tx) => sweepTombstones(tx, ctx.now()));
  for (const { name, copy, holders } of leftovers) {
    ctx.log.info({ chunk: toHex(name).slice(0, 16), copy, holders: holders.length }, 'a deleted copy made again by a late answer removed');
  }
  return leftovers.flatMap(({ name, copy, holders }) => holders.map((pmid) => deleteFrom(pmid, name, copy)));
}
