/** Prefix injection: tuning variants, their parametrisation, and injected model graphs. */
export * from './variant.ts';
export {
  type SiteGeometry, type ParamSpec, type InitSpec, tokenDim, promptWidth, storedPrefixCount, activationParamSpecs,
  computedActivations, promptToPast, bankLookup,
} from './params.ts';
export {
  type ModelSites, type InjectOptions, type ActivationGroup, type CustomPart, type Injection, inject, groupActivations, groupPast, sitePast,
  embeddingPrefix, userIdsInput, customEdits, type InjectedPart, type PartEdits, type PartLengths, type Geometry,
} from './inject.ts';
export { type KindRecord, type KindEntry, type RealiseContext, kindEntry } from './part.ts';
export { kindTable, kindOf, VariantC, type Leaf } from './kinds/index.ts';
export {
  modelSites, injectedCausalForward, injectedTrainGraph, injectedPrefillGraph, injectedBartForward, virtualPrefixLength, trainingVirtualPositions, infixLength, hasInfix,
  type TrainGraphOptions,
} from './graphs.ts';
export {
  defineKind, type Kind, type DefinedKind, type KindDefinition, type KindParam, type KindModel, type KindContext, type SiteEdits, type RealisedKind, type KindSite, kindContext, siteOf,
} from './kind.ts';
export { initialValues, wordActivations, fitToActivations, initialiseInjection } from './init.ts';
export * from './export.ts';
export * from './bart-generation.ts';
export { causalPlan, seq2seqPlan, causalDecoder, seq2seqDecoder } from './decoding.ts';
