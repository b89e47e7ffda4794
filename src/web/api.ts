/**
 * The console's side of the API: JSON requests (the token is in the page's cookie), the events
 * stream (reconnecting with the last id it saw, listing again when told to), and the VM store the
 * pages read, kept current by the stream.
 * @module
 */
import { signal } from '@preact/signals';

export interface Vm {
  uuid: string;
  alias?: string;
  brand: string;
  state: string;
  zone_state?: string;
  image_uuid?: string;
  hostname?: string;
  max_physical_memory?: number;
  cpu_cap?: number;
  quota?: number;
  autoboot?: boolean;
  nics?: {
    interface?: string;
    mac?: string;
    nic_tag?: string;
    ip?: string;
    ips?: string[];
    netmask?: string;
    gateway?: string;
    vlan_id?: number;
    primary?: boolean;
  }[];
  snapshots?: { name: string; created_at?: string }[];
  create_timestamp?: string;
  [key: string]: unknown;
}

/** An image, installed (`zpool`, `clones`) or offered by a source (`source`). */
export interface Image {
  manifest: {
    uuid: string;
    name: string;
    version: string;
    os?: string;
    type?: string;
    published_at?: string;
    requirements?: { brand?: string };
  };
  source?: string;
  clones?: number;
}

export interface ApiErrorBody {
  code: string;
  message: string;
  fields?: string[];
}

export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message);
  }
}

/** Signed out (no or a wrong token): the page asks for the token. */
export const needToken = signal(false);

export async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    credentials: 'same-origin',
  });
  if (res.status === 401) needToken.value = true;
  const text = await res.text();
  const data: unknown = text ? JSON.parse(text) : undefined;
  if (!res.ok)
    throw new ApiFailure(
      res.status,
      (data as ApiErrorBody | undefined) ?? { code: 'HTTP', message: res.statusText },
    );
  return data as T;
}

/** Every VM, by UUID, as the events stream keeps it. */
export const vms = signal<Map<string, Vm>>(new Map());
/** The stream's state, for the header. */
export const live = signal<'connecting' | 'live' | 'offline'>('connecting');

async function relist(): Promise<void> {
  const list = await call<Vm[]>('GET', '/v1/vms');
  vms.value = new Map(list.map((v) => [v.uuid, v]));
}

interface StreamEvent {
  type: 'ready' | 'reset' | 'create' | 'modify' | 'delete';
  id: string;
  uuid?: string;
  vm?: Vm;
}

/** Start listing and following the VMs (once per page). */
export function follow(): void {
  let last: string | undefined;
  const connect = () => {
    live.value = 'connecting';
    const proto = location.protocol === 'https:' ? 'wss' : 'ws';
    const ws = new WebSocket(
      `${proto}://${location.host}/v1/events${last ? `?since=${encodeURIComponent(last)}` : ''}`,
    );
    ws.onmessage = (m) => {
      const ev = JSON.parse(String(m.data)) as StreamEvent;
      last = ev.id;
      if (ev.type === 'ready' || ev.type === 'reset') {
        live.value = 'live';
        // Listed after the stream is open: nothing that changes meanwhile is missed.
        if (ev.type === 'reset' || vms.value.size === 0) void relist().catch(() => undefined);
        return;
      }
      const next = new Map(vms.value);
      if (ev.type === 'delete' && ev.uuid) next.delete(ev.uuid);
      else if (ev.vm) next.set(ev.vm.uuid, ev.vm);
      vms.value = next;
    };
    ws.onclose = () => {
      live.value = 'offline';
      setTimeout(connect, 1000);
    };
  };
  void relist().catch(() => undefined);
  connect();
}

export interface Job {
  uuid: string;
  kind: string;
  subject?: string;
  state: 'running' | 'succeeded' | 'failed' | 'cancelled';
  progress?: { phase: string; done?: number; total?: number };
  error?: ApiErrorBody;
  result?: unknown;
}

/** Follow a job until it ends, telling `onUpdate` of each change. */
export async function watchJob(uuid: string, onUpdate: (j: Job) => void): Promise<Job> {
  for (;;) {
    const j = await call<Job>('GET', `/v1/jobs/${uuid}`);
    onUpdate(j);
    if (j.state !== 'running') return j;
    await new Promise((r) => setTimeout(r, 300));
  }
}

export const mib = (bytes: number) => `${(bytes / 1048576).toFixed(bytes < 10 * 1048576 ? 1 : 0)} MiB`;
