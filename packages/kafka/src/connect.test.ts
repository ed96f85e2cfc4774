import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { ConfigError, type Envelope, generateIdentity, type Logger, nameOf, silentLogger, UnavailableError } from '@safe/core';
import kafkajs, { type Admin, type ISocketFactory } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokersFromEnv, checkKafka, createKafka, kafkaLogCreator, parseBrokers } from './connect.js';
import { KafkaGroupConsumer } from './consumer.js';
import { KafkaProducerTransport, publishFailure } from './producer.js';
import { fromKafkaMessage, toKafkaMessage } from './record.js';
import { seqCopy, seqOf } from './test-support.js';
import { ensureTopics, groupIdFor, topicFor } from './topics.js';

const { logLevel } = kafkajs;
const brokers = brokersFromEnv();

interface Line {
  level: string;
  obj: object;
  msg: string | undefined;
}

function recordingLogger(lines: Line[]): Logger {
  const logger: Logger = {
    debug: (obj, msg) => lines.push({ level: 'debug', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
    child: () => logger,
  };
  return logger;
}

/** A port nothing listens on. */
async function deadPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * A TCP proxy in front of the one broker, that a test can kill (close the listener and end every
 * connection: what clients see when the broker process dies), black-hole (keep connections open
 * and answer nothing: a network partition) or restore. Only clients built with its socketFactory
 * go through it.
 */
async function brokerProxy(target: string) {
  const [host = '127.0.0.1', port = '9092'] = target.split(':');
  const pairs = new Set<[net.Socket, net.Socket]>();
  let mode: 'up' | 'silent' = 'up';
  const server = net.createServer((client) => {
    const upstream = net.connect({ host, port: Number(port) });
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const close = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.on('data', (chunk) => mode === 'up' && upstream.write(chunk));
    upstream.on('data', (chunk) => mode === 'up' && client.write(chunk));
  });
  const listen = (p: number) => new Promise<void>((resolve) => server.listen(p, '127.0.0.1', resolve));
  await listen(0);
  const proxyPort = (server.address() as net.AddressInfo).port;
  const dropAll = () => {
    for (const [client, upstream] of pairs) {
      client.end();
      upstream.destroy();
    }
  };
  const socketFactory: ISocketFactory = ({ onConnect }) => net.connect({ host: '127.0.0.1', port: proxyPort }, onConnect);
  return {
    socketFactory,
    async kill() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        dropAll();
      });
    },
    silence() {
      mode = 'silent';
    },
    async restore() {
      if (mode === 'silent') {
        mode = 'up';
        dropAll();
      }
      if (!server.listening) await listen(proxyPort);
    },
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        dropAll();
      });
    },
  };
}

function envelopeTo(persona: string, seq: number, trace: Record<string, string> = {}): Envelope {
  return seqCopy(generateIdentity(), persona, nameOf(randomBytes(8)), seq, trace);
}

