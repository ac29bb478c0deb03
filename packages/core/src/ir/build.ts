/**
 * The boundary between building and errors-as-values: `build(f)` runs a graph-building
 * function and returns `Right(result)`, or `Left(GraphError)` when an op rejected its
 * operands (the message names the op, the shapes and the model path). No exception escapes
 * except genuine bugs (anything that is not a GraphError).
 */
import * as E from 'fp-ts/lib/Either.js';
import { GraphError } from '../errors.ts';

export const build = <A>(f: () => A): E.Either<GraphError, A> => {
  try {
    return E.right(f());
  } catch (e) {
    if (e instanceof GraphError) return E.left(e);
    throw e;
  }
};
