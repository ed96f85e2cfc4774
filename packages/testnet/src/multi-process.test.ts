import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, processAlive } from '@safe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCommandLine } from './main.js';
import {
  loadStackEnv,
  type MultiProcessTestnet,
  parseEnvFile,
  StartAbortedError,
  startMultiProcessTestnet,
  tailOf,
} from './multi-process.js';

/**
 * The launcher's mechanics with a stand-in replica (no stack needed): a script that serves
 * /readyz on SAFE_ADMIN_PORT, listens on SAFE_GRPC_PORT, logs its environment and stops on
 * SIGTERM. The real replicas are exercised against the stack in test/stack/.
 */
const FAKE_MAIN = `
import { createServer } from 'node:http';
import { createServer as tcp } from 'node:net';
const env = process.env;
const name = env.SAFE_DATA_DIR.split('/').slice(-2).join('-');
console.log('fake replica', name, 'pid', process.pid, 'grpc', env.SAFE_GRPC_PORT, 'admin', env.SAFE_ADMIN_PORT);
console.log('env', JSON.stringify({ network: env.SAFE_NETWORK, k: env.SAFE_K, capacity: env.SAFE_PMID_CAPACITY, keys: env.SAFE_TESTNET_ADOPT_VAULT_KEYS_DIR, pg: env.SAFE_POSTGRES_URL, brokers: env.SAFE_KAFKA_BROKERS, dm: env.SAFE_DM_MAX_HOLDERS }));
if (env.FAKE_FAIL === name) { console.error('cannot reach Kafka at 127.0.0.1:1'); process.exit(3); }
const grpc = tcp().listen(Number(env.SAFE_GRPC_PORT), env.SAFE_GRPC_HOST);
const ready = env.FAKE_NEVER_READY !== name;
const admin = createServer((req, res) => { res.statusCode = req.url === '/readyz' && ready ? 200 : 503; res.end(); })
  .listen(Number(env.SAFE_ADMIN_PORT), env.SAFE_ADMIN_HOST);
process.on('SIGTERM', () => { console.log('SIGTERM: stopping'); grpc.close(); admin.close(); setTimeout(() => process.exit(0), 50); });
`;

const STACK = { postgresUrl: 'postgres://x@127.0.0.1:1/x', redisUrl: 'redis://127.0.0.1:1', kafkaBrokers: '127.0.0.1:1' };
const SMALL = { maidManagers: 2, dataManagers: 2, versionManagers: 1, mpidManagers: 1, pmidManagers: 1, pmidNodes: 2, port: 0 };

let dir: string;
let fakeMain: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'safe-mp-'));
  fakeMain = join(dir, 'fake-main.mjs');
  await writeFile(fakeMain, FAKE_MAIN);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function start(dataDir: string, extra: Parameters<typeof startMultiProcessTestnet>[0] = {}): Promise<MultiProcessTestnet> {
  return startMultiProcessTestnet({ ...SMALL, dataDir, stackEnv: STACK, serviceMain: () => fakeMain, readyTimeoutMs: 10_000, ...extra });
}

describe('--stack', () => {
  it('is a flag of the command line: embedded or local', () => {
    expect(parseCommandLine(['--stack', 'local', '--fresh'])).toEqual({
      kind: 'run',
      overrides: { stack: 'local', fresh: true },
      trace: false,
    });
    expect(parseCommandLine(['--stack=embedded'])).toEqual({ kind: 'run', overrides: { stack: 'embedded' }, trace: false });
    expect(() => parseCommandLine(['--stack', 'k8s'])).toThrow(ConfigError);
  });
});

describe('the stack env', () => {
  it('reads KEY=VALUE lines and takes the environment first, then the stack env file', async () => {
    expect(parseEnvFile('# c\nexport A=1\nB="two"\n\nC=x=y\nnot a line\n')).toEqual({ A: '1', B: 'two', C: 'x=y' });
    const stackDir = join(dir, 'stack');
    await rm(stackDir, { recursive: true, force: true });
    await mkdir(stackDir);
    await writeFile(
      join(stackDir, 'stack.env'),
      'SAFE_POSTGRES_URL=postgres://f@h:1/d\nSAFE_REDIS_URL=redis://h:2\nSAFE_KAFKA_BROKERS=h:3\n',
    );
    expect(await loadStackEnv({ SAFE_STACK_DIR: stackDir, SAFE_KAFKA_BROKERS: 'k:9' })).toEqual({
      postgresUrl: 'postgres://f@h:1/d',
      redisUrl: 'redis://h:2',
      kafkaBrokers: 'k:9',
    });
    await expect(loadStackEnv({ SAFE_STACK_DIR: join(dir, 'nowhere') })).rejects.toThrow(
      /SAFE_POSTGRES_URL, SAFE_REDIS_URL, SAFE_KAFKA_BROKERS.*pnpm stack up/,
    );
  });
});

