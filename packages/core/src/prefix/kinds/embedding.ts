/** The EMB ablation: P trainable virtual-token embeddings prepended to the input embeddings (BART: the source's). */
import { EmbeddingC } from '../variant.ts';
import { groupRows } from '../activations.ts';
import { kindEntry } from '../part.ts';
import { activations, commonFields, groupParams } from './groups.ts';

export const embeddingKind = kindEntry({
  codec: EmbeddingC,
  parts: (leaf, ctx) => [{ ...commonFields('embedding', leaf, ctx), scope: ctx.scope('embedding'), width: ctx.model.embedDim, inDim: ctx.model.embedDim }],
  describe: activations,
  params: groupParams,
  lengths: (g) => ({ embeddings: g.length }),
  transform: (g, inj, B) => (g.length > 0 ? { embeddings: groupRows(inj, g, B) } : {}),
});
