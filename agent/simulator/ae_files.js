// ExtendScript's File, Folder, $ and alert, evaluated inside the script context by
// script_host.js. `host` is the bridge to Node.js (its functions take and return strings,
// numbers and booleans only), and `shared` passes helpers on to the model files after it.
//
// NOTE: paths are used as given: no URI decoding of "%20" and no "~" other than at the start.
// A File's encoding starts as UTF-8, where After Effects starts with the system encoding.
(function (host, shared) {
  'use strict';

  const settings = JSON.parse(host.settings);
  const scriptFiles = [];

  function hidden(object, key, value) {
    Object.defineProperty(object, key, { value, writable: true, configurable: true });
  }

  // Runs action, turning an error of the host's realm into one of the script's.
  function hostCall(action) {
    try {
      return action();
    } catch (error) {
      if (error instanceof Error) {
        throw error;
      }
      throw new Error(String(error && error.message ? error.message : error));
    }
  }

  function pathOf(value) {
    if (value instanceof File || value instanceof Folder) {
      return value.fsName;
    }
    return host.resolvePath(value === undefined || value === null ? '' : String(value));
  }

  function stat(fsPath) {
    return JSON.parse(host.stat(fsPath));
  }

  function log(text) {
    host.log(String(text));
  }

  // ExtendScript errors carry the line and file of the script where they were thrown.
  const framePlace = (error) => JSON.parse(host.scriptFrame(error.stack));
  Object.defineProperty(Error.prototype, 'line', {
    configurable: true,
    get() {
      return framePlace(this)[1];
    },
    set(value) {
      hidden(this, 'line', value);
    },
  });
  Object.defineProperty(Error.prototype, 'fileName', {
    configurable: true,
    get() {
      return framePlace(this)[0] || '';
    },
    set(value) {
      hidden(this, 'fileName', value);
    },
  });

  function definePathGetters(prototype) {
    Object.defineProperties(prototype, {
      fsName: { get() { return this._path; } },
      fullName: { get() { return this._path; } },
      absoluteURI: { get() { return this._path; } },
      relativeURI: { get() { return this._path; } },
      name: { get() { return host.baseName(this._path); } },
      displayName: { get() { return host.baseName(this._path); } },
      path: { get() { return host.parentPath(this._path); } },
      parent: { get() { return new Folder(host.parentPath(this._path)); } },
      exists: { get() { return stat(this._path).exists; } },
      alias: { get() { return false; } },
      hidden: { get() { return host.baseName(this._path).startsWith('.'); } },
      modified: { get() { const s = stat(this._path); return s.exists ? new Date(s.modified) : null; } },
      created: { get() { const s = stat(this._path); return s.exists ? new Date(s.created) : null; } },
    });
    prototype.toString = function () {
      return this._path;
    };
    prototype.getRelativeURI = function (base) {
      return host.relativePath(base === undefined ? host.currentFolder() : pathOf(base), this._path);
    };
    prototype.resolve = function () {
      return this;
    };
    prototype.execute = function () {
      return false;
    };
  }

  let tempNames = 0;

  function File(location) {
    if (!(this instanceof File)) {
      return new File(location);
    }
    if (location === undefined) {
      tempNames += 1;
      location = host.joinPath(host.tempFolder(), `aefarm-sim-${Date.now()}-${tempNames}.tmp`);
    }
    hidden(this, '_path', pathOf(location));
    hidden(this, '_mode', '');
    hidden(this, '_text', '');
    hidden(this, '_position', 0);
    this.encoding = 'UTF-8';
    this.lineFeed = 'Unix';
    this.error = '';
  }
  definePathGetters(File.prototype);
  Object.defineProperties(File.prototype, {
    length: { get() { const s = stat(this._path); return s.exists ? s.size : 0; } },
    eof: { get() { return this._mode === '' || this._position >= this._text.length; } },
    readonly: { get() { return false; } },
    type: { get() { return '????'; } },
    creator: { get() { return '????'; } },
  });

  File.prototype.open = function (mode) {
    const openMode = String(mode || 'r').toLowerCase();
    const info = stat(this._path);
    this.error = '';
    try {
      if (openMode === 'r' || openMode === 'e') {
        if (!info.exists || info.folder) {
          this.error = `File or folder does not exist: ${this._path}`;
          return false;
        }
        this._text = host.readFile(this._path, this.encoding);
      } else if (openMode === 'w') {
        host.writeFile(this._path, '', this.encoding);
        this._text = '';
      } else if (openMode === 'a') {
        this._text = info.exists ? host.readFile(this._path, this.encoding) : '';
        host.writeFile(this._path, this._text, this.encoding);
      } else {
        this.error = `Invalid open mode ${JSON.stringify(mode)}: use "r", "w", "a" or "e"`;
        return false;
      }
    } catch (error) {
      this.error = String(error && error.message ? error.message : error);
      return false;
    }
    this._mode = openMode;
    this._position = openMode === 'a' ? this._text.length : 0;
    return true;
  };

  File.prototype.close = function () {
    const wasOpen = this._mode !== '';
    this._mode = '';
    this._text = '';
    this._position = 0;
    return wasOpen;
  };

  File.prototype.read = function (count) {
    if (this._mode === '' || this._mode === 'w' || this._mode === 'a') {
      return '';
    }
    const end = count === undefined ? this._text.length : this._position + Math.max(0, count);
    const text = this._text.slice(this._position, end);
    this._position += text.length;
    return text;
  };

  File.prototype.readln = function () {
    const rest = this.read();
    const newline = rest.indexOf('\n');
    if (newline < 0) {
      return rest.replace(/\r$/, '');
    }
    this._position -= rest.length - newline - 1;
    return rest.slice(0, newline).replace(/\r$/, '');
  };

  File.prototype.readch = function () {
    return this.read(1);
  };

  File.prototype.write = function () {
    if (this._mode === '' || this._mode === 'r') {
      this.error = 'The file is not open for writing';
      return false;
    }
    const text = Array.prototype.map.call(arguments, String).join('');
    const position = this._mode === 'a' ? this._text.length : this._position;
    this._text = this._text.slice(0, position) + text + this._text.slice(position + text.length);
    this._position = position + text.length;
    // Written through at once, so a script that never closes the file loses nothing.
    return hostCall(() => {
      host.writeFile(this._path, this._text, this.encoding);
      return true;
    });
  };

  File.prototype.writeln = function () {
    const lineEnd = /^windows$/i.test(this.lineFeed) ? '\r\n' : '\n';
    return this.write(Array.prototype.map.call(arguments, String).join('') + lineEnd);
  };

  File.prototype.seek = function (position, mode) {
    const base = { 1: this._position, 2: this._text.length }[mode] || 0;
    const target = base + Number(position);
    if (this._mode === '' || target < 0 || target > this._text.length) {
      return false;
    }
    this._position = target;
    return true;
  };

  File.prototype.tell = function () {
    return this._position;
  };

  File.prototype.remove = function () {
    try {
      host.removeFile(this._path);
      return true;
    } catch (error) {
      this.error = String(error.message || error);
      return false;
    }
  };

  File.prototype.copy = function (target) {
    try {
      host.copyFile(this._path, pathOf(target));
      return true;
    } catch (error) {
      this.error = String(error.message || error);
      return false;
    }
  };

  File.prototype.rename = function (newName) {
    const target = host.joinPath(host.parentPath(this._path), String(newName));
    try {
      host.rename(this._path, target);
      this._path = target;
      return true;
    } catch (error) {
      this.error = String(error.message || error);
      return false;
    }
  };

  File.prototype.openDlg = () => null;
  File.prototype.saveDlg = () => null;
  File.openDialog = () => null;
  File.saveDialog = () => null;
  File.encode = (text) => encodeURI(String(text));
  File.decode = (text) => decodeURI(String(text));
  File.isEncodingAvailable = () => true;
  File.fs = host.fileSystem();

  function Folder(location) {
    if (!(this instanceof Folder)) {
      return new Folder(location);
    }
    hidden(this, '_path', location === undefined ? host.currentFolder() : pathOf(location));
    this.error = '';
  }
  definePathGetters(Folder.prototype);

  Folder.prototype.create = function () {
    try {
      host.makeFolder(this._path);
      return true;
    } catch (error) {
      this.error = String(error.message || error);
      return false;
    }
  };

  Folder.prototype.remove = function () {
    try {
      host.removeFolder(this._path);
      return true;
    } catch (error) {
      this.error = String(error.message || error);
      return false;
    }
  };

  // Returns the files and folders inside, filtered by a mask such as "*.jsx" or a function.
  Folder.prototype.getFiles = function (mask) {
    let entries;
    try {
      entries = JSON.parse(host.listFolder(this._path));
    } catch (error) {
      this.error = String(error.message || error);
      return null;
    }
    const found = entries.map((entry) => {
      const full = host.joinPath(this._path, entry.name);
      return entry.folder ? new Folder(full) : new File(full);
    });
    if (typeof mask === 'function') {
      return found.filter((entry) => mask(entry));
    }
    if (mask === undefined || mask === null || mask === '' || mask === '*') {
      return found;
    }
    const patterns = String(mask)
      .split(';')
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map((part) => new RegExp('^' + part.replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 'i'));
    return found.filter((entry) => patterns.some((pattern) => pattern.test(entry.name)));
  };

  Folder.prototype.rename = File.prototype.rename;
  Folder.prototype.selectDlg = () => null;
  Folder.selectDialog = () => null;
  Folder.encode = File.encode;
  Folder.decode = File.decode;
  Folder.fs = File.fs;
  Object.defineProperties(Folder, {
    current: { get: () => new Folder(host.currentFolder()) },
    temp: { get: () => new Folder(host.tempFolder()) },
    desktop: { get: () => new Folder(host.joinPath(host.homeFolder(), 'Desktop')) },
    myDocuments: { get: () => new Folder(host.joinPath(host.homeFolder(), 'Documents')) },
    userData: { get: () => new Folder(host.joinPath(host.homeFolder(), '.local/share')) },
    appData: { get: () => new Folder(host.joinPath(host.homeFolder(), '.local/share')) },
  });

  function joinArguments(values) {
    return Array.prototype.map.call(values, String).join('');
  }

  const dollar = {
    global: globalThis,
    os: host.osName(),
    version: '4.5.5',
    engineName: 'main',
    level: 0,
    evalFile(file) {
      const fsPath = pathOf(file);
      if (!stat(fsPath).exists) {
        throw new Error(`File or folder does not exist: ${fsPath}`);
      }
      scriptFiles.push(fsPath);
      try {
        return host.evalFile(fsPath);
      } finally {
        scriptFiles.pop();
      }
    },
    writeln() {
      log(joinArguments(arguments));
    },
    write() {
      log(joinArguments(arguments));
    },
    sleep(milliseconds) {
      host.sleep(milliseconds);
    },
    gc() {},
    bp() {},
  };
  Object.defineProperty(dollar, 'fileName', {
    get: () => (scriptFiles.length ? scriptFiles[scriptFiles.length - 1] : ''),
  });

  globalThis.File = File;
  globalThis.Folder = Folder;
  globalThis.$ = dollar;
  globalThis.alert = function (message) {
    log(`alert: ${message}`);
  };
  globalThis.confirm = function (message) {
    log(`confirm: ${message} (answered no: the simulator shows no dialogs)`);
    return false;
  };
  globalThis.prompt = function (message, preset) {
    log(`prompt: ${message} (answered with the preset value: the simulator shows no dialogs)`);
    return preset === undefined ? null : String(preset);
  };

  // After Effects' system object, so that a script calling it learns that the call is not
  // modelled instead of getting "system is not defined".
  globalThis.system = {
    callSystem(command) {
      throw new Error(
        `system.callSystem is not supported by the aerender simulator (command: ${String(command)})`,
      );
    },
  };

  shared.settings = settings;
  shared.hidden = hidden;
  shared.hostCall = hostCall;
  shared.pathOf = pathOf;
  shared.log = log;
});
