import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateIdentity, importIdentity, type Logger, toHex, UnavailableError } from '@safe/core';
import { checkSchemaName, describeError, openPostgres, type SqlDatabase } from '@safe/sql';

/** The key file the replica host reads from its SAFE_DATA_DIR (PKCS#8 DER, as the embedded testnet writes). */
const KEY_FILE = 'node.key';

/** The schema the replica host gives a replica (`<persona>_<first 16 hex of its name>`). */
export function replicaSchema(persona: string, nodeName: string): string {
  return `${persona.replaceAll('-', '_')}_${nodeName.slice(0, 16)}`;
}

/** The schemas of the manager replicas whose keys are in the data dir (what `fresh` throws away). */
export async function schemasIn(dataDir: string): Promise<string[]> {
  const schemas: string[] = [];
  for (const persona of ['maid-manager', 'data-manager', 'version-manager', 'mpid-manager', 'pmid-manager'] as const) {
    const entries = await readdir(join(dataDir, persona)).catch(() => [] as string[]);
    for (const entry of entries) {
      try {
        schemas.push(replicaSchema(persona, toHex(importIdentity(await readFile(join(dataDir, persona, entry, KEY_FILE))).name)));
      } catch {
        // no key there
      }
    }
  }
  return schemas;
}

/** Best effort: drops schemas nobody will read again (the replicas of a `fresh` start's old keys). */
export async function dropSchemas(postgresUrl: string, schemas: readonly string[], log: Logger): Promise<void> {
  if (schemas.length === 0) return;
  let db: SqlDatabase | undefined;
  try {
    db = await openPostgres({ url: postgresUrl, schema: 'public', poolSize: 1 });
    for (const schema of schemas) await db.query(`DROP SCHEMA IF EXISTS "${checkSchemaName(schema)}" CASCADE`);
    log.info({ schemas: schemas.length }, 'dropped the schemas of the previous identities');
  } catch (error) {
    log.warn({ err: describeError(error) }, 'could not drop the schemas of the previous identities');
  } finally {
    await db?.close().catch(() => undefined);
  }
}

/**
 * The replica's key in `<dir>/node.key`, made now if it has none: the launcher knows every name
 * before any process starts (and a MaidManager's AdoptVault finds every PmidNode's key).
 */
export async function ensureKey(dir: string): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, KEY_FILE);
  try {
    return toHex(importIdentity(await readFile(file)).name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new UnavailableError(`${file} is not a replica key: ${describeError(error)}`, { cause: error });
    }
  }
  const identity = generateIdentity();
  await writeFile(file, identity.exportPrivateKey(), { mode: 0o600, flag: 'wx' });
  return toHex(identity.name);
}
