import { copyGroupName, MUST_STORE_COPIES } from '@safe/chunks';
import { CLIENT, type ClientReplyValue, type HandlerContext, nameOf, protoCodec, sealEnvelope, sortByCloseness, toHex } from '@safe/core';
import { type DataManagerState, loadDataManagerConfig } from '@safe/data-manager';
import type { PmidNodeState } from '@safe/pmid-node';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from '../support/sim-network.js';

/**
 * A Put whose chosen holder leaves before it stored the copy (a PmidNode pod killed while Puts
 * stream in — the real-stack churn test's failure): the copy group re-replicates it onto another
 * PmidNode, and the client's Put must still be answered, charged once, and retrievable. The
 * DataManagers learn the Put's client only from the Put itself, so the answer owed to it has to
 * outlive the holder that was meant to store the copy.
 */
const config = loadDataManagerConfig({});
const putRequestCodec = protoCodec<{ name: Uint8Array; content: Uint8Array; nonce: Uint8Array }>('safe.v1.PutRequest');

let net: SimNet | undefined;
afterEach(async () => {
  await net?.close();
  net = undefined;
});

describe('a Put whose chosen PmidNode leaves mid-store', () => {
  for (const seed of [3, 11, 29, 42, 57, 101]) {
    it(`is still answered, charged once and stored on enough live PmidNodes (seed ${seed})`, async () => {
      const sim = await SimNet.start({ seed, reorder: true });
      net = sim;
      const client = sim.newClient();
      await sim.setUpClient(client);
      const before = (await sim.account(client)).stored;
      const content = sim.sim.random.bytes(3000);
      const name = nameOf(content);
      const [victim] = sortByCloseness(
        copyGroupName(name, 'PRIMARY'),
        sim.sim.nodes('pmid-node').map((n) => n.info.name),
      );
      if (victim === undefined) throw new Error('no PmidNode');

      const envelope = sealEnvelope(
        {
          type: 'Put',
          source: { persona: CLIENT, nae: client.name },
          authority: 'single',
          destination: { persona: 'maid-manager', nae: client.name },
          scope: 'close-group',
          payload: putRequestCodec.encode({ name, content, nonce: sim.nonce() }),
          correlation: new Uint8Array(0),
        },
        client,
      );
      let outcome: { reply?: ClientReplyValue; error?: unknown } | undefined;
      sim.gateway.call(envelope, 120_000).then(
        (reply) => {
          outcome = { reply };
        },
        (error: unknown) => {
          outcome = { error };
        },
      );
      // Run until the primary copy group has recorded the chosen holders, then the first one leaves
      // before its PmidManagers' Put reaches it.
      const recorded = async () => {
        for (const node of sim.dataManagersOf(name, 'PRIMARY')) {
          const state = (node.replica.context as HandlerContext<DataManagerState>).state;
          if ((await state.store.record(name, 'PRIMARY')) !== undefined) return true;
        }
        return false;
      };
      while (!(await recorded())) {
        if (!(await sim.sim.step())) await new Promise((resolve) => setImmediate(resolve));
      }
      const victimNode = sim.sim.node(victim);
      if (victimNode === undefined) throw new Error('the victim is not on the network');
      const storedYet = await (victimNode.replica.context as HandlerContext<PmidNodeState>).state.chunks.has(name, 'PRIMARY');
      expect(storedYet, 'the victim left after it stored: the test did not hit the window').toBe(false);
      await sim.leave(victim);

      while (outcome === undefined) {
        await sim.sim.settle({ maxIdleMs: 121_000 });
        await new Promise((resolve) => setImmediate(resolve));
        if (outcome === undefined && sim.sim.inFlight === 0 && sim.sim.clock.nextTimerAt === undefined) break;
      }
      expect(outcome?.error, `seed ${seed}: ${String(outcome?.error)}`).toBeUndefined();
      expect(outcome?.reply?.status, `seed ${seed}: ${outcome?.reply?.message}`).toBe('OK');
      await sim.settleChurn();

      expect((await sim.account(client)).stored, 'charged exactly once').toBe(before + content.length);
      for (const copy of MUST_STORE_COPIES) {
        let holders = 0;
        for (const node of sim.sim.nodes('pmid-node')) {
          if (await (node.replica.context as HandlerContext<PmidNodeState>).state.chunks.has(name, copy)) holders++;
        }
        expect(holders, `${toHex(name).slice(0, 8)}/${copy} on live PmidNodes`).toBeGreaterThanOrEqual(config.copiesPerGroup);
      }
      const got = await sim.get(client, name);
      expect(got.status).toBe('OK');
      expect(Buffer.from(sim.decodeGet(got)).equals(Buffer.from(content))).toBe(true);
    }, 300_000);
  }
});
