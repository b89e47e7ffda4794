import { main } from '../zpool.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
