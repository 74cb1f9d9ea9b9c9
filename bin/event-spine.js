#!/usr/bin/env node
'use strict';
// The compiled command line (npm install builds it; see package.json "prepare").
require('../dist/src/cli.js').main(process.argv.slice(2)).then(
  (code) => {
    if (typeof code === 'number') process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`event-spine: ${err && err.message ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
