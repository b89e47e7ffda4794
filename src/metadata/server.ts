/**
 * The metadata server: one per host, however many zones run. Each zone it serves has a listening
 * Unix socket in its own folder (`<run dir>/zonecontrol/<uuid>/metadata.sock`), which the zone sees
 * read-only at its brand's `.zonecontrol` path; the folder, not the socket, is mounted, so a server
 * that starts again (after a crash) makes a new socket the zone sees at once. Requests of one
 * connection are answered in order; connections and zones never wait for one another. What a guest
 * may make the server hold is bounded: lines of at most 1 MiB (longer ones are dropped whole), at
 * most 16 connections per zone, and a connection whose answers are not read stops being read.
 * @module
 */
import {
  closeSync,
  constants,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { basename, dirname, join } from 'node:path';
import { runPath } from '../platform/index.ts';
import { presentNic, VM_UUID } from '../vm/index.ts';
import { answer, answerNow, type MetaUpdate, type MetaVm } from './keys.ts';
import { encodeAnswer, LineSplitter, parseLine, tooLarge } from './protocol.ts';
import { openSerial, type Serial } from './serial.ts';

export const MAX_LINE = 1024 * 1024;
export const MAX_CONNECTIONS = 16;
/** Answers buffered for a guest that does not read them, beyond which its connection is not read. */
const MAX_UNREAD = 1024 * 1024;

/** Where the zones' control folders are (`/var/zonecontrol` on SmartOS). */
export const zoneControlRoot = (): string => runPath('zonecontrol');
export const zoneControlDir = (uuid: string): string => join(zoneControlRoot(), uuid);
export const SOCKET_NAME = 'metadata.sock';
/** In a zone's control folder: what the server needs to serve it again after a restart. */
const RECORD = 'zone.json';

/** What the server needs of the host: the VM of a zone, and how to change it. */
export interface MetadataBackend {
  /** The host's UUID (`sdc:server_uuid`). */
  serverUuid?: string;
  /** Change VM `uuid` as `vmadm update` would (PUT and DELETE). */
  update(uuid: string, payload: Record<string, unknown>): Promise<void>;
}

interface Zone {
  uuid: string;
  zonepath: string;
  server: Server;
  sockets: Set<Socket>;
  /** Its /dev/ttyS1, once its init exists. */
  serial?: Serial;
  /** A hardware guest's second serial port (its hypervisor's socket), while connected. */
  guest?: Socket;
  /** Released: the guest's port is not dialled again. */
  gone?: boolean;
  /** The manifest as last read, and the file identity it was read at. */
  cached?: { key: string; vm: MetaVm };
  /** A hardware guest's VNC on the host's TCP port, and what it carries. */
  vnc?: { server: Server; conns: Set<Socket>; portFile: string };
}

export interface ServeRecord {
  uuid: string;
  zonepath: string;
  /**
   * A hardware guest: the host path of the socket its hypervisor offers as the guest's second
   * serial port (SmartOS's `vm.ttyb`). The server connects to it as a client (again every 100 ms
   * until it is there, and after the hypervisor went) and then serves the guest on it.
   */
  guestSerial?: string;
  /**
   * A hardware guest's VNC: the hypervisor's socket (`vm.vnc`) offered on TCP `host:port` (0: a free
   * port), SmartOS's `vnc_port`. Where it listens is written to `portFile` as `{host, port}`.
   */
  vnc?: { socket: string; host: string; port: number; portFile: string };
}

export class MetadataServer {
  private readonly zones = new Map<string, Zone>();
  private closed = false;
  /** Frames dropped (bad CRC, oversized, unparsable) since start: for `status`. */
  dropped = 0;
  requests = 0;

  constructor(private readonly backend: MetadataBackend) {}

  served(): string[] {
    return [...this.zones.keys()].sort();
  }

  /**
   * Serve VM `uuid` (whose dataset is at `zonepath`): its folder and socket, made anew. Safe to repeat
   * (a zone served already keeps its socket).
   */
  async serve(rec: ServeRecord): Promise<void> {
    if (!VM_UUID.test(rec.uuid)) throw new Error(`not a VM UUID: ${rec.uuid}`);
    if (this.closed) throw new Error('the metadata server is stopping');
    if (this.zones.has(rec.uuid)) return;
    const dir = zoneControlDir(rec.uuid);
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFileSync(join(dir, RECORD), JSON.stringify(rec) + '\n');
    const sock = join(dir, SOCKET_NAME);
    rmSync(sock, { force: true });
    const zone: Zone = { uuid: rec.uuid, zonepath: rec.zonepath, server: createServer(), sockets: new Set() };
    zone.server.on('connection', (s) => this.connection(zone, s));
    zone.server.on('error', () => undefined);
    this.zones.set(rec.uuid, zone);
    try {
      await listenIn(zone.server, dir);
    } catch (err) {
      this.zones.delete(rec.uuid);
      throw err;
    }
    if (rec.guestSerial) this.dialGuest(zone, rec.guestSerial);
    if (rec.vnc) await this.offerVnc(zone, rec.vnc);
  }

  /**
   * Listen on the guest's VNC port: each TCP client gets a connection of its own to the hypervisor's
   * socket (refused while the guest is not up: the client tries again, as VNC viewers do).
   */
  private async offerVnc(zone: Zone, vnc: NonNullable<ServeRecord['vnc']>): Promise<void> {
    const conns = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connectLong(vnc.socket);
      conns.add(client).add(upstream);
      const end = () => {
        client.destroy();
        upstream.destroy();
        conns.delete(client);
        conns.delete(upstream);
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    server.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: vnc.host, port: vnc.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    const port = typeof addr === 'object' && addr ? addr.port : vnc.port;
    mkdirSync(dirname(vnc.portFile), { recursive: true });
    writeFileSync(vnc.portFile, JSON.stringify({ host: vnc.host, port }) + '\n');
    zone.vnc = { server, conns, portFile: vnc.portFile };
    // Released meanwhile: nothing listens for a zone that went.
    if (zone.gone) await closeVnc(zone);
  }

  /**
   * Give served VM `uuid`, whose init is `pid` (made, or running), the serial-like /dev/ttyS1 too.
   * A pty it had (from a server before, or a boot before) is replaced.
   */
  async attach(uuid: string, pid: number): Promise<void> {
    const zone = this.zones.get(uuid);
    if (!zone) throw new Error(`VM ${uuid} is not served`);
    const serial = await openSerial(pid);
    // Released meanwhile (the zone halted): the new pty goes with it.
    if (this.zones.get(uuid) !== zone) {
      serial.close();
      return;
    }
    zone.serial?.close();
    zone.serial = serial;
    this.session(zone, serial.stream);
  }

  /** Connect to a guest's serial socket (retried until the zone is released) and serve it there. */
  private dialGuest(zone: Zone, path: string): void {
    const retry = () => {
      if (!zone.gone && this.zones.get(zone.uuid) === zone) setTimeout(dial, 100).unref();
    };
    const dial = () => {
      if (zone.gone) return;
      const s = connectLong(path);
      let up = false;
      s.once('connect', () => {
        up = true;
        if (zone.gone) {
          s.destroy();
          return;
        }
        zone.guest = s;
        this.session(zone, s);
      });
      s.on('error', () => undefined);
      s.once('close', () => {
        if (zone.guest === s) zone.guest = undefined;
        // Refused or absent (QEMU not up yet), or QEMU went (a reboot): dial again, at once when a
        // session ended, after a pause when the socket was not there.
        if (up) setImmediate(retry);
        else retry();
      });
    };
    dial();
  }

  /** Stop serving VM `uuid` (it halted or went): its connections, socket and folder go. */
  async release(uuid: string): Promise<void> {
    const zone = this.zones.get(uuid);
    this.zones.delete(uuid);
    if (zone) await closeZone(zone);
    if (VM_UUID.test(uuid)) rmSync(zoneControlDir(uuid), { recursive: true, force: true });
  }

  /**
   * Serve again every zone whose folder a server before this one left (after a crash or restart),
   * with a new /dev/ttyS1 for those whose init `pidOf` knows.
   */
  async resume(
    isLive: (uuid: string) => boolean,
    pidOf: (uuid: string) => number | undefined = () => undefined,
  ): Promise<string[]> {
    const resumed: string[] = [];
    let names: string[];
    try {
      names = readdirSync(zoneControlRoot());
    } catch {
      return resumed;
    }
    for (const uuid of names.filter((n) => VM_UUID.test(n))) {
      let rec: ServeRecord | undefined;
      try {
        rec = JSON.parse(readFileSync(join(zoneControlDir(uuid), RECORD), 'utf8')) as ServeRecord;
      } catch {
        rec = undefined;
      }
      if (!rec || rec.uuid !== uuid || !isLive(uuid)) {
        await this.release(uuid);
        continue;
      }
      const fresh = !this.zones.has(uuid);
      await this.serve(rec);
      const pid = fresh ? pidOf(uuid) : undefined;
      if (pid !== undefined) {
        try {
          await this.attach(uuid, pid);
        } catch {
          /* the zone went meanwhile, or has no devpts: its socket still serves */
        }
      }
      resumed.push(uuid);
    }
    return resumed;
  }

  /** Stop serving (zones' folders stay, for the next server). */
  async close(): Promise<void> {
    this.closed = true;
    const zones = [...this.zones.values()];
    this.zones.clear();
    await Promise.all(zones.map(closeZone));
  }

  /** The VM of a zone as the guest sees it, read again only when its manifest changed. */
  private vmOf(zone: Zone): MetaVm | undefined {
    const file = join(zone.zonepath, 'config', 'vm.json');
    let st;
    try {
      st = statSync(file);
    } catch {
      return undefined;
    }
    const key = `${st.ino}:${st.size}:${st.mtimeMs}`;
    if (zone.cached?.key === key) return zone.cached.vm;
    let vm: Record<string, unknown>;
    try {
      vm = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch {
      return zone.cached?.vm;
    }
    if (Array.isArray(vm.nics)) vm.nics = (vm.nics as Record<string, unknown>[]).map(presentNic);
    if (this.backend.serverUuid && vm.server_uuid === undefined) vm.server_uuid = this.backend.serverUuid;
    const out = { ...vm, uuid: zone.uuid } as MetaVm;
    zone.cached = { key, vm: out };
    return out;
  }

  private connection(zone: Zone, s: Socket): void {
    if (zone.sockets.size >= MAX_CONNECTIONS) {
      s.destroy();
      return;
    }
    zone.sockets.add(s);
    s.on('close', () => zone.sockets.delete(s));
    this.session(zone, s);
  }

  /**
   * Answer what comes on `s` (a socket connection, or the serial line), one request at a time. What
   * changes nothing is answered at once, the answers of a whole chunk in one write; only PUT and
   * DELETE (and a VM whose manifest is not there yet) wait.
   */
  private session(zone: Zone, s: Socket): void {
    const lines = new LineSplitter(MAX_LINE);
    const queue: string[] = [];
    let busy = false;
    const update: MetaUpdate = (payload) => this.backend.update(zone.uuid, payload);
    /** Write what is gathered; false when the guest does not read it (then stop reading it too). */
    const flush = (out: string[]): boolean => {
      if (!out.length) return true;
      const ok = s.write(out.length === 1 ? out[0]! : out.join('')) || s.writableLength <= MAX_UNREAD;
      out.length = 0;
      return ok;
    };
    const pump = async () => {
      busy = true;
      const out: string[] = [];
      try {
        let vm = this.vmOf(zone);
        while (queue.length && !s.destroyed) {
          const req = parseLine(queue.shift()!);
          if (req === undefined) {
            this.dropped++;
            continue;
          }
          this.requests++;
          if (req === 'invalid') {
            out.push(encodeAnswer(undefined, { code: 'INVALID' }));
            continue;
          }
          const now = vm && answerNow(vm, req);
          if (now) {
            out.push(encodeAnswer(req, now));
            continue;
          }
          // A VM's first boot runs while its manifest is written: give it a moment to land.
          for (let i = 0; !vm && i < 100 && !s.destroyed; i++) {
            await new Promise((r) => setTimeout(r, 20));
            vm = this.vmOf(zone);
          }
          const a = vm
            ? await answer(vm, req, update)
            : ({ code: 'FAILURE', message: 'VM not found' } as const);
          out.push(encodeAnswer(req, a));
          // A PUT or DELETE changed the manifest: what follows reads it again.
          if (req.command === 'PUT' || req.command === 'DELETE') vm = this.vmOf(zone);
          if (!flush(out)) await drained();
        }
        if (!flush(out)) await drained();
      } finally {
        busy = false;
      }
    };
    /** The guest does not read its answers: its requests are not read until it does. */
    const drained = async () => {
      s.pause();
      await new Promise((r) => s.once('drain', r).once('close', r));
      if (!s.destroyed) s.resume();
    };
    s.on('data', (chunk: Buffer) => {
      const got = lines.push(chunk);
      this.dropped += got.dropped.length;
      for (const head of got.dropped) {
        const refused = tooLarge(head, MAX_LINE);
        if (refused) s.write(refused);
      }
      queue.push(...got.lines);
      if (busy) {
        // Lines beyond what one pass answers wait with the socket paused: a flood is read no faster
        // than it is answered.
        if (queue.length > 1024) s.pause();
        return;
      }
      void pump().then(() => {
        if (!s.destroyed && s.isPaused() && queue.length === 0 && s.writableLength <= MAX_UNREAD) s.resume();
      });
    });
    s.on('error', () => s.destroy());
  }
}

/**
 * Listen on the socket in `dir`: at its own path when it fits a socket address (108 bytes), else at
 * the same file reached through the folder's descriptor (closed once the socket exists).
 */
async function listenIn(server: Server, dir: string): Promise<void> {
  const path = join(dir, SOCKET_NAME);
  const fd = Buffer.byteLength(path) < 100 ? undefined : openSync(dir, 'r');
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(fd === undefined ? path : `/proc/self/fd/${fd}/${SOCKET_NAME}`, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Connect to a unix socket at `path`, through its folder's descriptor when the path is longer than
 * a socket address holds.
 */
function connectLong(path: string): Socket {
  if (Buffer.byteLength(path) < 108) return createConnection(path);
  const fd = openSync(dirname(path), constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    return createConnection(`/proc/self/fd/${fd}/${basename(path)}`);
  } finally {
    // connect(2) has resolved the path once the call returns; the descriptor can go at the next tick.
    setImmediate(() => closeSync(fd));
  }
}

async function closeVnc(zone: Zone): Promise<void> {
  const vnc = zone.vnc;
  if (!vnc) return;
  zone.vnc = undefined;
  for (const s of vnc.conns) s.destroy();
  rmSync(vnc.portFile, { force: true });
  await new Promise<void>((r) => vnc.server.close(() => r()));
}

async function closeZone(zone: Zone): Promise<void> {
  await closeVnc(zone);
  zone.gone = true;
  zone.guest?.destroy();
  zone.serial?.close();
  for (const s of zone.sockets) s.destroy();
  await new Promise<void>((r) => zone.server.close(() => r()));
}
