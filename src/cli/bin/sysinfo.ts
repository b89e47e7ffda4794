import { main } from '../sysinfo.ts';
import { runMain } from '../run.ts';
import { listPools } from '../../storage/index.ts';

runMain((argv) => main(argv, { listPools }));
