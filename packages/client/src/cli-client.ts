import type { Writable } from 'node:stream';
import { SafeClient } from './client.js';
import { loadOrCreateIdentity, safeHome } from './identity-file.js';

export interface CliIo {
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly env: NodeJS.ProcessEnv;
}

async function connect(endpoint: string, io: CliIo): Promise<SafeClient> {
  const { identity } = await loadOrCreateIdentity(safeHome(io.env));
  return SafeClient.connect({ endpoint, identity });
}

/** Runs `use` with a client of the Gateway at `endpoint`, as the identity in SAFE_HOME; closes it after. */
export async function withClient<T>(endpoint: string, io: CliIo, use: (client: SafeClient) => Promise<T>): Promise<T> {
  const client = await connect(endpoint, io);
  try {
    return await use(client);
  } finally {
    client.close();
  }
}
