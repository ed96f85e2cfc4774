import {
  DEFAULT_GROUP_PARAMETERS,
  type GroupParameters,
  type Identity,
  nameOf,
  REPORT_ORDER,
  ReplyStatus,
  replyStatusName,
  toHex,
  transferAgreement,
} from '@safe/core';
import type { SimNode } from '@safe/core/sim';
import type { NetworkPersona } from '@safe/testnet';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ClientFiles,
  checkNetworkInvariant,
  describeChunk,
  holdersOfAnyCopy,
  liveCopies,
  settleRepairs,
} from '../support/network-invariant.js';
import { SimMpid } from '../support/sim-mpid.js';
import { SimNet } from '../support/sim-network.js';
import { SimSdv, shown, version } from '../support/sim-versions.js';

/**
 * The opportunistic chunk cache is on, as in a real network: some members of a chunk's
 * DataManager group answer a Get from their caches while the rest (say members that joined since)
 * ask the holder, which answers on the first member's copy (accumulate on 1). SAFE_CHURN_CACHE=0
 * turns it off.
 */
const cache = process.env.SAFE_CHURN_CACHE !== '0';
// Small transfer batches, so account transfer drains over several ticks while clients keep working.
const params: GroupParameters = {
  ...DEFAULT_GROUP_PARAMETERS,
  transferBatchRecords: 8,
  transferBatchesPerTick: 4,
  ...(cache ? {} : { cacheBytes: 0, cacheEntries: 0 }),
};
const K = params.closeGroupSize;
const seed = Number(process.env.SAFE_CHURN_SEED ?? 2026);
const STEPS = Number(process.env.SAFE_CHURN_STEPS ?? 200);
// Every persona of the network (their report order is their list).
const PERSONAS = REPORT_ORDER as readonly NetworkPersona[];
/**
 * Two modes, both run by default: the clients' Gets, Puts and Deletes between churn steps, on the
 * settled network; and concurrent, while each step's account transfer and repairs are under way.
 * SAFE_CHURN_CONCURRENT=1 runs only the concurrent mode, =0 only the settled one. The concurrent
 * mode is the one that catches members that just entered a close group acting without its records
 * (~3 min for 200 steps); the seeds that found such defects are in the commit history.
 */
const MODES: readonly boolean[] =
  process.env.SAFE_CHURN_CONCURRENT === '1' ? [true] : process.env.SAFE_CHURN_CONCURRENT === '0' ? [false] : [false, true];
/** SAFE_CHURN_VERBOSE=1 prints each step as it settles, with the time spent running it and checking it. */
const verbose = process.env.SAFE_CHURN_VERBOSE === '1';

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

const hex6 = (name: Uint8Array) => toHex(name).slice(0, 6);

