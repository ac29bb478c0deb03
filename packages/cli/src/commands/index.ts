import type { Command } from '../cli.ts';
import { convert } from './convert.ts';
import { scoreCommand } from './score.ts';
import { fetchMeteorCommand } from './fetch-meteor.ts';
import { trainCommand } from './train.ts';
import { generateCommand } from './generate.ts';
import { evalCommand } from './eval.ts';
import { trainBpeCommand } from './train-bpe.ts';
import { pretrainCommand } from './pretrain.ts';
import { perplexityCommand } from './perplexity.ts';
import { quickstartCommand } from './quickstart.ts';
import { experimentCommand } from './experiment.ts';
import { serveCommand } from './serve.ts';

/** All sub-commands, in the order `--help` lists them. Each lives in its own file. */
export const commands: readonly Command[] = [convert, scoreCommand, fetchMeteorCommand, trainCommand, generateCommand, evalCommand, serveCommand, trainBpeCommand, pretrainCommand, perplexityCommand, quickstartCommand, experimentCommand];
