import { createServer } from 'node:net';
import { UnavailableError } from '@safe/core';

/** A port nobody listens on now (bound and released); `taken` keeps two children of one testnet apart. */
export async function freePort(host: string, taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await new Promise<number>((done, fail) => {
      const probe = createServer();
      probe.once('error', fail);
      probe.listen({ host: host.replace(/^\[|\]$/g, ''), port: 0, exclusive: true }, () => {
        const address = probe.address();
        const port = typeof address === 'object' && address !== null ? address.port : 0;
        probe.close(() => done(port));
      });
    });
    if (port > 0 && !taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new UnavailableError(`no free port on ${host}`);
}

export const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]']);

/** The host others dial: a wildcard listen address is dialled on loopback. */
export function dialHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host;
}
