import { type Name, type RankReport, toHex } from '@safe/core';
import type { PmidManagerState } from './state.js';
import type { PmidManagerStore } from './store.js';

/**
 * Ranking (SPEC.md 3.4 and 4; seeds 002 "Ranking"): a PmidNode's worth is the data it stores
 * against the data it loses — a high rate of lost to stored makes the vault less valuable. The one
 * formula: stored / (stored + lost), from 0 (everything it was given is lost) to 1 (nothing lost;
 * also a node that holds nothing yet: it is trusted until it loses something).
 */
export function pmidRank(account: { readonly stored: number; readonly lost: number }): number {
  const total = account.stored + account.lost;
  return total <= 0 ? 1 : account.stored / total;
}

/** Ranks are announced to hundredths: a store that barely moves a rank is not a new announcement. */
const REPORTED_RANK_STEPS = 100;

/**
 * What this replica announces (PersonaDefinition.rankReports): the rank of each PmidNode it keeps
 * an account for that lost data, lowest first, at most SAFE_PM_RANK_REPORTS of them. The
 * DataManagers take the lower median of the node's managers' reports as its agreed rank and
 * choose low-ranked nodes last for new copies; a node not reported on has lost nothing (rank 1).
 */
export async function rankReports(state: PmidManagerState): Promise<RankReport[]> {
  if (state.config.rankReports === 0) return [];
  const accounts = await state.store.lossyAccounts(state.config.rankReports);
  return accounts.map((account) => ({
    pmid: account.pmid as Name,
    rank: Math.floor(pmidRank({ stored: Number(account.stored), lost: Number(account.lost) }) * REPORTED_RANK_STEPS) / REPORTED_RANK_STEPS,
  }));
}

/** One sample of `safe_pmid_rank`: the first 16 hex of the PmidNode's name and its rank. */
export interface RankSample {
  readonly labels: { readonly pmid: string };
  readonly value: number;
}

/**
 * `safe_pmid_rank{pmid}` on the admin port, for the accounts this replica manages. A scrape is
 * synchronous and the accounts are in SQL, so each scrape answers with the previous refresh and
 * starts the next: the values are at most one scrape old.
 */
export class RankGauge {
  readonly #store: PmidManagerStore;
  #samples: RankSample[] = [];
  #refreshing: Promise<void> | undefined;

  constructor(store: PmidManagerStore) {
    this.#store = store;
  }

  async refresh(): Promise<void> {
    const rows = await this.#store.db.query<{ pmid: Uint8Array; stored: number; lost: number }>(
      'SELECT pmid, stored, lost FROM pmid_accounts ORDER BY pmid',
    );
    this.#samples = rows.map((row) => ({ labels: { pmid: toHex(row.pmid).slice(0, 16) }, value: pmidRank(row) }));
  }

  collect(): RankSample[] {
    this.#refreshing ??= this.refresh()
      .catch(() => undefined)
      .finally(() => {
        this.#refreshing = undefined;
      });
    return this.#samples;
  }
}
