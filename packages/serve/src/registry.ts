/**
 * The adapter registry: PEFT-format adapter directories under one root (one folder per id),
 * loaded on first use into a slot of a prefix bank (one bank per variant geometry) and kept in
 * an LRU of `maxResident` adapters. A slot is pinned while requests use it; eviction takes the
 * least recently used unpinned adapter.
 *
 * Ids are limited to `[A-Za-z0-9][A-Za-z0-9._-]{0,127}` without `..`, and the resolved folder
 * (symbolic links followed) must lie inside the root: no path ever leaves it.
 */
import { join, sep } from 'node:path';
import { readdir, realpath, stat } from 'node:fs/promises';
import * as E from 'fp-ts/lib/Either.js';
import {
  causalPlan, parseFiniteAdapter, storedInjection, storedName, modelSites, hasInfix, ADAPTER_CONFIG_FILE, ADAPTER_WEIGHTS_FILE,
  type ContinuousDecoder, type PrefixBank, type CausalLmConfig, type Injection, type Variant, type HostTensor,
} from '@prefix-tuning/core';
import { checkAdapterBase, readBytes, readJson } from '@prefix-tuning/hub';
import { badRequest, notFound, type ApiError } from './errors.ts';

const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Whether `id` is an acceptable adapter id (a safe folder name). */
export const validAdapterId = (id: string): boolean => ID.test(id) && !id.includes('..');

/** A resident adapter's place in the banks. */
export interface Resident {
  readonly id: string;
  readonly bank: PrefixBank;
  readonly slot: number;
  /** Tokens of virtual positions the adapter puts before a prompt (its prefix length). */
  readonly virtual: number;
  readonly injection: Injection;
}

interface Entry extends Resident {
  refs: number;
  used: number;
  /** The occupied slots of its bank. */
  readonly slots: Set<number>;
}

export interface Registry {
  /** Adapter ids present under the root (valid ids with an adapter_config.json). */
  list(): Promise<string[]>;
  /** Loads (if needed) and pins an adapter; `release` unpins it. */
  acquire(id: string): Promise<E.Either<ApiError, { readonly adapter: Resident; release(): void }>>;
  /** Unloads a resident adapter (409 while in use, 404 when not resident). */
  unload(id: string): E.Either<ApiError, void>;
  readonly resident: number;
  residentIds(): string[];
}

