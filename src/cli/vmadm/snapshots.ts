/**
 * `vmadm create-snapshot`, `rollback-snapshot` and `delete-snapshot`.
 * @module
 */
import { UsageError } from '../../common/index.ts';
import { host, say, USAGE, uuidArg, type Io } from './common.ts';

/** `<uuid> <snapname>`, checked in SmartOS's order: the UUID first, then the count. */
function operands(rest: string[], cmd: string): [string, string] {
  const uuid = uuidArg(rest, cmd);
  if (rest.length !== 2) throw new UsageError(`Wrong number of parameters to "${cmd}"`, USAGE);
  return [uuid, rest[1]!];
}

/** Run one of the snapshot commands. */
export async function snapshots(cmd: string, rest: string[], io: Io): Promise<number> {
  switch (cmd) {
    case 'create-snapshot': {
      const [uuid, name] = operands(rest, cmd);
      await host().createSnapshot(uuid, name);
      say(io, `Created snapshot ${name} for VM ${uuid}`);
      return 0;
    }
    case 'rollback-snapshot': {
      const [uuid, name] = operands(rest, cmd);
      await host().rollbackSnapshot(uuid, name);
      say(io, `Rolled back snapshot ${name} for VM ${uuid}`);
      return 0;
    }
    case 'delete-snapshot': {
      const [uuid, name] = operands(rest, cmd);
      await host().deleteSnapshot(uuid, name);
      say(io, `Deleted snapshot ${name} for VM ${uuid}`);
      return 0;
    }
    default:
      throw new Error(`not a snapshot command: ${cmd}`);
  }
}
