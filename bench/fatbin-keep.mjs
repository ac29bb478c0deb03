#!/usr/bin/env node
// Zeroes, in a copy of a CUDA shared library, every cubin of its .nv_fatbin section except those
// for one GPU architecture, so the copy compresses to a fraction of its size (used by
// bench/gpu-payload.sh to carry onnxruntime's CUDA provider to a machine with one GPU model).
// The fatbin's headers stay intact: the CUDA runtime still finds the kept architecture's code.
//
//   node bench/fatbin-keep.mjs IN.so OUT.so SM      (SM: e.g. 90 for the H100)
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output, smText] = process.argv.slice(2);
if (!input || !output || !/^\d+$/.test(smText ?? '')) {
  console.error('usage: node bench/fatbin-keep.mjs IN.so OUT.so SM');
  process.exit(2);
}
const sm = Number(smText);
const buf = readFileSync(input);
const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
if (buf.readUInt32BE(0) !== 0x7f454c46 || buf[4] !== 2) throw new Error(`${input}: not a 64-bit ELF file`);
// section headers (ELF64, little-endian)
const shoff = Number(dv.getBigUint64(0x28, true));
const shentsize = dv.getUint16(0x3a, true);
const shnum = dv.getUint16(0x3c, true);
const shstrndx = dv.getUint16(0x3e, true);
const section = (i) => {
  const o = shoff + i * shentsize;
  return { name: dv.getUint32(o, true), offset: Number(dv.getBigUint64(o + 0x18, true)), size: Number(dv.getBigUint64(o + 0x20, true)) };
};
const strtab = section(shstrndx);
const nameOf = (s) => { const start = strtab.offset + s.name; return buf.toString('latin1', start, buf.indexOf(0, start)); };
const fat = Array.from({ length: shnum }, (_, i) => section(i)).find((s) => nameOf(s) === '.nv_fatbin');
if (!fat) throw new Error(`${input}: no .nv_fatbin section`);
let kept = 0, zeroed = 0;
for (let p = fat.offset; p + 16 <= fat.offset + fat.size; ) {
  if (dv.getUint32(p, true) !== 0xba55ed50) { p += 8; continue; } // fatbins are 8-byte aligned
  const headerSize = dv.getUint16(p + 6, true);
  const fatSize = Number(dv.getBigUint64(p + 8, true));
  for (let q = p + headerSize; q < p + headerSize + fatSize; ) {
    const kind = dv.getUint16(q, true); // 1 PTX, 2 cubin
    const entryHeader = dv.getUint32(q + 4, true);
    const payload = Number(dv.getBigUint64(q + 8, true));
    const arch = dv.getUint32(q + 28, true);
    if (kind === 2 && arch === sm) kept += payload;
    else { buf.fill(0, q + entryHeader, q + entryHeader + payload); zeroed += payload; }
    q += entryHeader + payload;
  }
  p += headerSize + fatSize;
}
if (kept === 0) throw new Error(`${input}: no cubin for sm_${sm}`);
writeFileSync(output, buf);
console.error(`fatbin-keep: kept ${(kept / 2 ** 20).toFixed(0)} MiB of sm_${sm} cubins, zeroed ${(zeroed / 2 ** 20).toFixed(0)} MiB`);
