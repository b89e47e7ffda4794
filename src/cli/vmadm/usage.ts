/**
 * vmadm's usage text and operand checks (their own module: printing the usage loads nothing else).
 * @module
 */
import { UsageError } from '../../common/index.ts';

export const USAGE = `Usage: vmadm <command> [-d] [-v] [command-specific arguments]

    console <uuid>
    create [-f <filename>]
    create-snapshot <uuid> <snapname>
    delete <uuid>
    delete-snapshot <uuid> <snapname>
    events [-f] [-j] [-r] [uuid]
    get <uuid>
    info <uuid> [type,...]
    kill [-s SIGNAL|-SIGNAL] <uuid>
    list [-p] [-H] [-o field,...] [-s field,...] [field=value ...]
    lookup [-j|-1] [-o field,...] [field=value ...]
    reboot <uuid> [-F]
    receive [-f <filename>]
    reprovision <uuid> [-f <filename>]
    rollback-snapshot <uuid> <snapname>
    send <uuid>
    start <uuid> [option=value ...]
    stop <uuid> [-F] [-t timeout]
    sysrq <uuid> <nmi|screenshot>
    update <uuid> [-f <filename>]
     -or- update <uuid> property=value [property=value ...]
    validate create [-f <filename>]
    validate update <brand> [-f <filename>]
`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function uuidArg(rest: string[], cmd: string): string {
  const u = rest[0];
  if (u === undefined || u.length !== 36 || !UUID.test(u))
    throw new UsageError(`Invalid or missing UUID for ${cmd}`, USAGE);
  return u;
}
