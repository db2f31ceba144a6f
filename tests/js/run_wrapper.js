// Runs a generated wrapper against the mock object model and prints what it did as JSON.
// Usage: node run_wrapper.js PROJECT_SPEC.json WRAPPER.jsx
'use strict';

const fs = require('fs');
const vm = require('vm');
const { createMock } = require('./ae_mock');

const [specPath, wrapperPath] = process.argv.slice(2);
const mock = createMock(JSON.parse(fs.readFileSync(specPath, 'utf8')));
vm.runInContext(fs.readFileSync(wrapperPath, 'utf8'), mock.context, { filename: wrapperPath });
const comps = mock.items
  .filter((item) => item instanceof mock.context.CompItem)
  .map((comp) => ({
    name: comp.name,
    comment: comp.comment === undefined ? null : comp.comment,
    layers: comp._layers.map((layer) => ({
      name: layer.name,
      source: layer.source && layer.source.file ? layer.source.file.fsName : null,
    })),
  }));
process.stdout.write(JSON.stringify({ calls: mock.calls, comps }));