describe('configuration and naming (no broker)', () => {
  it('parses broker lists and rejects bad ones', () => {
    expect(parseBrokers(' a:1, b:9092 ')).toEqual(['a:1', 'b:9092']);
    expect(parseBrokers(['127.0.0.1:19092'])).toEqual(['127.0.0.1:19092']);
    expect(() => parseBrokers('')).toThrow(ConfigError);
    expect(() => parseBrokers('localhost')).toThrow(/not host:port/);
    expect(brokersFromEnv({ SAFE_KAFKA_BROKERS: 'k1:9092,k2:9092' })).toEqual(['k1:9092', 'k2:9092']);
    expect(brokersFromEnv({})).toEqual(['127.0.0.1:19092']);
  });

  it('names topics and consumer groups after the persona and node name', () => {
    expect(topicFor('data-manager')).toBe('safe.data-manager');
    const node = nameOf(new Uint8Array([1]));
    const group = groupIdFor('data-manager', node);
    expect(group).toMatch(/^safe\.data-manager\.[0-9a-f]{32}$/);
    expect(() => topicFor('data manager')).toThrow(ConfigError);
    expect(() => topicFor('../x')).toThrow(ConfigError);
  });

  it('puts the NAE in the key and the trace context in headers, and reads it back', () => {
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'safe=1' };
    const envelope = envelopeTo('data-manager', 7, trace);
    const message = toKafkaMessage(envelope);
    expect(message.key).toMatch(/^[0-9a-f]{128}$/);
    expect(message.headers).toEqual(trace);
    const back = fromKafkaMessage({ value: message.value as Buffer, headers: {} });
    expect(back.id).toEqual(envelope.id);
    expect(back.trace).toEqual(trace);
    // A record whose envelope carries no trace takes it from the headers.
    const bare = toKafkaMessage(envelopeTo('data-manager', 8));
    const filled = fromKafkaMessage({ value: bare.value as Buffer, headers: { traceparent: Buffer.from(trace.traceparent) } });
    expect(filled.trace).toEqual({ traceparent: trace.traceparent });
    expect(() => fromKafkaMessage({ value: Buffer.from('not an envelope'), headers: {} })).toThrow(/safe\.v1\.Envelope|missing|type/);
    expect(() => fromKafkaMessage({ value: null, headers: {} })).toThrow(/no value/);
  });

  it('tells a publish the broker refused for good from one Kafka may take once it is back', () => {
    const kafkaError = (name: string, fields: object) => Object.assign(new Error(name), { name, ...fields });
    const tooLarge = publishFailure(['k:9092'], kafkaError('KafkaJSProtocolError', { type: 'MESSAGE_TOO_LARGE' }));
    expect(tooLarge).toMatchObject({ kind: 'resource-exhausted', message: expect.stringMatching(/^Kafka at k:9092 refused the copies/) });
    const leaderless = kafkaError('KafkaJSNumberOfRetriesExceeded', { originalError: { type: 'NOT_LEADER_FOR_PARTITION' } });
    expect(publishFailure(['k:9092'], leaderless)).toBeInstanceOf(UnavailableError);
    expect(publishFailure(['k:9092'], kafkaError('KafkaJSConnectionError', {}))).toBeInstanceOf(UnavailableError);
    const other = new Error('a bug');
    expect(publishFailure(['k:9092'], other)).toBe(other);
  });

  it('routes kafkajs warnings and errors to our logger and drops the rest', () => {
    const lines: Line[] = [];
    const log = kafkaLogCreator(recordingLogger(lines))(logLevel.WARN);
    const entry = (level: number, message: string) => ({
      namespace: 'BrokerPool',
      level,
      label: '',
      log: { timestamp: 'now', logger: 'kafkajs', message, broker: 'b:1' },
    });
    log(entry(logLevel.ERROR, 'Connection error'));
    log(entry(logLevel.WARN, 'slow'));
    log(entry(logLevel.INFO, 'chatty'));
    log(entry(logLevel.WARN, 'Limiting retries for the idempotent producer may invalidate EoS guarantees'));
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['error', 'Connection error'],
      ['warn', 'slow'],
      ['debug', 'Limiting retries for the idempotent producer may invalidate EoS guarantees'],
    ]);
    expect(lines[0]?.obj).toEqual({ kafkajs: 'BrokerPool', broker: 'b:1' });
  });
});

describe.concurrent('an unreachable Kafka', () => {
  it('fails the start-up check within seconds, naming Kafka and the broker address', async () => {
    const address = `127.0.0.1:${await deadPort()}`;
    const lines: Line[] = [];
    const kafka = createKafka({ brokers: address, logger: recordingLogger(lines) });
    const started = Date.now();
    const error = await checkKafka(kafka, address).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain(`Kafka at ${address} is unreachable`);
    expect((error as Error).message).toMatch(/ECONNREFUSED|connect/i);
    expect(Date.now() - started).toBeLessThan(10_000);
    // kafkajs' own complaints reached our logger, at warn or error.
    expect(lines.some((l) => l.level === 'error' || l.level === 'warn')).toBe(true);
  });

  it('refuses to start a consumer, naming Kafka and the broker address', async () => {
    const address = `127.0.0.1:${await deadPort()}`;
    const consumer = new KafkaGroupConsumer({ brokers: address, persona: 'data-manager', nodeName: generateIdentity().name });
    const error = await consumer
      .start(async () => {})
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as Error).message).toContain(`Kafka at ${address} is unreachable`);
    await consumer.stop();
  });

  it('refuses to start a producer, and send before start rejects', async () => {
    const address = `127.0.0.1:${await deadPort()}`;
    const transport = new KafkaProducerTransport({ brokers: address, logger: silentLogger });
    await expect(transport.send(envelopeTo('data-manager', 1))).rejects.toThrow(/not started/);
    await expect(transport.start()).rejects.toThrow(new RegExp(`Kafka at ${address} is unreachable`));
  });
});

