import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContentMismatchError, SafeError } from '@safe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliError, DEFAULT_ENDPOINT, describeFailure, EXIT, parseCommand, parseCommandLine } from './cli-main.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const NAME = 'ab'.repeat(64);

/** A port nothing listens on: bound, then released. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('parseCommand', () => {
  it('reads commands, names and options', () => {
    expect(parseCommand(['put', 'a.txt'])).toEqual({ command: 'put', endpoint: DEFAULT_ENDPOINT, file: 'a.txt' });
    const get = parseCommand(['get', NAME, '-o', 'out.bin', '--endpoint', 'h:1']);
    expect(get).toMatchObject({ command: 'get', endpoint: 'h:1', output: 'out.bin' });
    expect(parseCommand(['rm', NAME], { SAFE_ENDPOINT: '10.0.0.1:7' })).toMatchObject({ command: 'rm', endpoint: '10.0.0.1:7' });
    expect(parseCommand(['--endpoint', '[::1]:50051', 'info'])).toEqual({ command: 'info', endpoint: '[::1]:50051' });
    expect(parseCommand(['account'])).toEqual({ command: 'account', endpoint: DEFAULT_ENDPOINT });
    expect(parseCommand(['--help'])).toMatchObject({ command: 'help', text: expect.stringContaining('usage: safe [--endpoint') });
    expect(parseCommand(['put', '-h'])).toMatchObject({ command: 'help', text: expect.stringContaining('usage: safe put FILE') });
    expect(parseCommand(['version', 'get', '--help'])).toMatchObject({ text: expect.stringContaining('usage: safe version get KEY [ID]') });
    expect(parseCommand(['msg', 'listen', '--once', '--from', 'me'])).toMatchObject({
      command: 'msg',
      sub: 'listen',
      once: true,
      from: 'me',
    });
    expect(parseCommand(['version', 'put', 'my notes', 'a.txt', '--parent', NAME, '--max-branches', '3'])).toMatchObject({
      command: 'version',
      sub: 'put',
      key: 'my notes',
      file: 'a.txt',
      limits: { maxVersions: 0, maxBranches: 3 },
    });
    expect(parseCommand(['version', 'get', 'k', '-o', 'out'])).toMatchObject({ sub: 'get', key: 'k', id: undefined, output: 'out' });
    expect(parseCommand(['version', 'rm', 'k', NAME])).toMatchObject({ sub: 'rm', key: 'k' });
    expect(parseCommand(['trace', 'AB'.repeat(16)], { SAFE_JAEGER_URL: 'http://j:16686' })).toEqual({
      command: 'trace',
      id: 'ab'.repeat(16),
      jaeger: 'http://j:16686',
    });
    expect(parseCommandLine(['--trace', 'put', 'a.txt'])).toEqual({
      command: { command: 'put', endpoint: DEFAULT_ENDPOINT, file: 'a.txt' },
      trace: true,
    });
    expect(parseCommandLine(['info']).trace).toBe(false);
  });

  it.each([
    [[], /missing command/],
    [['frob'], /unknown command "frob"/],
    [['get'], /get: missing NAME/],
    [['get', 'nothex'], /^invalid name: must be 128 hex characters/],
    [['rm', `${NAME}0`], /^invalid name/],
    [['put'], /put: missing FILE/],
    [['trace', 'abc'], /invalid trace id "abc": expected 32 hex characters/],
    [['trace'], /trace: missing ID/],
    [['put', 'a', 'b'], /unexpected argument "b"/],
    [['account', 'x'], /unexpected argument "x"/],
    [['info', '--endpoint', 'nope'], /invalid endpoint "nope": expected HOST:PORT/],
    [['info', '--endpoint', 'h:70000'], /invalid endpoint/],
    [['put', 'a', '-o', 'b'], /-o is an option of get/],
    [['get', NAME, '--frob'], /unknown option '--frob'/],
    [['version'], /version: missing put, tips, log, get or rm/],
    [['version', 'frob', 'k'], /version: unknown command "frob"/],
    [['version', 'tips'], /version tips: missing KEY/],
    [['version', 'rm', 'k'], /version rm: missing ID/],
    [['version', 'log', 'k', 'nothex'], /^invalid name/],
    [['version', 'tips', 'k', '-o', 'x'], /version tips: no -o here/],
    [['version', 'put', 'k', 'f', '--max-versions', '257'], /maxVersions must be from 1 to 256/],
    [['put', 'f', '--parent', NAME], /--parent is an option of version put/],
    [['msg'], /^msg: missing send, listen, allow, disallow, block, unblock or lists \(see safe msg --help\)$/],
    [['msg', 'send', 'a', 'b', '--once'], /msg send: no --once here \(--once is an option of msg listen\)/],
    [['mpid', 'create', 'a', '--from', 'b'], /mpid create: no --from here/],
    [['help', 'frob'], /unknown command "frob"/],
    [['gte', NAME], /unknown command "gte" \(Did you mean get\?\)/],
  ])('%j is a usage error', (argv, message) => {
    let error: unknown;
    try {
      parseCommand(argv);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(CliError);
    expect((error as CliError).code).toBe(EXIT.usage);
    expect((error as CliError).message).toMatch(message);
  });
});

describe('describeFailure', () => {
  it.each([
    [new SafeError('not-found', 'no chunk abcd… on the network'), EXIT.notFound, 'not found: no chunk abcd… on the network'],
    [new SafeError('resource-exhausted', 'cannot exceed limit: 2 branches'), EXIT.limit, 'over a limit: cannot exceed limit: 2 branches'],
    [
      new SafeError('resource-exhausted', 'out of space: the chunk needs 5 bytes'),
      EXIT.outOfSpace,
      'out of space: the chunk needs 5 bytes',
    ],
    [
      new SafeError(
        'unavailable',
        'cannot reach the network at 127.0.0.1:1: No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1.',
      ),
      EXIT.unavailable,
      'cannot reach the network at 127.0.0.1:1 (ECONNREFUSED)',
    ],
    [
      new SafeError('unavailable', 'the maid-manager group gave different answers'),
      EXIT.unavailable,
      'unavailable: the maid-manager group gave different answers',
    ],
    [new SafeError('deadline-exceeded', 'no agreed answer\nwithin 5 ms'), EXIT.unavailable, 'timed out: no agreed answer within 5 ms'],
    [new ContentMismatchError('chunk 1 does not match its name'), EXIT.corrupt, 'corrupt data: chunk 1 does not match its name'],
    [new SafeError('permission-denied', 'nope'), EXIT.other, 'permission denied: nope'],
    [new Error('boom'), EXIT.other, 'boom'],
  ])('%s → exit %i', (error, code, message) => {
    expect(describeFailure(error)).toEqual({ code, message });
  });
});

describe('the safe command (built CLI, no network)', () => {
  let home: string;
  let endpoint: string;

  beforeAll(async () => {
    home = await mkdtemp(join(tmpdir(), 'safe-cli-'));
    endpoint = `127.0.0.1:${await freePort()}`;
  });
  afterAll(async () => {
    await rm(home, { recursive: true, force: true });
  });

  function safe(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return safeWith({}, ...args);
  }

  function safeWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [CLI, ...args],
        { env: { ...process.env, SAFE_HOME: join(home, 'id'), SAFE_ENDPOINT: endpoint, ...env }, timeout: 20_000 },
        (error, stdout, stderr) => {
          resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
        },
      );
    });
  }

  const oneLine = (stderr: string) => {
    expect(stderr.endsWith('\n')).toBe(true);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
    return stderr.trimEnd();
  };

  it('--help documents the commands and the exit codes', async () => {
    const { code, stdout, stderr } = await safe('--help');
    expect(code).toBe(0);
    expect(stderr).toBe('');
    for (const word of [
      'put FILE',
      'get NAME',
      'rm NAME',
      'account',
      'info',
      'trace ID',
      '--trace',
      '--endpoint',
      'SAFE_ENDPOINT',
      'exit codes',
      '3  not found',
    ]) {
      expect(stdout).toContain(word);
    }
  });

  it('--trace prints the trace id first, and says once that its spans cannot be exported', async () => {
    const collector = `http://127.0.0.1:${await freePort()}`;
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: collector, SAFE_HOME: join(home, 'traced') };
    const { code, stderr } = await safeWith(env, '--trace', 'info');
    expect(code).toBe(EXIT.unavailable);
    const lines = stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^trace: [0-9a-f]{32}$/);
    expect(lines.filter((line) => line.startsWith(`safe: warning: spans could not be exported to ${collector}`))).toHaveLength(1);
    expect(lines.at(-1)).toMatch(/^safe: cannot reach the network at /);
  });

  it('safe get nothex exits 2 with one line and makes no identity', async () => {
    const { code, stdout, stderr } = await safe('get', 'nothex');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(oneLine(stderr)).toBe('safe: invalid name: must be 128 hex characters, got 6 ("nothex")');
    await expect(readdir(join(home, 'id'))).rejects.toThrow();
  });

  it('safe put /no/such/file exits 2 naming the file', async () => {
    const { code, stderr } = await safe('put', '/no/such/file');
    expect(code).toBe(2);
    expect(oneLine(stderr)).toBe('safe: no such file: /no/such/file');
  });

  it('no command, an unknown command or option exit 2 with one line', async () => {
    for (const args of [[], ['frob'], ['get', NAME, '--frob'], ['info', '--endpoint', 'nope']]) {
      const { code, stderr } = await safe(...args);
      expect(code).toBe(2);
      expect(oneLine(stderr)).toMatch(/^safe: /);
    }
  });

  it.each([['info'], ['account'], ['get', NAME], ['rm', NAME]])(
    'safe %s against nothing exits 4: cannot reach the network',
    async (...args) => {
      const { code, stdout, stderr } = await safe(...args);
      expect(code).toBe(4);
      expect(stdout).toBe('');
      expect(oneLine(stderr)).toBe(`safe: cannot reach the network at ${endpoint} (ECONNREFUSED)`);
    },
  );

  it('safe put of a real file against nothing exits 4, and --endpoint beats SAFE_ENDPOINT', async () => {
    const file = join(home, 'small.txt');
    await writeFile(file, 'hello');
    const other = `127.0.0.1:${await freePort()}`;
    const { code, stdout, stderr } = await safe('put', file, '--endpoint', other);
    expect(code).toBe(4);
    expect(stdout).toBe('');
    expect(oneLine(stderr)).toBe(`safe: cannot reach the network at ${other} (ECONNREFUSED)`);
  });

  it('a failed get -o leaves no OUT and no temporary file behind', async () => {
    const dir = join(home, 'out');
    await mkdir(dir);
    const { code } = await safe('get', NAME, '-o', join(dir, 'file.bin'));
    expect(code).toBe(4);
    expect(await readdir(dir)).toEqual([]);
  });

  it('get -o into a missing folder exits 2 before any network call', async () => {
    const { code, stderr } = await safe('get', NAME, '-o', join(home, 'no', 'such', 'dir', 'f'));
    expect(code).toBe(2);
    expect(oneLine(stderr)).toMatch(/^safe: cannot write .*: no such directory$/);
  });

  it('get -o refuses a directory, an existing file without --force, and a device, before any network call', async () => {
    const dir = join(home, 'target');
    await mkdir(dir);
    const asDir = await safe('get', NAME, '-o', dir);
    expect(asDir.code).toBe(2);
    expect(oneLine(asDir.stderr)).toBe(`safe: cannot write ${dir}: it is a directory (name the file to write in it)`);
    const existing = join(dir, 'kept.txt');
    await writeFile(existing, 'mine');
    const kept = await safe('get', NAME, '-o', existing);
    expect(kept.code).toBe(2);
    expect(oneLine(kept.stderr)).toBe(`safe: ${existing} exists: add --force to replace it`);
    expect(await readFile(existing, 'utf8')).toBe('mine');
    const device = await safe('get', NAME, '-o', '/dev/null', '--force');
    expect(device.code).toBe(2);
    expect(oneLine(device.stderr)).toBe('safe: cannot write /dev/null: not a regular file');
    // With --force an existing file passes the checks: the (unreachable) network is what fails, and the file is untouched.
    const forced = await safe('get', NAME, '-o', existing, '--force');
    expect(forced.code).toBe(4);
    expect(await readFile(existing, 'utf8')).toBe('mine');
    expect((await safe('put', existing, '--force')).code).toBe(2);
  });
});
