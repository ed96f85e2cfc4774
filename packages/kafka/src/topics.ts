import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, type Logger, silentLogger, toHex, UnavailableError } from '@safe/core';
import type { Admin, ITopicConfig } from 'kafkajs';
import { isLeaderlessError } from './connect.js';

export const TOPIC_PREFIX = 'safe.';
/**
 * Partitions of a persona topic created here. Copies are partitioned by NAE range and a replica
 * reads only the partitions of its XOR neighbourhood, so the more partitions, the closer the
 * copies read per copy come to K (about K + 0.1 with 12 members at 64; see the README). The count
 * is fixed when the topic is created.
 */
export const DEFAULT_PARTITIONS = 64;

// Kafka's legal topic characters; the persona becomes part of the topic and of every group id.
const PERSONA_PATTERN = /^[A-Za-z0-9_-]+$/;

function checkPersona(persona: string): void {
  if (!PERSONA_PATTERN.test(persona) || persona.length > 150) {
    throw new ConfigError(`persona '${persona}' cannot name a Kafka topic (letters, digits, '-' and '_' only)`);
  }
}

const NETWORK_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * The topic every copy addressed to `persona` goes to: `safe.<persona>`, or
 * `safe.<network>.<persona>` for a named network, so that several networks can share one Kafka
 * (e.g. two testnets, or test suites, on one machine) without reading each other's copies.
 */
export function topicFor(persona: string, network = ''): string {
  checkPersona(persona);
  if (network === '') return `${TOPIC_PREFIX}${persona}`;
  if (!NETWORK_PATTERN.test(network))
    throw new ConfigError(`network '${network}' cannot name a Kafka topic (lower-case letters, digits and '-')`);
  return `${TOPIC_PREFIX}${network}.${persona}`;
}

/**
 * The consumer group of one replica: `safe.<persona>.<first 32 hex digits of its node name>`.
 * Every replica has a group of its own (it chooses the partitions it reads, those of its XOR
 * neighbourhood, which no group assignment among replicas could express); a restart with the
 * same identity resumes at its own committed offsets.
 */
export function groupIdFor(persona: string, nodeName: Uint8Array, network = ''): string {
  if (nodeName.length === 0) throw new ConfigError('a consumer group needs the node name');
  return `${topicFor(persona, network)}.${toHex(nodeName).slice(0, 32)}`;
}

export interface EnsureTopicsOptions {
  /** Copies of each partition; default -1 = the broker's default.replication.factor. */
  readonly replicationFactor?: number;
  /** Extra topic configuration, e.g. `min.insync.replicas`. */
  readonly configEntries?: ITopicConfig['configEntries'];
  readonly logger?: Logger;
  /** The network's name, if any (see topicFor). */
  readonly network?: string;
  /** How long to wait for the partitions of topics just created (or just created by another replica) to have leaders (default 15 000 ms). */
  readonly leaderWaitMs?: number;
}

/** Waits until every partition of `topics` has a leader, through the broker's not knowing them yet. */
async function waitForLeaders(admin: Admin, topics: readonly string[], timeoutMs: number): Promise<void> {
  if (topics.length === 0) return;
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const { topics: found } = await admin.fetchTopicMetadata({ topics: [...topics] });
      const led = (t: (typeof found)[number]) => t.partitions.length > 0 && t.partitions.every((p) => p.leader >= 0);
      if (found.length === topics.length && found.every(led)) return;
    } catch (error) {
      if (!isLeaderlessError(error)) throw error;
    }
    if (Date.now() > deadline)
      throw new UnavailableError(`Kafka made topics ${topics.join(', ')} but they have no leaders after ${timeoutMs} ms`);
    await sleep(Math.min(50 * attempt, 500), undefined, { ref: false });
  }
}

export interface EnsureTopicsResult {
  readonly created: string[];
  readonly existing: string[];
}

/**
 * Creates `safe.<persona>` for each persona that has no topic yet, with `partitions` partitions,
 * and waits for their leaders. Idempotent and safe to race: every replica calls it at start.
 * An existing topic is left as it is (changing its partition count would move keys between
 * partitions and break per-NAE order); a different count is logged.
 */
export async function ensureTopics(
  admin: Admin,
  personas: readonly string[],
  partitions: number = DEFAULT_PARTITIONS,
  options: EnsureTopicsOptions = {},
): Promise<EnsureTopicsResult> {
  if (!Number.isInteger(partitions) || partitions < 1) throw new ConfigError(`partitions must be a positive integer, got ${partitions}`);
  const log = options.logger ?? silentLogger;
  const wanted = [...new Set(personas.map((persona) => topicFor(persona, options.network)))];
  const present = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !present.has(t));
  const existing = wanted.filter((t) => present.has(t));

  if (missing.length > 0) {
    // Resolves false when every topic already existed (another replica won the race). kafkajs'
    // own wait for leaders gives up when the broker does not know a topic it just created yet.
    const made = await admin.createTopics({
      waitForLeaders: false,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: partitions,
        replicationFactor: options.replicationFactor ?? -1,
        ...(options.configEntries ? { configEntries: options.configEntries } : {}),
      })),
    });
    if (made) log.info({ topics: missing, partitions }, 'created group bus topics');
    else existing.push(...missing.splice(0));
    await waitForLeaders(admin, made ? missing : existing, options.leaderWaitMs ?? 15_000);
  }

  if (existing.length > 0) {
    const { topics } = await admin.fetchTopicMetadata({ topics: existing });
    for (const t of topics) {
      if (t.partitions.length !== partitions) {
        log.warn(
          { topic: t.name, partitions: t.partitions.length, configured: partitions },
          'group bus topic exists with another partition count; left as it is',
        );
      }
    }
  }
  return { created: missing, existing };
}
