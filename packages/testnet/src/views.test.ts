import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Slot } from './children.js';
import { waitConverged } from './views.js';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((done) => server.close(done))));
});

/** A stand-in replica's admin port answering GET /members with `status` and `body`. */
async function replica(persona: string, status: number, body: unknown): Promise<Slot> {
  const server = createServer((request, response) => {
    response.statusCode = request.url === '/members' ? status : 404;
    response.setHeader('content-type', 'application/json');
    response.end(JSON.stringify(body));
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  return { persona, name: `${persona}-0`, adminPort: port, process: {} } as unknown as Slot;
}

describe('waitConverged (GET /members)', () => {
  it('resolves once every running child sees exactly the running children of each persona', async () => {
    const slots = [await replica('pmid-node', 200, { members: { 'pmid-node': ['aa'], 'data-manager': [] } })];
    await expect(waitConverged(() => slots, 2_000, undefined)).resolves.toBeUndefined();
  });

  it('does not ask a child without a view yet (503)', async () => {
    const slots = [await replica('pmid-node', 503, { waiting: 'membership' })];
    await expect(waitConverged(() => slots, 2_000, undefined)).resolves.toBeUndefined();
  });

  it('rejects in time, naming who sees what', async () => {
    const slots = [await replica('pmid-node', 200, { members: { 'pmid-node': ['aa', 'bb'] } })];
    await expect(waitConverged(() => slots, 300, undefined)).rejects.toThrow(/pmid-node-0 sees 2 pmid-node \(running: 1\)/);
  });
});
