// `npm install` of this package: nothing to do when the binary for this platform is here
// (the packed tarball carries the prebuilt linux-x64-gnu one, so no compiler is needed);
// in a clone of the repository, it is built with cargo (Rust toolchain required).
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { execFileSync } = require('node:child_process');

const here = path.join(__dirname, '..');
// The file name napi-rs's loader (index.js) looks for on this platform.
const suffix = { linux: `linux-${process.arch}-gnu`, darwin: `darwin-${process.arch}`, win32: `win32-${process.arch}-msvc` }[process.platform];
if (!suffix) {
  console.error(`ferrokafka: no build recipe for ${process.platform}-${process.arch}`);
  process.exit(1);
}
const target = path.join(here, `ferrokafka.${suffix}.node`);
if (fs.existsSync(target)) process.exit(0);
if (!fs.existsSync(path.join(here, 'Cargo.toml'))) {
  console.error(`ferrokafka: no prebuilt binary for ${suffix} in this package, and no sources to build it from`);
  process.exit(1);
}
console.error(`ferrokafka: building the native module with cargo (${suffix})...`);
const run = (cmd, args) => execFileSync(cmd, args, { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] }).toString();
run('cargo', ['build', '--release', '-p', 'ferrokafka-node']);
const { target_directory: targetDir } = JSON.parse(run('cargo', ['metadata', '--format-version', '1', '--no-deps']));
const lib = { linux: 'libferrokafka_node.so', darwin: 'libferrokafka_node.dylib', win32: 'ferrokafka_node.dll' }[process.platform];
fs.copyFileSync(path.join(targetDir, 'release', lib), target);
console.error(`ferrokafka: built ${path.basename(target)}`);
