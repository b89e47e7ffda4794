import { main } from '../zlogin.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
