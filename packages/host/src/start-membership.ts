import { setTimeout as sleep } from 'node:timers/promises';
import type { Identity, MemberAnnouncement, RoutingTable } from '@safe/core';
import { shortName } from '@safe/core';
import type { DirectTransport } from '@safe/grpc';
import type { KafkaGroupConsumer } from '@safe/kafka';
import { type Redis, RedisMembership } from '@safe/redis';
import { membershipKey } from './config.js';
import type { CurrentView, StartContext } from './replica-context.js';
import type { ReplicaSet } from './replica-set.js';
import { describe, startStep } from './start-step.js';
import { routingFromMembers, viewIncludes, viewSignature } from './transport.js';

export interface Joined {
  readonly members: RedisMembership;
  /** This node's announcement (re-announced with its rank reports). */
  readonly self: MemberAnnouncement;
  /** The first view that includes this node. */
  readonly seen: RoutingTable;
}

/** Announces this node and waits to see itself in the view; the consumer follows that view from then on. */
export async function joinMembership(
  context: StartContext,
  client: Redis,
  identity: Identity,
  endpoint: string,
  view: CurrentView,
  consumer: KafkaGroupConsumer,
): Promise<Joined> {
  const { config, persona, log, readiness, cleanup } = context;
  const members = new RedisMembership(client, {
    key: membershipKey(config),
    heartbeatMs: config.heartbeatMs,
    expiryMs: config.memberExpiryMs,
    // Joins, leaves and rank changes come by pub/sub at once; the re-read only finds expired members,
    // and whichever member re-reads first tells every other: half the expiry is soon enough.
    sweepMs: Math.max(500, Math.floor(config.memberExpiryMs / 2)),
    onError: (error) => log.warn({ err: error.message }, 'membership trouble'),
  });
  // Leave at once at shutdown (others see the churn now, not at expiry); close with the stores.
  cleanup.deferStep('leave membership', 'leaving the membership', () => members.leave());
  cleanup.deferStep('membership', 'closing the membership', () => members.close());
  const self: MemberAnnouncement = { persona, name: identity.name, publicKey: identity.publicKey, endpoint };
  await startStep('Redis (membership)', config.connectTimeoutMs, () => members.join(self));
  const seen = await startStep('membership', config.joinTimeoutMs, async () => {
    for (;;) {
      const { routing } = routingFromMembers(await members.members());
      if (viewIncludes(routing, persona, identity.name)) return routing;
      await sleep(100, undefined, { ref: false });
    }
  });
  view.latest = seen;
  consumer.follow(seen.view(persona).names());
  readiness.require('membership', 'membership: this node is not in the view', () =>
    view.latest !== undefined ? viewIncludes(view.latest, persona, identity.name) : false,
  );
  log.info({ endpoint, members: seen.allNodes().length }, 'joined the membership');
  return { members, self, seen };
}

export interface ViewFollowers {
  readonly consumer: KafkaGroupConsumer;
  readonly direct: DirectTransport;
  readonly replicas: ReplicaSet;
}

/** Every later change of the view is a matrix change: the consumer, the direct channels and the replica follow it. */
export function watchMembership(context: StartContext, joined: Joined, view: CurrentView, followers: ViewFollowers): void {
  const { persona, log, metrics, cleanup } = context;
  let signature = viewSignature(joined.seen);
  const unwatch = joined.members.watch((now) => {
    const { routing, refused } = routingFromMembers(now);
    for (const why of refused) log.warn({ why }, 'membership announcement ignored');
    const next = viewSignature(routing);
    if (next === signature) return;
    const before = view.latest;
    signature = next;
    view.latest = routing;
    followers.consumer.follow(routing.view(persona).names());
    followers.direct.retain(routing.allNodes().flatMap((n) => (n.endpoint ? [n.endpoint] : [])));
    const names = (table: RoutingTable | undefined) => new Set(table?.allNodes().map((n) => `${n.persona}/${shortName(n.name)}`) ?? []);
    const old = names(before);
    const fresh = names(routing);
    const joinedNow = [...fresh].filter((n) => !old.has(n));
    const left = [...old].filter((n) => !fresh.has(n));
    if (joinedNow.length + left.length > 0) {
      metrics.inc('safe_membership_changes_total', { persona });
      log.info({ joined: joinedNow, left }, 'membership changed');
    } else log.debug({}, 'rank reports changed');
    void followers.replicas.follow(routing).catch((error: unknown) => log.error({ err: describe(error) }, 'routing update failed'));
  });
  // Stops before the leave, in the same stage.
  cleanup.defer('leave membership', () => unwatch());
}
