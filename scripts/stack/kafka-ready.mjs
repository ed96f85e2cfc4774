#!/usr/bin/env node
// Readiness probe for the local Kafka broker, used by scripts/stack/stack.sh.
//
// Sends one real Kafka protocol request (Metadata v1, no topics) over plain TCP
// and succeeds only if the broker answers with at least one registered broker.
// A KRaft broker only answers Metadata this way once it has caught up with the
// metadata log and is unfenced, so this is a much stronger signal than an open port.
// Dependency-free on purpose: it must work before `pnpm install` (and on CI before
// anything is installed).
//
// usage: node kafka-ready.mjs <host> <port> [timeoutMs] [--coordinators]
// exit 0 and prints "brokers=<n> controller=<id> [<id>@<host>:<port> ...]" when ready;
// exit 1 with a reason on stderr otherwise.
//
// --coordinators (used by `stack up`): once the broker is ready, also send FindCoordinator for a
// group and for a transactional id until both succeed. That makes the broker create its internal
// __consumer_offsets and __transaction_state topics now, instead of during the first consumer
// group join / first transactional producer of a test run (which costs seconds of retries there).
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const warmCoordinators = process.argv.includes('--coordinators');
const host = args[0] ?? '127.0.0.1';
const port = Number(args[1] ?? 19092);
const timeoutMs = Number(args[2] ?? 3000);

const clientId = Buffer.from('safe-stack-probe', 'utf8');
const correlationId = 0x5afe;

// Request header v1: api_key int16, api_version int16, correlation_id int32, client_id string.
// Metadata v1 body: topics array (int32 count; 0 = no topics, -1 = all topics).
const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length + 4);
let o = 0;
o = body.writeInt16BE(3, o); // api_key = Metadata
o = body.writeInt16BE(1, o); // api_version = 1
o = body.writeInt32BE(correlationId, o);
o = body.writeInt16BE(clientId.length, o);
o += clientId.copy(body, o);
body.writeInt32BE(0, o); // topics: empty array -> brokers + controller only
const frame = Buffer.concat([Buffer.alloc(4), body]);
frame.writeInt32BE(body.length, 0);

function fail(msg) {
  process.stderr.write(`kafka-ready: ${msg}\n`);
  process.exit(1);
}

const sock = net.connect({ host, port });
const timer = setTimeout(() => {
  sock.destroy();
  fail(`no Metadata response from ${host}:${port} within ${timeoutMs}ms`);
}, timeoutMs);

let buf = Buffer.alloc(0);
sock.on('connect', () => sock.write(frame));
sock.on('error', (e) => {
  clearTimeout(timer);
  fail(`${host}:${port}: ${e.code ?? e.message}`);
});
sock.on('close', () => {
  clearTimeout(timer);
  fail(`connection to ${host}:${port} closed before a full response`);
});
sock.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  if (buf.length < 4) return;
  const size = buf.readInt32BE(0);
  if (buf.length < 4 + size) return;
  clearTimeout(timer);
  sock.removeAllListeners('close');
  sock.destroy();
  try {
    let p = 4;
    const cid = buf.readInt32BE(p);
    p += 4;
    if (cid !== correlationId) fail(`unexpected correlation id ${cid}`);
    const nBrokers = buf.readInt32BE(p);
    p += 4;
    const brokers = [];
    for (let i = 0; i < nBrokers; i++) {
      const id = buf.readInt32BE(p);
      p += 4;
      const hlen = buf.readInt16BE(p);
      p += 2;
      const h = buf.toString('utf8', p, p + hlen);
      p += hlen;
      const bport = buf.readInt32BE(p);
      p += 4;
      const rlen = buf.readInt16BE(p); // nullable rack
      p += 2;
      if (rlen > 0) p += rlen;
      brokers.push(`${id}@${h}:${bport}`);
    }
    const controller = buf.readInt32BE(p);
    if (nBrokers < 1) fail('broker answered Metadata but lists no live brokers yet');
    const line = `brokers=${nBrokers} controller=${controller} ${brokers.join(' ')}`;
    if (!warmCoordinators) {
      process.stdout.write(`${line}\n`);
      process.exit(0);
    }
    findCoordinators()
      .then((c) => {
        process.stdout.write(`${line} ${c}\n`);
        process.exit(0);
      })
      .catch((e) => fail(e.message));
  } catch (e) {
    fail(`could not parse Metadata response: ${e.message}`);
  }
});

// One request/response on a fresh connection; resolves with the response body after the correlation id.
function roundTrip(apiKey, apiVersion, payload, corr) {
  return new Promise((resolve, reject) => {
    const head = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length);
    let q = head.writeInt16BE(apiKey, 0);
    q = head.writeInt16BE(apiVersion, q);
    q = head.writeInt32BE(corr, q);
    q = head.writeInt16BE(clientId.length, q);
    clientId.copy(head, q);
    const msg = Buffer.concat([Buffer.alloc(4), head, payload]);
    msg.writeInt32BE(msg.length - 4, 0);
    const s = net.connect({ host, port }, () => s.write(msg));
    let acc = Buffer.alloc(0);
    const t = setTimeout(() => {
      s.destroy();
      reject(new Error(`no FindCoordinator response from ${host}:${port} within ${timeoutMs}ms`));
    }, timeoutMs);
    s.on('error', (e) => {
      clearTimeout(t);
      reject(new Error(`${host}:${port}: ${e.code ?? e.message}`));
    });
    s.on('data', (chunk) => {
      acc = Buffer.concat([acc, chunk]);
      if (acc.length < 4 || acc.length < 4 + acc.readInt32BE(0)) return;
      clearTimeout(t);
      s.destroy();
      if (acc.readInt32BE(4) !== corr) return reject(new Error('unexpected correlation id'));
      resolve(acc.subarray(8, 4 + acc.readInt32BE(0)));
    });
  });
}

// FindCoordinator v1: key string, key_type int8 (0 = group, 1 = transaction).
// Response v1: throttle_time_ms int32, error_code int16, error_message nullable string, node_id, host, port.
// Retriable errors (COORDINATOR_NOT_AVAILABLE=15, COORDINATOR_LOAD_IN_PROGRESS=14) while the internal
// topic is being created/loaded are retried until the overall deadline.
async function findCoordinators() {
  const deadline = Date.now() + Math.max(timeoutMs, 30000);
  const out = [];
  for (const [keyType, name] of [
    [0, 'group'],
    [1, 'txn'],
  ]) {
    const key = Buffer.from('safe-stack-warmup', 'utf8');
    const payload = Buffer.alloc(2 + key.length + 1);
    payload.writeInt16BE(key.length, 0);
    key.copy(payload, 2);
    payload.writeInt8(keyType, 2 + key.length);
    for (let attempt = 1; ; attempt++) {
      const res = await roundTrip(10, 1, payload, 0x5b00 + attempt);
      const err = res.readInt16BE(4);
      if (err === 0) {
        out.push(`${name}-coordinator=${res.readInt32BE(6 + 2 + Math.max(0, res.readInt16BE(6)))}`);
        break;
      }
      if (Date.now() > deadline) throw new Error(`FindCoordinator(${name}) still failing with error code ${err}`);
      await sleep(200);
    }
  }
  return out.join(' ');
}
