import { main } from '../fwadm.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