export const makeRegistry = (opts: {
  readonly root: string;
  readonly config: CausalLmConfig;
  readonly decoder: ContinuousDecoder;
  readonly maxResident: number;
  readonly virtualOf: (inj: Injection) => number;
  /** The served model's parameters and names: adapters trained on other weights are refused, a base named otherwise is warned about. */
  readonly base?: { readonly params: Readonly<Record<string, HostTensor>>; readonly names: readonly string[] };
  readonly warn?: (line: string) => void;
}): Registry => {
  const sites = modelSites(opts.config);
  const entries = new Map<string, Entry>();
  const loading = new Map<string, Promise<E.Either<ApiError, Entry>>>();
  // one bank per variant geometry, each with maxResident slots (all residents may share one)
  const banks = new Map<string, { bank: Promise<PrefixBank>; used: Set<number> }>();
  let clock = 0;
  let chain: Promise<unknown> = Promise.resolve();

  const folder = async (id: string): Promise<E.Either<ApiError, string>> => {
    if (!validAdapterId(id)) return E.left(badRequest(`invalid model id '${id.replace(/[^\x20-\x7e]/g, '?').slice(0, 140)}': ids are 1-128 characters of A-Z a-z 0-9 . _ - (starting with a letter or digit, no '..')`, 'model', 'invalid_model_id'));
    try {
      const root = await realpath(opts.root);
      const dir = await realpath(join(root, id));
      if (!dir.startsWith(root + sep)) return E.left(badRequest(`adapter '${id}' resolves outside the adapter folder`, 'model', 'invalid_model_id'));
      if (!(await stat(dir)).isDirectory()) return E.left(notFound(`The model '${id}' does not exist`));
      return E.right(dir);
    } catch {
      return E.left(notFound(`The model '${id}' does not exist`));
    }
  };

  const refused = (id: string, why: string): ApiError => ({ status: 400, type: 'invalid_request_error', message: `adapter '${id}' cannot be served: ${why}`, param: 'model', code: 'adapter_refused' });

  const load = async (id: string): Promise<E.Either<ApiError, Entry>> => {
    const dir = await folder(id);
    if (E.isLeft(dir)) return dir;
    const json = await readJson(join(dir.right, ADAPTER_CONFIG_FILE));
    if (E.isLeft(json)) return E.left(refused(id, json.left.replace(dir.right, id)));
    const bytes = await readBytes(join(dir.right, ADAPTER_WEIGHTS_FILE));
    if (E.isLeft(bytes)) return E.left(refused(id, bytes.left.replace(dir.right, id)));
    const a = parseFiniteAdapter(opts.config, json.right, bytes.right);
    if (E.isLeft(a)) return E.left(refused(id, a.left));
    if (opts.base !== undefined) {
      const base = checkAdapterBase(a.right, opts.base);
      if (E.isLeft(base)) return E.left(refused(id, base.left));
      if (base.right !== undefined) opts.warn?.(`adapter '${id}': ${base.right}`);
    }
    const inj = a.right.injection;
    if (inj === undefined) return E.left(refused(id, 'it holds fine-tuned model weights, not a prefix (one frozen model serves every adapter)'));
    if (hasInfix(inj)) return E.left(refused(id, 'infix variants are not served (their prompts are split around the infix)'));
    const stored = new Set(inj.groups.map(storedName));
    const extra = Object.keys(a.right.params).filter((n) => !stored.has(n));
    if (extra.length > 0) return E.left(refused(id, `it replaces model weights (${extra.slice(0, 3).join(', ')}${extra.length > 3 ? ', …' : ''})`));
    if (inj.users > 0) return E.left(refused(id, 'it is a prefix bank of several users; serve each user as its own adapter folder'));
    // room: evict the least recently used unpinned adapter
    if (entries.size >= opts.maxResident) {
      const victim = [...entries.values()].filter((e) => e.refs === 0).sort((x, y) => x.used - y.used)[0];
      if (victim === undefined) return E.left({ status: 429, type: 'rate_limit_error', message: `all ${opts.maxResident} resident adapters are in use (--max-resident-adapters); retry shortly`, retryAfter: 1 });
      evict(victim);
    }
    const key = JSON.stringify(a.right.variant satisfies Variant);
    let b = banks.get(key);
    if (b === undefined) {
      b = { bank: opts.decoder.bank(causalPlan(opts.config, storedInjection(sites, a.right.variant, opts.maxResident)), opts.maxResident), used: new Set() };
      banks.set(key, b);
    }
    const bank = await b.bank;
    let slot = 0;
    while (b.used.has(slot)) slot++;
    b.used.add(slot);
    await bank.set(slot, a.right.params);
    const e: Entry = { id, bank, slot, virtual: opts.virtualOf(inj), injection: inj, refs: 0, used: clock++, slots: b.used };
    entries.set(id, e);
    return E.right(e);
  };

  const evict = (e: Entry): void => {
    entries.delete(e.id);
    e.slots.delete(e.slot);
  };

  return {
    async list() {
      let names: string[];
      try {
        names = await readdir(opts.root);
      } catch {
        return [];
      }
      const ok: string[] = [];
      for (const n of names.sort())
        if (validAdapterId(n)) {
          try {
            if ((await stat(join(opts.root, n, ADAPTER_CONFIG_FILE))).isFile()) ok.push(n);
          } catch { /* not an adapter folder */ }
        }
      return ok;
    },
    async acquire(id) {
      let e = entries.get(id);
      if (e === undefined) {
        let p = loading.get(id);
        if (p === undefined) {
          // loads run one at a time, so that eviction and slot choice see every resident
          const run = chain.then(() => load(id));
          chain = run.catch(() => undefined);
          p = run.finally(() => loading.delete(id));
          loading.set(id, p);
        }
        const r = await p;
        if (E.isLeft(r)) return r;
        e = entries.get(id) ?? r.right;
      }
      const entry = e;
      entry.refs++;
      entry.used = clock++;
      let released = false;
      return E.right({ adapter: entry, release: () => { if (!released) { released = true; entry.refs--; } } });
    },
    unload(id) {
      const e = entries.get(id);
      if (e === undefined) return E.left(notFound(`adapter '${id}' is not loaded`, 'adapter_not_loaded'));
      if (e.refs > 0) return E.left({ status: 409, type: 'invalid_request_error', message: `adapter '${id}' is in use by ${e.refs} running request(s); retry when they finish`, code: 'adapter_in_use' });
      evict(e);
      return E.right(undefined);
    },
    get resident() { return entries.size; },
    residentIds: () => [...entries.keys()],
  };
};
