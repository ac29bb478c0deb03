/**
 * Chat prompts: the tokenizer's chat template (`chat_template` of tokenizer_config.json, a
 * string or a list of named templates, the "default" one used) rendered with
 * @huggingface/jinja, as transformers' `apply_chat_template(..., add_generation_prompt=True)`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Template } from '@huggingface/jinja';
import * as E from 'fp-ts/lib/Either.js';

export interface ChatTemplate {
  render(messages: readonly { readonly role: string; readonly content: string | null }[]): E.Either<string, string>;
}

/** The model directory's chat template, or undefined when its tokenizer has none. */
export const loadChatTemplate = (dir: string): E.Either<string, ChatTemplate | undefined> => {
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>;
  } catch {
    return E.right(undefined);
  }
  const raw = cfg['chat_template'];
  const src = typeof raw === 'string' ? raw
    : Array.isArray(raw) ? (raw.find((x) => (x as { name?: string })?.name === 'default') as { template?: unknown } | undefined)?.template : undefined;
  if (src === undefined) return E.right(undefined);
  if (typeof src !== 'string') return E.left(`${join(dir, 'tokenizer_config.json')}: chat_template must be a string or a list of {name, template}`);
  let tpl: Template;
  try {
    tpl = new Template(src);
  } catch (e) {
    return E.left(`${join(dir, 'tokenizer_config.json')}: chat_template does not parse (${(e as Error).message})`);
  }
  const special = (k: string) => { const v = cfg[k]; return typeof v === 'string' ? v : typeof (v as { content?: unknown })?.content === 'string' ? (v as { content: string }).content : ''; };
  return E.right({
    render(messages) {
      try {
        return E.right(tpl.render({ messages: messages.map((m) => ({ ...m, content: m.content ?? '' })), add_generation_prompt: true, bos_token: special('bos_token'), eos_token: special('eos_token') }));
      } catch (e) {
        return E.left(`the chat template failed on these messages: ${(e as Error).message}`);
      }
    },
  });
};
