import { type GroupParameters, groupParameterFields } from '@safe/core';

/** Every group parameter core defines (SAFE_K and friends) out of a loaded config, whatever core adds later. */
export function groupParametersOf(config: object): GroupParameters {
  const fields = config as Record<string, unknown>;
  return Object.fromEntries(Object.keys(groupParameterFields).map((key) => [key, fields[key]])) as unknown as GroupParameters;
}
