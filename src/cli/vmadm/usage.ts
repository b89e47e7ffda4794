/**
 * vmadm's usage text (its own module: printing it loads nothing else).
 * @module
 */
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
    start <uuid>
    stop <uuid> [-F] [-t timeout]
    update <uuid> [-f <filename>]
     -or- update <uuid> property=value [property=value ...]
    validate create [-f <filename>]
    validate update <brand> [-f <filename>]
`;
