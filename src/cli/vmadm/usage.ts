/**
 * vmadm's usage text (its own module: printing it loads nothing else).
 * @module
 */
export const USAGE = `Usage: vmadm <command> [-d] [-v] [command-specific arguments]

    create [-f <filename>]
    delete <uuid>
    get <uuid>
    kill [-s SIGNAL|-SIGNAL] <uuid>
    list [-p] [-H] [-o field,...] [-s field,...] [field=value ...]
    lookup [-j|-1] [-o field,...] [field=value ...]
    start <uuid>
    stop <uuid> [-F] [-t timeout]
    validate create [-f <filename>]
    validate update <brand> [-f <filename>]
`;
