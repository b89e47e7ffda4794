import { main } from '../dladm.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
