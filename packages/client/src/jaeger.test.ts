import { createServer, type Server } from 'node:http';
import { SafeError } from '@safe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchTrace, findTraces, formatTraceTree } from './jaeger.js';

const ID = '0af7651916cd43dd8448eb211c80319c';
/** What Jaeger's query API answers for a trace: a client span, the entry's span under it, and one linked handling span. */
const TRACE = {
  traceID: ID,
  processes: { p1: { serviceName: 'safe-cli' }, p2: { serviceName: 'safe-maid-manager' } },
  spans: [
    {
      spanID: 'b',
      operationName: 'maid-manager Put',
      startTime: 2000,
      duration: 1500,
      processID: 'p2',
      references: [
        { refType: 'CHILD_OF', spanID: 'a' },
        { refType: 'FOLLOWS_FROM', spanID: 'x' },
        { refType: 'FOLLOWS_FROM', spanID: 'y' },
      ],
    },
    {
      spanID: 'a',
      operationName: 'safe put',
      startTime: 1000,
      duration: 2_500_000,
      processID: 'p1',
      tags: [{ key: 'safe.file.chunks', value: 2 }],
    },
    {
      spanID: 'c',
      operationName: 'maid-manager PutResponse',
      startTime: 3000,
      duration: 800,
      processID: 'p2',
      references: [{ refType: 'CHILD_OF', spanID: 'b' }],
      tags: [{ key: 'error', value: true }],
    },
  ],
};

let server: Server;
let base: string;
const asked: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    asked.push(request.url ?? '');
    if (request.url === `/api/traces/${ID}`) response.end(JSON.stringify({ data: [TRACE] }));
    else if (request.url?.startsWith('/api/traces?')) response.end(JSON.stringify({ data: [TRACE, TRACE] }));
    else response.writeHead(404).end('{"errors":[{"code":404,"msg":"trace not found"}]}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}/`;
});
afterAll(() => server.close());

describe("Jaeger's query API", () => {
  it('reads a trace: services, parents, links and errors', async () => {
    const spans = await fetchTrace(base, ID.toUpperCase());
    expect(spans.map((s) => [s.service, s.operation, s.parentId, s.links, s.error])).toEqual([
      ['safe-maid-manager', 'maid-manager Put', 'a', 2, false],
      ['safe-cli', 'safe put', undefined, 0, false],
      ['safe-maid-manager', 'maid-manager PutResponse', 'b', 0, true],
    ]);
    expect(spans[1]?.tags).toEqual({ 'safe.file.chunks': 2 });
  });

  it('prints it as an indented tree of service, operation and duration', async () => {
    expect(formatTraceTree(await fetchTrace(base, ID))).toBe(
      [
        'safe-cli  safe put  2.50 s',
        '  safe-maid-manager  maid-manager Put  1.5 ms  +2 link(s)',
        '    safe-maid-manager  maid-manager PutResponse  0.8 ms  ERROR',
        '',
      ].join('\n'),
    );
  });

  it('finds trace ids by service and operation; an unknown trace is not-found, a dead Jaeger unavailable', async () => {
    expect(await findTraces(base, 'safe-cli', 5, 'safe put')).toEqual([ID]);
    expect(asked.at(-1)).toBe('/api/traces?service=safe-cli&operation=safe%20put&start=5000&limit=1000');
    await expect(fetchTrace(base, 'f'.repeat(32))).rejects.toMatchObject({ kind: 'not-found' });
    await expect(fetchTrace(base, 'nothex')).rejects.toMatchObject({ kind: 'invalid-argument' });
    await expect(fetchTrace('http://127.0.0.1:1', ID)).rejects.toBeInstanceOf(SafeError);
    await expect(fetchTrace('http://127.0.0.1:1', ID)).rejects.toMatchObject({ kind: 'unavailable' });
  });
});
