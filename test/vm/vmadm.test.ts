import { vmadmTests } from './vmadm.case.ts';

vmadmTests(false);