describe('a broker that dies under a started producer', () => {
  let admin: Admin;
  const persona = `t${randomBytes(4).toString('hex')}-dead`;

  beforeAll(async () => {
    const kafka = createKafka({ brokers, clientId: 'safe-kafka-test-admin' });
    await checkKafka(kafka, brokers).catch((error: Error) => {
      throw new Error(
        `${error.message}\nThese tests need the local broker: run 'bash scripts/stack/stack.sh up' or set SAFE_KAFKA_BROKERS.`,
      );
    });
    admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [persona], 3);
  });

  afterAll(async () => {
    await admin?.deleteTopics({ topics: [topicFor(persona)] }).catch(() => {});
    await admin?.disconnect();
  });

  it("rejects send with UnavailableError within kafkajs' bounded retries when the broker dies, then recovers", async () => {
    const proxy = await brokerProxy(brokers[0] ?? '127.0.0.1:19092');
    // The send deadline is far away: the bound measured here is kafkajs' own retry.
    const transport = new KafkaProducerTransport({ brokers, socketFactory: proxy.socketFactory, sendTimeoutMs: 60_000 });
    try {
      await transport.start();
      await transport.send(envelopeTo(persona, 1));

      await proxy.kill();
      const started = Date.now();
      const error = await transport.send(envelopeTo(persona, 2)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as Error).message).toContain(`Kafka at ${brokers.join(',')} is unreachable`);
      expect(Date.now() - started).toBeLessThan(10_000);

      await proxy.restore();
      await transport.send(envelopeTo(persona, 3));
      await transport.stop();
      await expect(transport.send(envelopeTo(persona, 4))).rejects.toThrow(/stopped/);
    } finally {
      await transport.stop();
      await proxy.close();
    }
  }, 30_000);

  it('rejects send at the send deadline when the broker stops answering (network partition), then recovers', async () => {
    const proxy = await brokerProxy(brokers[0] ?? '127.0.0.1:19092');
    const transport = new KafkaProducerTransport({ brokers, socketFactory: proxy.socketFactory, sendTimeoutMs: 2_000 });
    try {
      await transport.start();
      await transport.send(envelopeTo(persona, 1));

      proxy.silence();
      const started = Date.now();
      const error = await transport.send(envelopeTo(persona, 2)).then(
        () => undefined,
        (e: unknown) => e,
      );
      const took = Date.now() - started;
      expect(error).toBeInstanceOf(UnavailableError);
      expect((error as Error).message).toMatch(/no answer within 2000 ms/);
      expect(took).toBeGreaterThanOrEqual(1_900);
      expect(took).toBeLessThan(4_000);

      await proxy.restore();
      await transport.send(envelopeTo(persona, 3));
    } finally {
      await transport.stop();
      await proxy.close();
    }
  }, 30_000);

  it('keeps a consumer going through a broker outage: it reads on once the broker is back', async () => {
    const proxy = await brokerProxy(brokers[0] ?? '127.0.0.1:19092');
    const direct = new KafkaProducerTransport({ brokers });
    const node = generateIdentity().name;
    const got: number[] = [];
    const consumer = new KafkaGroupConsumer({
      brokers,
      persona,
      nodeName: node,
      socketFactory: proxy.socketFactory,
      sessionTimeoutMs: 6_000,
      heartbeatIntervalMs: 1_000,
      maxWaitTimeMs: 500,
    });
    const until = async (n: number, ms: number) => {
      const deadline = Date.now() + ms;
      while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    };
    try {
      await direct.start();
      await consumer.start(async (e) => {
        got.push(seqOf(e));
      });
      for (let i = 100; i < 105; i++) await direct.send(envelopeTo(persona, i));
      await until(5, 10_000);
      expect(got).toHaveLength(5);

      await proxy.kill();
      for (let i = 105; i < 110; i++) await direct.send(envelopeTo(persona, i));
      await new Promise((r) => setTimeout(r, 1_500));
      await proxy.restore();
      // kafkajs restarts the consumer; it rejoins once the coordinator has dropped the old member.
      await until(10, 25_000);
      expect([...got].sort((a, b) => a - b)).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
    } finally {
      await consumer.stop();
      await direct.stop();
      await proxy.close();
    }
  }, 40_000);
});
