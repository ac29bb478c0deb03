/**
 * Errors are values at the boundaries (fp-ts `Either<GraphError, _>`), with the op, the
 * operand shapes and the path in the model (`layers[3].attn.q`). Inside a builder scope they
 * travel as exceptions of this one class and are turned into `Left`s by `build`.
 */
export class GraphError extends Error {
  constructor(
    readonly op: string,
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path === '' ? '' : `${path}: `}${op}: ${detail}`);
    this.name = 'GraphError';
  }
}
