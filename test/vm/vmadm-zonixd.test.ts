import { vmadmTests } from './vmadm.case.ts';

vmadmTests(true);
