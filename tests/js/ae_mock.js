// A small mock of the After Effects scripting object model, for running generated ExtendScript
// under Node.js. It implements what aefarm's wrapper and the test scripts use, and records
// every call in `calls` so a test can check what a script did.
'use strict';

const fs = require('fs');
const vm = require('vm');

function createMock(projectSpec) {
  const calls = [];
  const record = (name, ...args) => calls.push({ call: name, args });

  class File {
    constructor(path) {
      this.fsName = String(path);
      this.encoding = 'BINARY';
      this._mode = '';
    }
    open(mode) {
      this._mode = mode;
      this._text = '';
      return true;
    }
    write(text) {
      this._text += String(text);
      return true;
    }
    read() {
      return fs.readFileSync(this.fsName, 'utf8');
    }
    close() {
      if (this._mode === 'w') {
        fs.writeFileSync(this.fsName, this._text, 'utf8');
      }
      return true;
    }
    get exists() {
      return fs.existsSync(this.fsName);
    }
  }

  class FootageItem {
    constructor(path, sequence) {
      this.name = path.split(/[\\/]/).pop();
      this.file = new File(path);
      this.sequence = sequence;
    }
  }

  class Layer {
    constructor(spec) {
      this.name = spec.name;
      this.source = spec.source ? { name: spec.source } : null;
    }
    replaceSource(item, fixExpressions) {
      record('replaceSource', this.name, item.file.fsName, fixExpressions);
      this.source = item;
    }
  }

  class CompItem {
    constructor(spec) {
      this.name = spec.name;
      this._layers = spec.layers.map((layer) => new Layer(layer));
      const layers = this._layers;
      this.layers = {
        byName(name) {
          record('byName', name);
          return layers.find((layer) => layer.name === name) || null;
        },
      };
    }
    get numLayers() {
      return this._layers.length;
    }
    layer(index) {
      return this._layers[index - 1];
    }
  }

  class ImportOptions {
    constructor(file) {
      this.file = file;
      this.sequence = false;
    }
  }

  const items = projectSpec.comps.map((comp) => new CompItem(comp));
  const project = {
    items,
    get numItems() {
      return items.length;
    },
    item(index) {
      return items[index - 1];
    },
    importFile(options) {
      record('importFile', options.file.fsName, options.sequence);
      const item = new FootageItem(options.file.fsName, options.sequence);
      items.push(item);
      return item;
    },
    save(file) {
      record('save', file.fsName);
      return true;
    },
  };
  const app = {
    project,
    open(file) {
      record('open', file.fsName);
      return project;
    },
    beginSuppressDialogs() {
      record('beginSuppressDialogs');
    },
    endSuppressDialogs(alert) {
      record('endSuppressDialogs', alert);
    },
  };
  const context = {
    app,
    File,
    CompItem,
    FootageItem,
    ImportOptions,
    alert(message) {
      record('alert', String(message));
    },
    console,
  };
  context.$ = {
    global: context,
    evalFile(file) {
      record('evalFile', file.fsName);
      vm.runInContext(fs.readFileSync(file.fsName, 'utf8'), context, { filename: file.fsName });
    },
  };
  vm.createContext(context);
  return { context, calls, items };
}

module.exports = { createMock };