describe('startMultiProcessTestnet (stand-in replicas)', () => {
  it('starts one process per replica with its own dir, ports and log; kill, restart, scale and close', { timeout: 60_000 }, async () => {
    const dataDir = join(dir, 'net');
    const testnet = await start(dataDir, { fresh: true });
    const names = new Map(testnet.children.map((c) => [c.name, c.nodeName]));
    try {
      const children = testnet.children;
      expect(children.map((c) => c.name)).toEqual([
        'maid-manager-0',
        'maid-manager-1',
        'data-manager-0',
        'data-manager-1',
        'version-manager-0',
        'mpid-manager-0',
        'pmid-manager-0',
        'pmid-node-0',
        'pmid-node-1',
      ]);
      expect(testnet.summary).toBe(
        `2 maid-manager, 2 data-manager, 1 version-manager, 1 mpid-manager, 1 pmid-manager, 2 pmid-node (K=4), one process each, network ${testnet.network}`,
      );
      expect(testnet.endpoint).toBe(children[0]?.grpcEndpoint);
      const ports = children.flatMap((c) => [c.adminPort, c.grpcPort]);
      expect(new Set(ports).size).toBe(ports.length);
      expect(new Set(children.map((c) => c.pid)).size).toBe(children.length);
      for (const child of children) {
        expect(child.running).toBe(true);
        expect(processAlive(child.pid)).toBe(true);
        expect(child.dataDir).toBe(join(dataDir, child.persona, String(child.index)));
        expect(child.nodeName).toMatch(/^[0-9a-f]{128}$/);
        expect(child.schema).toBe(`${child.persona.replaceAll('-', '_')}_${child.nodeName.slice(0, 16)}`);
        expect(await readdir(child.dataDir)).toContain('node.key');
        expect(await readFile(child.logFile, 'utf8')).toContain(`fake replica ${child.persona}-${child.index} pid ${child.pid}`);
      }
      const pmidLog = await readFile(testnet.child('pmid-node', 0).logFile, 'utf8');
      expect(pmidLog).toContain('"k":"4"');
      expect(pmidLog).toContain(`"capacity":"${1024 ** 3}"`);
      expect(pmidLog).toContain('"brokers":"127.0.0.1:1"');
      expect(pmidLog).toContain(`"pg":"${STACK.postgresUrl}"`);
      // The DataManager's settings reach every replica, as the group parameters do.
      expect(pmidLog).toContain('"dm":"8"');
      expect(testnet.network).toMatch(/^testnet-[0-9a-f]{10}$/);
      expect(pmidLog).toContain(`"network":"${testnet.network}"`);
      expect(await readFile(testnet.child('maid-manager', 1).logFile, 'utf8')).toContain(`"keys":"${join(dataDir, 'pmid-node')}"`);

      const victim = testnet.child('data-manager', 1);
      expect(await testnet.kill('data-manager', 1)).toEqual({ code: null, signal: 'SIGKILL' });
      expect(processAlive(victim.pid)).toBe(false);
      expect(testnet.child('data-manager', 1).running).toBe(false);
      const again = await testnet.restart('data-manager', 1);
      expect(again.running).toBe(true);
      expect(again.pid).not.toBe(victim.pid);
      expect(again.nodeName).toBe(victim.nodeName);
      expect([again.adminPort, again.grpcPort]).toEqual([victim.adminPort, victim.grpcPort]);

      await testnet.scale('pmid-node', 3);
      expect(testnet.children.filter((c) => c.persona === 'pmid-node').map((c) => c.running)).toEqual([true, true, true]);
      const last = testnet.child('pmid-node', 2);
      await testnet.scale('pmid-node', 1);
      expect(testnet.children.filter((c) => c.persona === 'pmid-node').map((c) => c.name)).toEqual(['pmid-node-0']);
      expect(processAlive(last.pid)).toBe(false);
      expect(await readFile(last.logFile, 'utf8')).toContain('SIGTERM: stopping');
    } finally {
      await testnet.close();
    }
    for (const child of testnet.children) expect(processAlive(child.pid)).toBe(false);
    expect(await readdir(dataDir)).not.toContain('testnet.pid');

    // Same data dir without fresh: the same identities. With fresh: new ones.
    const resumed = await start(dataDir);
    const resumedNames = new Map(resumed.children.map((c) => [c.name, c.nodeName]));
    await resumed.close();
    expect(resumedNames).toEqual(names);
    const fresh = await start(dataDir, { fresh: true });
    const freshNames = fresh.children.map((c) => c.nodeName);
    await fresh.close();
    expect(freshNames.filter((n) => [...names.values()].includes(n))).toEqual([]);
  });

  it('names the child that does not get ready, with the tail of its log, and stops the others', { timeout: 60_000 }, async () => {
    const dataDir = join(dir, 'not-ready');
    const error = await start(dataDir, { fresh: true, readyTimeoutMs: 2000, childEnv: { FAKE_NEVER_READY: 'data-manager-1' } }).catch(
      (e: unknown) => e as Error,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /^data-manager-1 \(pid \d+\) is not ready after 2 s \(GET http:\/\/127\.0\.0\.1:\d+\/readyz: HTTP 503\)/,
    );
    expect((error as Error).message).toContain('fake replica data-manager-1');
    const failed = await start(join(dir, 'exits'), { fresh: true, childEnv: { FAKE_FAIL: 'pmid-manager-0' } }).catch(
      (e: unknown) => e as Error,
    );
    expect((failed as Error).message).toMatch(/^pmid-manager-0 \(pid \d+\) exited with code 3 before it was ready/);
    expect((failed as Error).message).toContain('cannot reach Kafka');
    // Nothing is left holding the data dir.
    expect(await readdir(dataDir)).not.toContain('testnet.pid');
  });

  it('stops what it started when the start is aborted (Ctrl-C while starting)', { timeout: 30_000 }, async () => {
    const dataDir = join(dir, 'aborted');
    const abort = new AbortController();
    const starting = start(dataDir, { fresh: true, abortSignal: abort.signal, childEnv: { FAKE_NEVER_READY: 'pmid-manager-0' } });
    setTimeout(() => abort.abort(), 1500);
    await expect(starting).rejects.toBeInstanceOf(StartAbortedError);
    const log = await readFile(join(dataDir, 'logs', 'pmid-manager-0.log'), 'utf8');
    const pid = Number(/pid (\d+)/.exec(log)?.[1]);
    expect(pid).toBeGreaterThan(0);
    expect(processAlive(pid)).toBe(false);
    expect(log).toContain('SIGTERM: stopping');
    expect(await readdir(dataDir)).not.toContain('testnet.pid');
  });

  it('refuses --fresh on a directory that is not a testnet, and a data dir in use', async () => {
    const foreign = join(dir, 'foreign');
    await mkdir(foreign, { recursive: true });
    await writeFile(join(foreign, 'thesis.tex'), 'x');
    await expect(start(foreign, { fresh: true })).rejects.toThrow(/thesis\.tex.*not a multi-process testnet's/);
    await writeFile(join(foreign, 'testnet.pid'), `${process.pid}\n`);
    await expect(start(foreign)).rejects.toThrow(/in use by another testnet/);
  });

  it('children stop by themselves when the launcher dies without stopping them', { timeout: 60_000 }, async () => {
    const launcher = `
      const { startMultiProcessTestnet } = await import(${JSON.stringify(new URL('../dist/multi-process.js', import.meta.url).href)});
      const testnet = await startMultiProcessTestnet({ ...${JSON.stringify(SMALL)}, dataDir: ${JSON.stringify(join(dir, 'orphans'))}, fresh: true,
        stackEnv: ${JSON.stringify(STACK)}, serviceMain: () => ${JSON.stringify(fakeMain)} });
      console.log(JSON.stringify(testnet.children.map((c) => c.pid)));
      setInterval(() => {}, 1000);`;
    const parent = spawn(process.execPath, ['--input-type=module', '-e', launcher], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    const pids = await new Promise<number[]>((done, fail) => {
      parent.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) done(JSON.parse(out) as number[]);
      });
      parent.once('exit', (code) => fail(new Error(`launcher exited ${code}: ${out}`)));
    });
    // Killed even when an expectation fails, or the launcher outlives the test with its children.
    try {
      expect(pids.length).toBe(9);
      expect(pids.every(processAlive)).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
    const deadline = Date.now() + 10_000;
    while (pids.some(processAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(pids.filter(processAlive)).toEqual([]);
    expect(await readFile(join(dir, 'orphans', 'logs', 'pmid-node-0.log'), 'utf8')).toContain('SIGTERM: stopping');
  });

  it('tails a log', async () => {
    const file = join(dir, 'tail.log');
    await writeFile(file, `${Array.from({ length: 50 }, (_, i) => `line ${i}`).join('\n')}\n`);
    expect(await tailOf(file, 3)).toBe('line 47\nline 48\nline 49');
    expect(await tailOf(join(dir, 'missing.log'))).toBe('');
  });
});
