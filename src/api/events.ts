/**
 * The events stream: the VM watcher's events (what `vmadm events -j` prints, from the same watcher, so
 * VMs changed by `vmadm` in its own process show too), each given an id `<stream>-<n>`, kept in a
 * ring buffer for clients that come back. A client that reconnects with the last id it saw gets what
 * it missed; one whose id is older than the buffer, or of an earlier zonixd, is told to list again.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { Host } from '../host/index.ts';
import type { VmEvent, VmWatcher } from '../vm/index.ts';

export interface StreamMessage {
  id: string;
  /** The message as sent (JSON). */
  text: string;
}

/** What a (re)connecting client is first told. */
export type Resume =
  | { kind: 'ready'; id: string }
  | { kind: 'replay'; messages: StreamMessage[] }
  | { kind: 'reset'; id: string; reason: string };

export class EventHub {
  /** Names this zonixd's stream: ids of another are not resumable. */
  readonly stream = randomBytes(4).toString('hex');
  private seq = 0;
  private readonly buffer: StreamMessage[] = [];
  private readonly subscribers = new Set<(m: StreamMessage) => void>();
  private watcher: VmWatcher | undefined;
  /** Goes up whenever a VM may have changed (before its event comes). */
  private gen = 0;
  /** Whether the watcher runs: only then does `gen` say anything. */
  private watching = false;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly host: Host,
    private readonly opts: { size?: number; log?: (msg: string) => void } = {},
  ) {}

  /** Starts watching (again after an error or while there is no pool yet, every 2 s). */
  async start(): Promise<void> {
    if (this.closed) return;
    try {
      const w = await this.host.watch({
        onTouch: () => this.gen++,
        onEvent: (ev) => this.push(ev),
        onError: (err) => {
          this.opts.log?.(`events: watcher stopped: ${err.message}; watching again`);
          this.watcher = undefined;
          this.watching = false;
          this.later();
        },
      });
      await w.start();
      this.watcher = w;
      this.gen++;
      this.watching = true;
    } catch (err) {
      if (!/no pool is imported/.test(String(err))) this.opts.log?.(`events: cannot watch: ${String(err)}`);
      this.later();
    }
  }

  private later() {
    clearTimeout(this.retry);
    this.retry = setTimeout(() => void this.start(), 2000);
    this.retry.unref();
  }

  close(): void {
    this.closed = true;
    this.watching = false;
    clearTimeout(this.retry);
    this.watcher?.close();
    this.subscribers.clear();
  }

  /**
   * What the VMs' state is at: what the API caches of the VMs is good while this stays the same.
   * Undefined while nothing watches (then nothing is cached).
   */
  generation(): number | undefined {
    return this.watching ? this.gen : undefined;
  }

  /** The id of the last message (or of none yet). */
  lastId(): string {
    return `${this.stream}-${this.seq}`;
  }

  private push(ev: VmEvent) {
    this.gen++;
    const id = `${this.stream}-${++this.seq}`;
    const m: StreamMessage = { id, text: JSON.stringify({ id, ...ev }) };
    this.buffer.push(m);
    if (this.buffer.length > (this.opts.size ?? 2000)) this.buffer.shift();
    for (const s of this.subscribers) s(m);
  }

  /** Subscribe; the returned function unsubscribes. */
  subscribe(fn: (m: StreamMessage) => void): () => void {
    this.subscribers.add(fn);
    return () => this.subscribers.delete(fn);
  }

  /** What a client that last saw `since` (or nothing) must be sent first. */
  resume(since: string | undefined): Resume {
    if (since === undefined || since === '') return { kind: 'ready', id: this.lastId() };
    const m = /^([0-9a-f]+)-(\d+)$/.exec(since);
    if (!m || m[1] !== this.stream)
      return { kind: 'reset', id: this.lastId(), reason: 'the service restarted: list the VMs again' };
    const n = Number(m[2]);
    if (n > this.seq)
      return { kind: 'reset', id: this.lastId(), reason: 'unknown event id: list the VMs again' };
    const oldest = this.buffer.length ? Number(this.buffer[0]!.id.split('-')[1]) : this.seq + 1;
    if (n < oldest - 1)
      return { kind: 'reset', id: this.lastId(), reason: 'events were missed: list the VMs again' };
    return { kind: 'replay', messages: this.buffer.filter((b) => Number(b.id.split('-')[1]) > n) };
  }
}
