/** Train-step graphs: AdamW, gradient clipping, accumulation (pure builders). */
export { AdamWConfigC, type AdamWConfig, defaultAdamW } from './config.ts';
export { adamwUpdate, globalNorm, clipByGlobalNorm, type AdamWArgs, type AdamWResult } from './adamw.ts';
export { trainStepGraph, trainState, trainStateNames, trainInternalOutputs, trainNames, unrollTrainSteps, type Trainable } from './step.ts';
