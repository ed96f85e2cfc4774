import { SqlUsageError } from './errors.js';
import type { SqlExecutor } from './port.js';

type Run = (text: string, params: readonly unknown[] | undefined) => Promise<unknown[]>;

/**
 * The `tx` handed to a transaction callback. It refuses use after the transaction ended: on pg
 * the connection may already serve another transaction, and a stray write would land there.
 */
export function transactionExecutor(run: Run): { tx: SqlExecutor; end(): void } {
  let ended = false;
  const tx: SqlExecutor = {
    query<R>(text: string, params?: readonly unknown[]): Promise<R[]> {
      if (ended) return Promise.reject(new SqlUsageError('transaction already ended: a tx was used outside its callback'));
      return run(text, params) as Promise<R[]>;
    },
  };
  return {
    tx,
    end() {
      ended = true;
    },
  };
}

/** True when a statement should go through the simple protocol, which allows several statements. */
export function isSimple(params: readonly unknown[] | undefined): boolean {
  return params === undefined || params.length === 0;
}
