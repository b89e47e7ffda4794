/**
 * Metadata (SmartOS's mdata-get/put/list/delete): the protocol, what its requests mean, the server
 * (one process for the host, zonix-metadata), and the lifecycle hook through which every zone gets
 * its socket when it boots and gives it back when it halts or goes.
 * @module
 */
import { readdirSync, rmSync } from 'node:fs';
import type { LifecycleHook, VmRecord } from '../vm/index.ts';
import { guestSocket, vncOffer, VM_UUID } from '../vm/index.ts';
import { ask, order } from './control.ts';
import { zoneControlDir, zoneControlRoot } from './server.ts';

export { answer, getKey, listKeys, sdcRoutes, type MetaUpdate, type MetaVm } from './keys.ts';
export {
  b64,
  bodyCrc,
  decodeFrame,
  encodeAnswer,
  encodeFrame,
  LineSplitter,
  parseLine,
  type Answer,
  type Request,
  type V2Frame,
} from './protocol.ts';
export {
  MAX_CONNECTIONS,
  MAX_LINE,
  MetadataServer,
  SOCKET_NAME,
  zoneControlDir,
  type MetadataBackend,
} from './server.ts';
export {
  controlSocket,
  runMetadataDaemon,
  startMetadataDaemon,
  type RunningMetadata,
  type ControlReply,
  type ControlRequest,
  type DaemonOptions,
} from './daemon.ts';
export {
  ask as askMetadata,
  ensureDaemon as ensureMetadataDaemon,
  handBack as handBackMetadata,
  serveHere as serveMetadataHere,
} from './control.ts';

/** Stop serving a VM: through zonix-metadata when it runs, else its folder alone goes. */
async function release(uuid: string): Promise<void> {
  if (!(await ask({ op: 'release', uuid }))) rmSync(zoneControlDir(uuid), { recursive: true, force: true });
}

/**
 * The hook: a zone of a brand with a control path (`/.zonecontrol`, lx `/native/.zonecontrol`)
 * gets its folder mounted there, read-only, and is served from before its init runs until it halts;
 * once its init exists, its /dev/ttyS1 too.
 */
export function metadataHook(): LifecycleHook {
  return {
    name: 'metadata',
    mounts: (vm: VmRecord, ctx) =>
      ctx.brand.zoneControl
        ? [{ source: zoneControlDir(vm.uuid), target: ctx.brand.zoneControl, readonly: true }]
        : [],
    prepare: async (vm: VmRecord, ctx) => {
      if (ctx.brand?.guestSerial) {
        // A hardware guest: served on its second serial port, QEMU's socket in its zone's /tmp.
        const guestSerial = guestSocket(ctx.zonepath, 'ttyb');
        const vnc = vncOffer(vm, ctx.zonepath);
        await order({
          op: 'serve',
          uuid: vm.uuid,
          zonepath: ctx.zonepath,
          guestSerial,
          ...(vnc ? { vnc } : {}),
        });
        return;
      }
      if (!ctx.brand?.zoneControl) return;
      await order({ op: 'serve', uuid: vm.uuid, zonepath: ctx.zonepath });
    },
    attach: async (vm: VmRecord, ctx) => {
      if (!ctx.brand?.zoneControl) return;
      await order({ op: 'attach', uuid: vm.uuid, pid: ctx.pid });
    },
    detach: (vm: VmRecord) => release(vm.uuid),
    release: (vm: VmRecord) => release(vm.uuid),
    reconcile: async (live) => {
      // Zones that no longer run (a crash, a command killed halfway) give their folders back.
      let names: string[];
      try {
        names = readdirSync(zoneControlRoot());
      } catch {
        return;
      }
      for (const u of names.filter((n) => VM_UUID.test(n) && !live(n))) await release(u);
    },
  };
}
