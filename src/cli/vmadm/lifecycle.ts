/**
 * The vmadm lifecycle commands: create, validate, start, stop, kill and delete.
 * @module
 */
import { UsageError, ZonixError } from '../../common/index.ts';
import { getopt, has, last } from '../getopt.ts';
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
      if (await idempotent(io, () => host().start(uuid, { op: io.op })))
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
      if (t !== undefined)
        throw new ZonixError(
          'EINVAL',
          'Timeout option is only supported for bhyve, KVM and docker containers.',
        );
      if (await idempotent(io, () => host().stop(uuid, { force: has(p, 'F'), op: io.op })))
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
