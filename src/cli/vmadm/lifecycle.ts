/**
 * The vmadm lifecycle commands: create, validate, start, stop, kill and delete.
 * @module
 */
import { UsageError, ZonixError } from '../../common/index.ts';
import { getopt, has, last } from '../getopt.ts';
import type { BootOnce } from '../../vm/index.ts';
import { host, idempotent, readPayload, say, USAGE, uuidArg, type Io } from './common.ts';

/** Run `cmd` if it is a lifecycle command; undefined when it is not one of them. */
export async function lifecycle(cmd: string, rest: string[], io: Io): Promise<number | undefined> {
  switch (cmd) {
    case 'create': {
      const p = getopt(rest, 'f:', USAGE);
      const payload = await readPayload(last(p, 'f'), io, 'create');
      const { uuid } = await host().create(payload, io.op);
      say(io, `Successfully created VM ${uuid}`);
      return 0;
    }
    case 'validate': {
      const [action, ...more] = rest;
      if (action !== 'create' && action !== 'update') throw new UsageError('Invalid validate action', USAGE);
      const brand = action === 'update' ? more.shift() : undefined;
      if (action === 'update' && (brand === undefined || brand.startsWith('-')))
        throw new UsageError('validate update requires a brand', USAGE);
      const p = getopt(more, 'f:', USAGE);
      const payload = await readPayload(last(p, 'f'), io, 'validate');
      const b = action === 'create' ? (payload as { brand?: unknown }).brand : brand;
      const { formatValidateResult, validatePayload } = await import('../../vm/index.ts');
      const result = validatePayload(payload, action, typeof b === 'string' ? b : undefined);
      const out = formatValidateResult(result, action, typeof b === 'string' ? b : undefined);
      io.stderr.write(out.message.endsWith('\n') ? out.message : `${out.message}\n`);
      return out.exitCode;
    }
    case 'start':
    case 'boot': {
      const uuid = uuidArg(rest, cmd);
      const bootOnce = startOptions(rest.slice(1));
      if (await idempotent(io, () => host().start(uuid, { op: io.op, ...(bootOnce ? { bootOnce } : {}) })))
        say(io, `Successfully started VM ${uuid}`);
      return 0;
    }
    case 'stop':
    case 'halt': {
      // Flags may come before or after the UUID (`stop -F <uuid>`, `stop <uuid> -F`).
      const operands = rest.filter((a, i) => !a.startsWith('-') && rest[i - 1] !== '-t');
      const p = getopt(
        rest.filter((a) => !operands.includes(a)),
        'Ft:',
        USAGE,
      );
      const uuid = uuidArg(operands, cmd);
      const t = last(p, 't');
      if (t !== undefined && !/^\d+$/.test(t)) throw new ZonixError('EINVAL', `Invalid timeout: "${t}"`);
      if (t !== undefined) {
        const { brandDriver } = await import('../../vm/index.ts');
        if (!brandDriver((await host().get(uuid)).brand)?.info.stopTimeout)
          throw new ZonixError(
            'EINVAL',
            'Timeout option is only supported for bhyve, KVM and docker containers.',
          );
      }
      const opts = {
        force: has(p, 'F'),
        op: io.op,
        ...(t !== undefined ? { timeoutMs: Number(t) * 1000 } : {}),
      };
      if (await idempotent(io, () => host().stop(uuid, opts)))
        say(io, `Successfully completed stop for VM ${uuid}`);
      return 0;
    }
    case 'reboot': {
      const operands = rest.filter((a) => !a.startsWith('-'));
      const p = getopt(
        rest.filter((a) => a.startsWith('-')),
        'F',
        USAGE,
      );
      const uuid = uuidArg(operands, cmd);
      if (await idempotent(io, () => host().reboot(uuid, { force: has(p, 'F'), op: io.op })))
        say(io, `Successfully completed reboot for VM ${uuid}`);
      return 0;
    }
    case 'reprovision': {
      const operands = rest.filter((a, i) => !a.startsWith('-') && rest[i - 1] !== '-f');
      const p = getopt(
        rest.filter((a) => !operands.includes(a)),
        'f:',
        USAGE,
      );
      const uuid = uuidArg(operands, cmd);
      const payload = await readPayload(last(p, 'f'), io, 'take payload');
      await host().reprovision(uuid, payload, { op: io.op });
      say(io, `Successfully reprovisioned VM ${uuid}`);
      return 0;
    }
    case 'info': {
      const uuid = uuidArg(rest, cmd);
      // The brand's driver answers: HVM guests' hypervisors through QMP; zones have none, and say so.
      io.stdout.write(`${JSON.stringify(await host().info(uuid, rest.slice(1)), null, 2)}\n`);
      return 0;
    }
    case 'sysrq': {
      const [uuid, kind, ...more] = rest;
      if (uuid === undefined || kind === undefined || more.length)
        throw new UsageError('Usage: sysrq <uuid> <nmi|screenshot>', USAGE);
      uuidArg([uuid], cmd);
      await host().sysrq(uuid, kind);
      say(io, kind === 'nmi' ? `Sent NMI to VM ${uuid}` : `Sent ${kind} sysrq to VM ${uuid}`);
      return 0;
    }
    case 'kill': {
      let signal = 'SIGTERM';
      const args = [...rest];
      if (args[0] === '-s') {
        signal = args[1] ?? '';
        args.splice(0, 2);
      } else if (args[0]?.startsWith('-')) signal = args.shift()!.slice(1);
      const name = /^\d+$/.test(signal) ? signal : signal.toUpperCase().replace(/^(SIG)?/, 'SIG');
      if (
        !/^\d+$/.test(name) &&
        !(
          name in
          {
            SIGHUP: 1,
            SIGINT: 1,
            SIGQUIT: 1,
            SIGKILL: 1,
            SIGUSR1: 1,
            SIGUSR2: 1,
            SIGTERM: 1,
            SIGSTOP: 1,
            SIGCONT: 1,
            SIGWINCH: 1,
            SIGPWR: 1,
          }
        )
      )
        throw new ZonixError('EINVAL', `Unknown signal "${signal}"`);
      const uuid = uuidArg(args, cmd);
      await host().kill(uuid, name);
      say(io, `Sent signal "${signal}" to init process for VM ${uuid}`);
      return 0;
    }
    case 'delete':
    case 'destroy': {
      const uuid = uuidArg(rest, cmd);
      await host().delete(uuid, { op: io.op });
      say(io, `Successfully deleted VM ${uuid}`);
      return 0;
    }
    default:
      return undefined;
  }
}

