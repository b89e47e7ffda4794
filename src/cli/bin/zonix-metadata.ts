import { main } from '../zonix-metadata.ts';
import { runMain } from '../run.ts';

runMain((argv) => main(argv));
