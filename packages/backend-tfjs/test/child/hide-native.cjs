// Preloaded (node --require) by engine.test.ts: makes the native packages' addons look unbuilt,
// as they are after a plain install (tfjs-node checks fs.existsSync on the addon's path before
// requiring it), so that the fallback cases run the same where scripts/install-tfjs-native.sh ran.
const fs = require('node:fs');
const existsSync = fs.existsSync;
fs.existsSync = (p) => (String(p).endsWith('tfjs_binding.node') ? false : existsSync(p));
