/**
 * @prefix-tuning/tasks: the paper's datasets, linearisations, splits and metrics.
 * Data: loaders (E2E, WebNLG, DART, XSum, DialogSum, SAMSum, BBC News Summary, SciTLDR, JSONL),
 * downloads into a cache, linearisations, token examples and batches, low-data and topic splits.
 */
export * from './data/index.ts';

// metrics exports (the metrics engineer appends below this line)
export * from './metrics/index.ts';

// training recipes: the paper's hyperparameters per task, and the embedded model's
export { DEFAULTS as RECIPE_DEFAULTS, RECIPES, RecipeName, lowDataInitText, recipeValues, recipesMarkdown, type Recipe, type RecipeValues } from './recipes.ts';
