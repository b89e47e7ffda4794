import { datasetSuite } from './datasets.case.ts';

datasetSuite({ driver: 'btrfs', quotas: true, readonly: true, compression: true });
