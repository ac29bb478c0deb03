/**
 * Text as `generate` prints it on a terminal: control characters a model emitted (NUL, ESC, BEL,
 * ... from a broken adapter or a byte-level tokenizer) become U+FFFD, so that output never moves
 * the cursor, rings the bell or ends a C string. Tab and newline stay; JSON output escapes them anyway.
 */
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/gu;

export const printable = (text: string): string => text.replace(CONTROL, '\uFFFD');