describe('churn of every persona while clients Put, Get, Delete, keep versions and send messages, on the deterministic network', () => {
  it.each(MODES.map((concurrent) => ({ concurrent, mode: concurrent ? 'concurrent with the clients' : 'clients between steps' })))(
    `${STEPS} seeded steps of joins, leaves and rejoins keep records, copies and accounts exact ($mode, seed ${seed})`,
    async ({ concurrent }) => {
      const replay = `replay with SAFE_CHURN_SEED=${seed} SAFE_CHURN_CONCURRENT=${concurrent ? 1 : 0}${cache ? '' : ' SAFE_CHURN_CACHE=0'}`;
      const started = Date.now();
      net = await SimNet.start({
        seed,
        params,
        counts: { 'pmid-node': 12, 'version-manager': 6, 'mpid-manager': 6 },
        reorder: true,
        duplicateRate: 0.02,
      });
      const sim = net.sim;
      const random = sim.random;
      const copiesPerGroup = net.dataManagerConfig.copiesPerGroup;
      // Simultaneous changes to one persona: at most K − 1, of which at most K − (K+1)/2 leaves of a
      // manager persona (each group keeps (K+1)/2 members that can vouch for its records), and
      // never fewer than K + 1 replicas of it left.
      const maxLeaves = K - transferAgreement(params);
      // PmidNodes: every must-store copy needs copiesPerGroup distinct live holders, with a close
      // group's worth to spare for the DataManagers to choose from.
      const minPmidNodes = K + 2 * copiesPerGroup;
      const clients = [net.newClient(), net.newClient()].map((c) => new ClientFiles(c));
      for (const files of clients) await net.setUpClient(files.client);
      // Each client also keeps versions of a journal: a chain of versions, its tip known here.
      const journals = clients.map((files) => ({
        sdv: new SimSdv(net as SimNet, files.client, 'journal'),
        tip: null as ReturnType<typeof version> | null,
        count: 0,
      }));
      const versionOp = async (done: string[]) => {
        const journal = journals[random.int(journals.length)] as (typeof journals)[number];
        if (journal.tip !== null && random.chance(0.3)) {
          const tips = SimSdv.versions(await journal.sdv.tips());
          if (shown(tips).join() !== shown([journal.tip]).join())
            throw new Error(`journal tips ${shown(tips)}, expected ${shown([journal.tip])}`);
          done.push('vtips');
          return;
        }
        const next = version(journal.count, `journal ${journal.count} ${random.int(1 << 30)}`);
        const reply = await journal.sdv.put(journal.tip, next);
        if (reply.status !== ReplyStatus.OK) throw new Error(`PutVersion ${next.index}: ${replyStatusName(reply.status)} ${reply.message}`);
        journal.tip = next;
        journal.count++;
        counts.versions++;
        done.push(`vput ${next.index}`);
      };
      // And a public id: each sends the other messages, held until the other reads and acknowledges them.
      const mpids = clients.map((files, i) => ({ mpid: new SimMpid(net as SimNet, files.client, `churner${i}`), pending: [] as string[] }));
      for (const { mpid } of mpids) expect((await mpid.create()).status).toBe(ReplyStatus.OK);
      let sent = 0;
      const messageOp = async (done: string[]) => {
        const from = random.int(mpids.length);
        const to = mpids[(from + 1) % mpids.length] as (typeof mpids)[number];
        const body = `message ${++sent}`;
        const reply = await (mpids[from] as (typeof mpids)[number]).mpid.send(to.mpid.text, body, `m${sent}`, sent);
        if (reply.status !== ReplyStatus.OK) throw new Error(`SendMessage ${sent}: ${replyStatusName(reply.status)} ${reply.message}`);
        to.pending.push(`churner${from}:${body}`);
        counts.messages++;
        done.push(`msg ${sent}`);
      };
      // On the settled network: exactly what was sent and not yet taken, in order; then taken.
      const readOp = async (done: string[]) => {
        const reader = mpids[random.int(mpids.length)] as (typeof mpids)[number];
        const held = SimMpid.messages(await reader.mpid.inbox());
        const shownHeld = held.map((m) => `${m.from}:${Buffer.from(m.body).toString()}`);
        if (shownHeld.join('|') !== reader.pending.join('|'))
          throw new Error(`${reader.mpid.text} holds ${shownHeld.join(', ')}; expected ${reader.pending.join(', ')}`);
        counts.reads++;
        if (held.length === 0) return;
        const ack = await reader.mpid.acknowledge(held);
        if (ack.status !== ReplyStatus.OK) throw new Error(`Acknowledge: ${ack.status} ${ack.message}`);
        reader.pending = [];
        done.push(`read ${held.length}`);
      };

      const log: string[] = [];
      const away: Identity[] = [];
      const counts = {
        joins: 0,
        leaves: 0,
        rejoins: 0,
        multi: 0,
        puts: 0,
        reputs: 0,
        gets: 0,
        deletes: 0,
        versions: 0,
        messages: 0,
        reads: 0,
      };
      const context = (problems: readonly string[]) =>
        `${replay}: after step ${log.at(-1) ?? 'setup'}\n${problems.slice(0, 12).join('\n')}\nlast steps:\n${log.slice(-20).join('\n')}`;

      const clientOp = async (done: string[], only?: 'get') => {
        const files = clients[random.int(clients.length)] as ClientFiles;
        const live = files.live;
        if (only === 'get' && live.length === 0) return;
        const r = only === 'get' ? 0.6 : random.next();
        if (live.length === 0 || r < 0.35) {
          const content = random.bytes(1 + random.int(4000));
          const reply = await (net as SimNet).put(files.client, content);
          if (reply.status !== ReplyStatus.OK)
            throw new Error(`Put ${hex6(nameOf(content))}: ${replyStatusName(reply.status)} ${reply.message}`);
          files.put(content);
          counts.puts++;
          done.push(`put ${hex6(nameOf(content))}`);
        } else if (r < 0.5) {
          // Another copy of a chunk either client holds: charged again, one subscriber more.
          const everyone = clients.flatMap((c) => c.live);
          const content = everyone[random.int(everyone.length)] as Uint8Array;
          const reply = await (net as SimNet).put(files.client, content);
          if (reply.status !== ReplyStatus.OK)
            throw new Error(`Put again ${hex6(nameOf(content))}: ${replyStatusName(reply.status)} ${reply.message}`);
          files.put(content);
          counts.reputs++;
          done.push(`reput ${hex6(nameOf(content))}`);
        } else if (r < 0.8) {
          const content = live[random.int(live.length)] as Uint8Array;
          const reply = await (net as SimNet).get(files.client, nameOf(content)).catch(async (error: unknown) => {
            throw new Error(
              `Get ${hex6(nameOf(content))}: ${(error as Error).message}\n${await describeChunk(net as SimNet, nameOf(content))}`,
            );
          });
          if (reply.status !== ReplyStatus.OK)
            throw new Error(
              `Get ${hex6(nameOf(content))}: ${replyStatusName(reply.status)} ${reply.message}\n${await describeChunk(net as SimNet, nameOf(content))}`,
            );
          if (!Buffer.from((net as SimNet).decodeGet(reply)).equals(Buffer.from(content)))
            throw new Error(`Get ${hex6(nameOf(content))}: other bytes than were stored`);
          counts.gets++;
          done.push(`get ${hex6(nameOf(content))}`);
        } else {
          const content = live[random.int(live.length)] as Uint8Array;
          const reply = await (net as SimNet).delete(files.client, nameOf(content));
          if (reply.status !== ReplyStatus.OK)
            throw new Error(`Delete ${hex6(nameOf(content))}: ${replyStatusName(reply.status)} ${reply.message}`);
          files.delete(nameOf(content));
          counts.deletes++;
          done.push(`delete ${hex6(nameOf(content))}`);
        }
      };

      /** A PmidNode that may leave now: never the last live holder of a chunk someone still holds. */
      const pmidLeaver = async (gone: Set<string>): Promise<SimNode | undefined> => {
        const copies = await liveCopies(net as SimNet);
        const held = clients.flatMap((c) => c.live).map((content) => holdersOfAnyCopy(copies, nameOf(content)));
        const candidates = sim.nodes('pmid-node').filter((node) => {
          const leaving = new Set([...gone, toHex(node.info.name)]);
          return held.every((on) => [...on].some((pmid) => !leaving.has(pmid)));
        });
        return candidates[random.int(candidates.length)];
      };

      const churn = async (persona: NetworkPersona, events: number, done: string[]) => {
        const gone = new Set<string>();
        for (let e = 0; e < events; e++) {
          const present = sim.nodes(persona);
          if (persona === 'pmid-node') {
            const canLeave = present.length - 1 >= minPmidNodes;
            if (away.length > 0 && random.chance(0.3)) {
              const [identity] = away.splice(random.int(away.length), 1) as [Identity];
              await (net as SimNet).rejoin('pmid-node', identity);
              counts.rejoins++;
              done.push(`^${hex6(identity.name)}`);
              continue;
            }
            const leaving = canLeave && random.chance(0.5) ? await pmidLeaver(gone) : undefined;
            if (leaving !== undefined) {
              // Some come back later with their disks (SendAccount), some never do.
              if (random.chance(0.5)) away.push((net as SimNet).identities.get(toHex(leaving.info.name)) as Identity);
              gone.add(toHex(leaving.info.name));
              await (net as SimNet).leave(leaving.info.name);
              counts.leaves++;
              done.push(`-${hex6(leaving.info.name)}`);
              continue;
            }
          } else {
            const canLeave = present.length - 1 >= K + 1 && gone.size < maxLeaves;
            if (canLeave && random.chance(0.5)) {
              const candidates = present.filter((n) => n !== net?.entry);
              const leaving = candidates[random.int(candidates.length)] as SimNode;
              gone.add(toHex(leaving.info.name));
              await (net as SimNet).leave(leaving.info.name);
              counts.leaves++;
              done.push(`-${hex6(leaving.info.name)}`);
              continue;
            }
          }
          const joined = await (net as SimNet).add(persona);
          counts.joins++;
          done.push(`+${hex6(joined.info.name)}`);
        }
      };

      for (let i = 0; i < 4; i++) await clientOp([]);
      await settleRepairs(net);
      let problems = await checkNetworkInvariant(net, clients);
      expect(problems, context(problems)).toEqual([]);

      for (let step = 1; step <= STEPS; step++) {
        const persona = PERSONAS[random.int(PERSONAS.length)] as NetworkPersona;
        const events = 1 + (random.chance(0.3) ? random.int(K - 1) : 0);
        if (events > 1) counts.multi++;
        const done: string[] = [];
        const stepStarted = Date.now();
        try {
          await churn(persona, events, done);
          const gets = random.int(3);
          const ops = 1 + random.int(3);
          const clientWork = async () => {
            for (let o = 0; o < gets; o++) await clientOp(done, 'get');
            for (let o = 0; o < ops; o++) await clientOp(done);
            await versionOp(done);
            await messageOp(done);
          };
          if (concurrent) await clientWork();
          await settleRepairs(net);
          if (!concurrent) {
            await clientWork();
            await settleRepairs(net);
          }
          if (random.chance(0.3)) await readOp(done);
        } catch (error) {
          log.push(`${step}: ${persona} ${done.join(' ')}`);
          throw new Error(context([`${(error as Error).message}`]), { cause: error });
        }
        log.push(`${step}: ${persona} ${done.join(' ')}`);
        const checkStarted = Date.now();
        problems = await checkNetworkInvariant(net, clients);
        if (verbose) console.info(`${log.at(-1)} (${checkStarted - stepStarted} ms, check ${Date.now() - checkStarted} ms)`);
        expect(problems, context(problems)).toEqual([]);
        // Now and then the client asks for its account itself: GetAccount answers what the records say.
        if (step % 25 === 0) {
          for (const files of clients) expect((await net.account(files.client)).stored, context(['GetAccount'])).toBe(files.stored);
        }
      }
      // Everything the clients still hold comes back byte for byte.
      for (const files of clients) {
        for (const content of files.live) {
          const reply = await net.get(files.client, nameOf(content));
          expect(reply.status, context([`Get ${hex6(nameOf(content))} at the end`])).toBe(ReplyStatus.OK);
          expect(Buffer.from(net.decodeGet(reply)).equals(Buffer.from(content)), context([`Get ${hex6(nameOf(content))} at the end`])).toBe(
            true,
          );
        }
      }

      // Every journal still ends at its last version, its branch back as far as its limit keeps.
      for (const journal of journals) {
        if (journal.tip === null) continue;
        expect(shown(SimSdv.versions(await journal.sdv.tips())), context(['journal at the end'])).toEqual(shown([journal.tip]));
        expect(SimSdv.versions(await journal.sdv.branch(journal.tip)).length, context(['journal at the end'])).toBe(
          Math.min(journal.count, 100),
        );
      }

      // Every message not read yet is still held, once each, in the order sent.
      for (const { mpid, pending } of mpids) expect(await mpid.held(), context([`${mpid.text} at the end`])).toEqual(pending);

      // The run did what it says: every kind of change, and the clients' data moved on.
      expect(counts.joins, replay).toBeGreaterThan(STEPS / 8);
      expect(counts.leaves, replay).toBeGreaterThan(STEPS / 8);
      expect(counts.multi, replay).toBeGreaterThanOrEqual(Math.floor(STEPS / 10));
      expect(counts.deletes, replay).toBeGreaterThan(0);
      expect(counts.versions, replay).toBeGreaterThan(0);
      expect(counts.messages, replay).toBeGreaterThan(0);
      expect(counts.reads, replay).toBeGreaterThan(0);
      if (STEPS >= 50) expect(counts.rejoins, replay).toBeGreaterThan(0);
      console.info(
        `churn-all seed ${seed}${concurrent ? ' concurrent' : ''}: ${STEPS} steps in ${Math.round((Date.now() - started) / 1000)} s; ${JSON.stringify(counts)}; ` +
          `live: ${PERSONAS.map((p) => `${p} ${sim.nodes(p).length}`).join(', ')}; files ${clients.map((c) => c.live.length).join('+')}`,
      );
    },
    1_800_000,
  );
});
