import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@safe/core';
import { describe, expect, it } from 'vitest';
import { describeTestnetConfig, loadTestnetConfig } from './config.js';
import { parseCommandLine } from './main.js';
import { tracingTarget } from './tracing.js';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'main.js');

describe('parseCommandLine', () => {
  it('reads the flags', () => {
    expect(parseCommandLine(['--data-dir', '/tmp/x', '--fresh', '--port', '0', '--host', '::1'])).toEqual({
      kind: 'run',
      overrides: { dataDir: '/tmp/x', fresh: true, port: 0, host: '::1' },
      trace: false,
    });
    expect(parseCommandLine(['--port=50052'])).toEqual({ kind: 'run', overrides: { port: 50052 }, trace: false });
    expect(parseCommandLine([])).toEqual({ kind: 'run', overrides: {}, trace: false });
    expect(parseCommandLine(['--trace', '--stack', 'local'])).toEqual({ kind: 'run', overrides: { stack: 'local' }, trace: true });
    expect(parseCommandLine(['--help'])).toEqual({ kind: 'help', text: expect.stringMatching(/^usage: safe-testnet /) });
    expect(parseCommandLine(['-h'])).toEqual(parseCommandLine(['--help']));
  });

  it('has help made by commander: every flag, with the variable and default of its config field', () => {
    const command = parseCommandLine(['--help']);
    const text = command.kind === 'help' ? command.text : '';
    for (const [flag, variable, fallback] of [
      ['--stack <embedded|local>', 'SAFE_TESTNET_STACK', 'embedded'],
      ['--data-dir <DIR>', 'SAFE_DATA_DIR', '.safe-testnet'],
      ['--fresh', 'SAFE_TESTNET_FRESH', 'false'],
      ['--host <HOST>', 'SAFE_TESTNET_HOST', '127.0.0.1'],
      ['--port <N>', 'SAFE_TESTNET_PORT', '50051'],
    ]) {
      expect(text).toContain(`  ${flag} `);
      expect(text.replace(/\s+/g, ' ')).toContain(`(env ${variable}, default ${fallback}`);
    }
    expect(text).toMatch(/^ {2}--trace /m);
    expect(text).toMatch(/^ {2}-h, --help /m);
    expect(text).toContain('packages/testnet/README.md');
  });

  it('refuses unknown flags, stray arguments and bad values with a ConfigError naming the flag', () => {
    for (const [args, message] of [
      [['--bogus'], "unknown option '--bogus'"],
      [['--prot', '1'], "unknown option '--prot' (Did you mean --port?)"],
      [['--port', 'x'], '--port must be an integer from 0 to 65535, got "x"'],
      [['--port', '70000'], '--port must be an integer from 0 to 65535, got "70000"'],
      [['--port'], '--port needs a value'],
      [['--stack', 'k8s'], '--stack must be one of embedded, local, got "k8s"'],
      [['positional'], 'unexpected argument "positional"'],
      [['--data-dir', ''], '--data-dir needs a value'],
      [['--host='], '--host needs a value'],
      [['--fresh=yes'], '--fresh takes no value'],
    ] as const) {
      expect(() => parseCommandLine(args), args.join(' ')).toThrow(ConfigError);
      expect(() => parseCommandLine(args), args.join(' ')).toThrow(message);
    }
  });
});

describe('tracingTarget', () => {
  it('takes OTEL_EXPORTER_OTLP_ENDPOINT, else the stack Jaeger, and says how to get one when there is none', async () => {
    const none = { SAFE_STACK_DIR: join(tmpdir(), 'no-such-stack-dir') };
    expect(await tracingTarget({ ...none, OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', SAFE_JAEGER_URL: 'http://j:16686' })).toEqual({
      otlpEndpoint: 'http://c:4318',
      jaegerUrl: 'http://j:16686',
    });
    expect(await tracingTarget({ ...none, SAFE_JAEGER_OTLP_ENDPOINT: 'http://j:4318' })).toEqual({
      otlpEndpoint: 'http://j:4318',
      jaegerUrl: undefined,
    });
    await expect(tracingTarget(none)).rejects.toThrow(/--trace needs somewhere to send spans.*pnpm stack up --jaeger/);
  });
});

describe('loadTestnetConfig', () => {
  it('takes the environment, then the flags', () => {
    const config = loadTestnetConfig({ SAFE_TESTNET_PORT: '6000', SAFE_DATA_DIR: 'env-dir', SAFE_K: '5' }, { port: 7000 });
    expect(config.port).toBe(7000);
    expect(config.dataDir).toBe('env-dir');
    expect(config.closeGroupSize).toBe(5);
    expect(config.maidManagers).toBe(6);
    expect(config.pmidNodes).toBe(8);
    expect(config.host).toBe('127.0.0.1');
    expect(() => loadTestnetConfig({ SAFE_TESTNET_PMID_NODES: 'many' })).toThrow(/SAFE_TESTNET_PMID_NODES/);
  });

  it('documents every variable', () => {
    const table = describeTestnetConfig();
    for (const variable of [
      'SAFE_TESTNET_PORT',
      'SAFE_TESTNET_HOST',
      'SAFE_DATA_DIR',
      'SAFE_K',
      'SAFE_TESTNET_PMID_CAPACITY',
      'SAFE_DM_MAX_HOLDERS',
    ]) {
      expect(table).toContain(`\`${variable}\``);
    }
  });
});

describe('safe-testnet', () => {
  it('prints its endpoint, stops on SIGINT with exit code 0, and exits 2 on a bad flag', { timeout: 60_000 }, async () => {
    const bad = spawn(process.execPath, [MAIN, '--nope'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let badErr = '';
    bad.stderr.on('data', (chunk: Buffer) => {
      badErr += chunk.toString();
    });
    expect(await new Promise((resolve) => bad.on('exit', resolve))).toBe(2);
    expect(badErr).toContain("safe-testnet: unknown option '--nope'\nusage: safe-testnet ");

    const help = spawn(process.execPath, [MAIN, '--help'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let helpOut = '';
    help.stdout.on('data', (chunk: Buffer) => {
      helpOut += chunk.toString();
    });
    expect(await new Promise((resolve) => help.on('exit', resolve))).toBe(0);
    expect(helpOut).toMatch(/^usage: safe-testnet \[--stack embedded\|local\]/);
    expect(helpOut).toContain('--data-dir <DIR>');

    const dataDir = await mkdtemp(join(tmpdir(), 'safe-testnet-cli-'));
    const env = {
      ...process.env,
      SAFE_TESTNET_MAID_MANAGERS: '4',
      SAFE_TESTNET_DATA_MANAGERS: '4',
      SAFE_TESTNET_VERSION_MANAGERS: '4',
      SAFE_TESTNET_MPID_MANAGERS: '4',
      SAFE_TESTNET_PMID_MANAGERS: '4',
      SAFE_TESTNET_PMID_NODES: '4',
    };
    const child = spawn(process.execPath, [MAIN, '--data-dir', dataDir, '--port', '0', '--fresh'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    try {
      let out = '';
      const ready = new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('testnet ready:')) resolve();
        });
        child.on('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
      });
      await ready;
      expect(out).toMatch(/^endpoint: 127\.0\.0\.1:\d+$/m);
      expect(out).toMatch(
        /^testnet ready: 4 maid-manager, 4 data-manager, 4 version-manager, 4 mpid-manager, 4 pmid-manager, 4 pmid-node \(K=4\)/m,
      );
      const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(code ?? `${signal} ${out}`)));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