/**
 * `vmadm start UUID order=cd,once=d cdrom=/x.iso,ide disk=/y.raw,virtio`: what this boot of an HVM
 * guest adds (SmartOS's start options); undefined when none are given.
 */
export function startOptions(args: readonly string[]): BootOnce | undefined {
  if (args.length === 0) return undefined;
  const out: BootOnce = {};
  const boot: string[] = [];
  for (const arg of args) {
    const m = /^(cdrom|disk)=(.+)$/.exec(arg);
    if (m) {
      const [path, model, ...extra] = m[2]!.split(',');
      if (!path?.startsWith('/') || !model || extra.length)
        throw new UsageError(`Invalid ${m[1]} option "${arg}": want ${m[1]}=/path,model`, USAGE);
      (m[1] === 'cdrom' ? (out.cdroms ??= []) : (out.disks ??= [])).push({ path, model });
      continue;
    }
    for (const kv of arg.split(',')) {
      const b = /^(order|once)=([a-z]+)$/.exec(kv);
      if (!b) throw new UsageError(`Invalid start option "${kv}"`, USAGE);
      if (boot.some((o) => o.startsWith(`${b[1]}=`)))
        throw new UsageError(`You can only specify '${b[1]}' once when starting a VM`, USAGE);
      boot.push(kv);
    }
  }
  if (boot.length) out.boot = boot.join(',');
  return out;
}
