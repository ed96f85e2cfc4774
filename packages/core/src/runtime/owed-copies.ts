import type { Envelope } from '../envelope.js';
import { asSafeError } from '../errors.js';
import type { Logger, Telemetry } from '../ports.js';
import type { Transport } from './options.js';

export interface OwedCopiesDeps {
  readonly transport: Transport;
  readonly log: Logger;
  readonly telemetry: Telemetry;
  readonly persona: string;
  readonly now: () => number;
  /** A copy owed longer than this is dropped: its receivers' firewalls no longer remember its message. */
  readonly keepMs: number;
  /** The most copies owed at once; past it the oldest is dropped. */
  readonly limit: number;
  /** The most bytes (payloads and bulk content) owed at once; past it the oldest copy is dropped. */
  readonly limitBytes: number;
}

const bytesOf = (envelope: Envelope) => envelope.payload.length + (envelope.content?.length ?? 0);

/**
 * Copies the bus refused as unavailable (Kafka restarting), though what caused them already
 * changed this member's state: the message is owed, and sending the cause again would find it
 * handled. They are sent again, in order and ahead of any later copy, until the bus takes them.
 */
export class OwedCopies {
  readonly #deps: OwedCopiesDeps;
  readonly #copies: { readonly envelope: Envelope; readonly since: number }[] = [];
  #bytes = 0;
  #flushing: Promise<void> | undefined;

  constructor(deps: OwedCopiesDeps) {
    this.#deps = deps;
  }

  get size(): number {
    return this.#copies.length;
  }

  /** Sends the copy, or owes it: a copy that finds others owed waits behind them (one NAE's copies keep their order). */
  async send(envelope: Envelope): Promise<void> {
    if (this.#copies.length > 0) {
      this.#owe(envelope);
      return;
    }
    try {
      await this.#deps.transport.send(envelope);
    } catch (error) {
      if (asSafeError(error, 'send').kind !== 'unavailable') throw error;
      this.#owe(envelope, error);
    }
  }

  /** Sends the owed copies again, in order, until the bus refuses one (tried on the next flush). One flush at a time. */
  flush(): Promise<void> {
    this.#flushing ??= this.#flush().finally(() => {
      this.#flushing = undefined;
    });
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    const { transport, log } = this.#deps;
    this.#expire();
    while (this.#copies.length > 0) {
      const [head] = this.#copies;
      if (head === undefined) break;
      try {
        await transport.send(head.envelope);
        this.#count('sent');
      } catch (error) {
        const refused = asSafeError(error, 'send');
        if (refused.kind === 'unavailable') return;
        log.error({ type: head.envelope.type, err: refused.message }, 'an owed copy was refused; dropped');
        this.#count('dropped');
      }
      this.#take();
    }
  }

  #take(): Envelope | undefined {
    const taken = this.#copies.shift()?.envelope;
    if (taken !== undefined) this.#bytes -= bytesOf(taken);
    return taken;
  }

  #owe(envelope: Envelope, error?: unknown): void {
    if (this.#copies.length === 0)
      this.#deps.log.warn(
        { type: envelope.type, err: asSafeError(error, 'send').message },
        'the bus is unavailable: copies owed until it is back',
      );
    this.#copies.push({ envelope, since: this.#deps.now() });
    this.#bytes += bytesOf(envelope);
    this.#count('owed');
    while (this.#copies.length > this.#deps.limit || (this.#bytes > this.#deps.limitBytes && this.#copies.length > 1))
      this.#drop('the most copies or bytes owed at once was reached');
  }

  #expire(): void {
    const oldest = this.#deps.now() - this.#deps.keepMs;
    while ((this.#copies[0]?.since ?? Number.POSITIVE_INFINITY) < oldest) this.#drop('owed longer than the firewall remembers');
  }

  #drop(why: string): void {
    const dropped = this.#take();
    if (dropped === undefined) return;
    this.#deps.log.error({ type: dropped.type, why }, 'an owed copy was dropped');
    this.#count('dropped');
  }

  #count(result: 'owed' | 'sent' | 'dropped'): void {
    this.#deps.telemetry.count('safe_bus_owed_copies_total', { persona: this.#deps.persona, result });
  }
}
