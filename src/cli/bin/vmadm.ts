import { main } from '../vmadm.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
