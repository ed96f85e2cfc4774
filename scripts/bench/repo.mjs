// Where the repo's pieces are (the testnet launcher, the `safe` CLI, the stack script) and the built
// packages the benchmarks import. Imports of the built packages are dynamic (`built()`), so a
// missing build is one clear error.
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');
export const TESTNET = join(ROOT, 'packages', 'testnet', 'dist', 'main.js');
export const CLI = join(ROOT, 'packages', 'client', 'dist', 'cli.js');
export const STACK_SH = join(ROOT, 'scripts', 'stack', 'stack.sh');
export const PERSONAS = ['maid-manager', 'data-manager', 'pmid-manager', 'pmid-node'];
export const MIB = 1024 * 1024;

/** The built packages this script needs; throws one line naming the build step when they are missing. */
export async function built() {
  try {
    const [core, kafka, sql, testnet] = await Promise.all([
      import('../../packages/core/dist/index.js'),
      import('../../packages/kafka/dist/index.js'),
      import('../../packages/sql/dist/index.js'),
      import('../../packages/testnet/dist/index.js'),
    ]);
    return { core, kafka, sql, testnet };
  } catch (error) {
    throw new Error(`the packages are not built (run \`npx tsc -b\`): ${error.message}`);
  }
}
