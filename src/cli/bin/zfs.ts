import { main } from '../zfs.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
