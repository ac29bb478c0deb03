import type { RefKernel } from './def.ts';
import type { OpName } from './attrs.ts';

/** Placeholder for a reference kernel not yet written (the op-table test fails on it). */
export const pendingRef = <K extends OpName>(op: K): RefKernel<K> =>
  Object.assign(() => { throw new Error(`reference kernel for '${op}' is not implemented`); }, { pending: true });
