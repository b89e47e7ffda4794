import { main } from '../nictagadm.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
