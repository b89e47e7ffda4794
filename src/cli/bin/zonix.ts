import { main } from '../zonix.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
