import { type ConfigShape, intField } from '@safe/core';

const GIB = 1024 * 1024 * 1024;

/** PmidNode parameters: what it offers the network. */
export const pmidNodeConfigFields = {
  pmidCapacity: intField('SAFE_PMID_CAPACITY', GIB, 'bytes this PmidNode offers the network (announced to its PmidManagers at start)', 1),
} satisfies ConfigShape;
