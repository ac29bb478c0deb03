/**
 * Text form of a graph: one node per line in topological order, then the outputs.
 *
 *   %0 = input() {"dtype":"float32","name":"x","shape":["B","T",768]} : f32[B,T,768]
 *   %1 = param() {"dtype":"float32","name":"h.0.attn.c_attn.weight","shape":[768,2304]} : f32[768,2304]
 *   %2 = matmul(%0, %1) {} : f32[B,T,2304] @h[0].attn.qkv
 *   output "qkv" = %2
 *
 * Attributes are the JSON of the op's io-ts codec (`attrCodecs[op].encode`, keys sorted),
 * decoded back with the same codec. The type after `:` is redundant (the op's rule decides
 * it) and is checked on parsing; the `@path` is where the node was built. Because nodes are
 * hash-consed, `parse(print(g))` returns the very same node objects as `g`.
 */
import * as E from 'fp-ts/lib/Either.js';
import type * as t from 'io-ts';
import { PathReporter } from 'io-ts/lib/PathReporter.js';
import { apply, atPath, encodeAttrs, type Node, type OpSignature } from './node.ts';
import { graph, graphNodes, type Graph } from './graph.ts';
import { GraphError } from '../errors.ts';
import { attrCodecs, opNames, type OpName } from '../ops/attrs.ts';
import { opDef } from '../table/ops.ts';
import { dtypeFromShort, dtypeShort } from '../types/dtype.ts';
import { parseShape, shapeEq, shapeToString } from '../types/shape.ts';

const plainPath = /^[^\s"]*$/;

/** The text form of a graph (see the module comment). */
export const print = (g: Graph): string => {
  const nodes = graphNodes(g);
  const local = new Map(nodes.map((n, i) => [n.id, i]));
  const lines = nodes.map((n, i) => {
    const args = n.inputs.map((x) => `%${local.get(x.id)}`).join(', ');
    const path = n.path === '' ? '' : ` @${plainPath.test(n.path) ? n.path : JSON.stringify(n.path)}`;
    return `%${i} = ${n.op}(${args}) ${encodeAttrs(n.op, n.attrs)} : ${dtypeShort[n.dtype]}${shapeToString(n.shape)}${path}`;
  });
  for (const [name, n] of Object.entries(g.outputs)) lines.push(`output ${JSON.stringify(name)} = %${local.get(n.id)}`);
  return `${lines.join('\n')}\n`;
};

/** Index just past the JSON value starting at `s[i]` (an object), or -1. */
const jsonEnd = (s: string, i: number): number => {
  let depth = 0;
  let inStr = false;
  for (let k = i; k < s.length; k++) {
    const c = s[k];
    if (inStr) {
      if (c === '\\') k++;
      else if (c === '"') inStr = false;
    } else if (c === '"') inStr = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return k + 1;
    }
  }
  return -1;
};

const opSet = new Set<string>(opNames);
const nodeHead = /^%(\d+) = ([A-Za-z]+)\(([^)]*)\) /;
const outputLine = /^output ("(?:[^"\\]|\\.)*") = %(\d+)$/;

/**
 * Parses the text form back into a graph. Errors are `Left(GraphError)` whose message starts
 * with `line N:`: malformed lines, unknown ops or references, attributes the op's codec
 * rejects, operands the op's shape rule rejects, or a printed type that differs from the one
 * the op infers.
 */
export const parse = (text: string): E.Either<GraphError, Graph> => {
  const nodes = new Map<number, Node>();
  const outputs: Record<string, Node> = {};
  const lines = text.split('\n');
  for (let ln = 0; ln < lines.length; ln++) {
    const line = lines[ln]!.trim();
    const at = `line ${ln + 1}`;
    const err = (detail: string) => E.left(new GraphError('parse', at, detail));
    if (line === '' || line.startsWith('#')) continue;
    const out = outputLine.exec(line);
    if (out) {
      const n = nodes.get(Number(out[2]));
      if (n === undefined) return err(`output refers to undefined %${out[2]}`);
      const name = JSON.parse(out[1]!) as string;
      if (outputs[name] !== undefined) return err(`output "${name}" defined twice`);
      outputs[name] = n;
      continue;
    }
    const head = nodeHead.exec(line);
    if (!head) return err(`expected '%N = op(%a, ...) {attrs} : type [@path]' or 'output "name" = %N', got '${line}'`);
    const [, idText, op, argText] = head;
    const id = Number(idText);
    if (nodes.has(id)) return err(`%${id} defined twice`);
    if (!opSet.has(op!)) return err(`unknown op '${op}'`);
    const args: Node[] = [];
    for (const a of argText!.split(',').map((x) => x.trim()).filter((x) => x !== '')) {
      const m = /^%(\d+)$/.exec(a);
      const n = m ? nodes.get(Number(m[1])) : undefined;
      if (n === undefined) return err(`operand '${a}' is not a defined node`);
      args.push(n);
    }
    const rest = line.slice(head[0].length);
    const end = jsonEnd(rest, 0);
    if (!rest.startsWith('{') || end < 0) return err('expected attributes as a JSON object');
    let json: unknown;
    try {
      json = JSON.parse(rest.slice(0, end));
    } catch (e) {
      return err(`attributes are not valid JSON: ${(e as Error).message}`);
    }
    const codec = attrCodecs[op as OpName] as unknown as t.Decoder<unknown, unknown>;
    const known = (attrCodecs[op as OpName] as unknown as { props: Record<string, unknown> }).props;
    const extra = json !== null && typeof json === 'object' ? Object.keys(json).filter((k) => !(k in known)) : [];
    if (extra.length > 0) return err(`${op} has no attribute ${extra.map((k) => `'${k}'`).join(', ')}`);
    const decoded = codec.decode(json);
    if (E.isLeft(decoded)) return err(`${op} attributes: ${PathReporter.report(decoded).join('; ')}`);
    const tail = /^ : ([a-z0-9]+)(\[[^\]]*\])(?: @(.*))?$/.exec(rest.slice(end));
    if (!tail) return err(`expected ' : dtype[shape]' after the attributes, got '${rest.slice(end)}'`);
    const dtype = dtypeFromShort(tail[1]!);
    const shape = parseShape(tail[2]!);
    if (dtype === undefined || shape === undefined) return err(`malformed type '${tail[1]}${tail[2]}'`);
    let path = tail[3] ?? '';
    if (path.startsWith('"')) {
      try {
        path = JSON.parse(path) as string;
      } catch {
        return err(`malformed path ${path}`);
      }
    }
    let node: Node;
    try {
      node = atPath(path, () => apply(opDef(op as OpName) as OpSignature<OpName>, args, decoded.right as never));
    } catch (e) {
      if (e instanceof GraphError) return err(e.message);
      throw e;
    }
    if (node.dtype !== dtype || !shapeEq(node.shape, shape))
      return err(`declared ${tail[1]}${tail[2]} but ${op} infers ${dtypeShort[node.dtype]}${shapeToString(node.shape)}`);
    nodes.set(id, node);
  }
  return E.right(graph(outputs));
};
