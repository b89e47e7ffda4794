import { main } from '../zonixd.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
