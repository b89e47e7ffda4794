import { main } from '../imgadm.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
