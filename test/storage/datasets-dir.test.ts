import { datasetSuite } from './datasets.case.ts';

datasetSuite({ driver: 'dir', quotas: false, readonly: false, compression: false });
