// Runs one ExtendScript file under Node.js for the aerender simulator and its After Effects
// stand-in (agent/simulator/script_host.py starts it).
//
// Usage: node script_host.js SETTINGS_JSON
//
// SETTINGS_JSON is {"script": PATH, "mode": "aerender" | "afterfx", "version": "26.0x55"}.
// The script runs in a fresh vm context whose globals are the After Effects object model of
// ae_files.js (File, Folder, $, alert), ae_properties.js (properties, TextDocument),
// ae_layers.js (layers) and ae_model.js (app, the project and its items), run in that order.
// The project itself lives in the Python process: stdin and stdout carry one JSON object per
// line. Each request {"id", "call", ...} that the model sends waits for its reply {"id",
// "ok", "result" | "error"}, so every change takes effect at once, in order. {"log": TEXT}
// lines need no reply. The last line is {"done": {"ok": true}} or {"done": {"ok": false,
// "error": {"message", "line", "file"}}}. The process exits 0 once it sent that line.
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const vm = require('vm');
const { StringDecoder } = require('string_decoder');

const MODEL_FILES = ['ae_files.js', 'ae_properties.js', 'ae_layers.js', 'ae_model.js'];
// Frames in these files belong to the host, never to the user's script.
const HOST_FILES = new Set(MODEL_FILES.map((name) => path.join(__dirname, name)));
HOST_FILES.add(__filename);
const SLEEP_CELL = new Int32Array(new SharedArrayBuffer(4));

function sleep(milliseconds) {
  Atomics.wait(SLEEP_CELL, 0, 0, Math.max(0, Number(milliseconds) || 0));
}

class Channel {
  constructor() {
    this.buffered = '';
    this.decoder = new StringDecoder('utf8');
    this.chunk = Buffer.alloc(64 * 1024);
    this.nextId = 1;
  }

  send(message) {
    const data = Buffer.from(JSON.stringify(message) + '\n', 'utf8');
    let written = 0;
    while (written < data.length) {
      try {
        written += fs.writeSync(1, data, written, data.length - written);
      } catch (error) {
        if (error.code !== 'EAGAIN') {
          throw error;
        }
        sleep(1);
      }
    }
  }

  readLine() {
    for (;;) {
      const newline = this.buffered.indexOf('\n');
      if (newline >= 0) {
        const line = this.buffered.slice(0, newline);
        this.buffered = this.buffered.slice(newline + 1);
        return line;
      }
      let count;
      try {
        count = fs.readSync(0, this.chunk, 0, this.chunk.length, null);
      } catch (error) {
        if (error.code === 'EAGAIN') {
          sleep(1);
          continue;
        }
        throw error;
      }
      if (count === 0) {
        throw new Error('the simulator closed the script channel');
      }
      this.buffered += this.decoder.write(this.chunk.subarray(0, count));
    }
  }

  // Sends the request in requestText (JSON) and returns the reply's JSON text.
  request(requestText) {
    const id = this.nextId++;
    const message = JSON.parse(requestText);
    message.id = id;
    this.send(message);
    const replyText = this.readLine();
    const reply = JSON.parse(replyText);
    if (reply.id !== id) {
      throw new Error(`the simulator replied to request ${reply.id} instead of ${id}`);
    }
    return replyText;
  }
}

// Replaces ExtendScript preprocessor lines, which Node.js cannot parse, keeping line numbers:
// #include becomes a $.evalFile of the resolved file, the others become empty lines.
function preprocess(source, file) {
  const folder = path.dirname(file);
  const searchPath = [];
  const lines = source.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const match = /^\s*#\s*([A-Za-z]+)\b(.*)$/.exec(lines[index]);
    if (match === null) {
      continue;
    }
    const directive = match[1].toLowerCase();
    const argument = match[2].trim().replace(/;$/, '').trim().replace(/^(["'])(.*)\1$/, '$2');
    if (directive === 'include') {
      const resolved = resolveInclude(argument, folder, searchPath);
      lines[index] = `$.evalFile(${JSON.stringify(resolved)});`;
    } else if (directive === 'includepath') {
      for (const part of argument.split(';')) {
        if (part.trim()) {
          searchPath.push(path.resolve(folder, expandHome(part.trim())));
        }
      }
      lines[index] = '';
    } else if (['target', 'targetengine', 'strict', 'script', 'engine'].includes(directive)) {
      lines[index] = '';
    }
  }
  return lines.join('\n');
}

function resolveInclude(name, folder, searchPath) {
  const expanded = expandHome(name);
  if (path.isAbsolute(expanded)) {
    return expanded;
  }
  for (const base of [folder, ...searchPath]) {
    const candidate = path.resolve(base, expanded);
    if (fs.existsSync(candidate)) {
      return candidate;
    }
  }
  return path.resolve(folder, expanded);
}

function expandHome(text) {
  if (text === '~' || text.startsWith('~/')) {
    return path.join(os.homedir(), text.slice(1));
  }
  return text;
}

// Returns [file, line] of the first stack frame in a user script, or [null, 0].
function scriptFrame(stack) {
  const lines = String(stack || '').split('\n');
  // A SyntaxError from compiling starts with "FILE:LINE" on its own line.
  const header = /^(.+):(\d+)$/.exec(lines[0]);
  if (header !== null && !HOST_FILES.has(header[1])) {
    return [header[1], Number(header[2])];
  }
  for (const line of lines) {
    const frame = /^\s+at (?:.*? \()?(.+?):(\d+):\d+\)?$/.exec(line);
    if (frame !== null && !HOST_FILES.has(frame[1]) && !frame[1].startsWith('node:')) {
      return [frame[1], Number(frame[2])];
    }
  }
  return [null, 0];
}

function readScript(file) {
  const data = fs.readFileSync(file);
  if (data.subarray(0, 8).toString('latin1') === '@JSXBIN@') {
    throw new Error(
      `${file} is a compiled .jsxbin script, which the aerender simulator cannot run; ` +
        'give the .jsx source',
    );
  }
  return data.toString('utf8').replace(/^\uFEFF/, '');
}

function fileEncoding(name) {
  const key = String(name || '').toUpperCase().replace(/[^A-Z0-9]/g, '');
  if (['UTF16', 'UCS2', 'UTF16LE'].includes(key)) {
    return 'utf16le';
  }
  // NOTE: single-byte encodings, Mac Roman among them, are all read as Latin-1.
  const singleByte = ['BINARY', 'ASCII', 'USASCII', 'ISO88591', 'LATIN1', 'CP1252'];
  if ([...singleByte, 'WINDOWS1252', 'MACINTOSH', 'MACROMAN'].includes(key)) {
    return 'latin1';
  }
  return 'utf8';
}

function createBridge(channel, context, settings) {
  const ContextSyntaxError = vm.runInContext('SyntaxError', context);
  return {
    settings: JSON.stringify(settings),
    request: (text) => channel.request(String(text)),
    log: (text) => channel.send({ log: String(text) }),
    sleep,
    evalFile(file) {
      const source = preprocess(readScript(file), file);
      let script;
      try {
        script = new vm.Script(source, { filename: file });
      } catch (error) {
        // The compile error comes from this realm; the script must see its own SyntaxError.
        const [, line] = scriptFrame(error.stack);
        const converted = new ContextSyntaxError(String(error.message));
        Object.defineProperty(converted, 'line', { value: line, writable: true });
        Object.defineProperty(converted, 'fileName', { value: file, writable: true });
        throw converted;
      }
      return script.runInContext(context);
    },
    scriptFrame: (stack) => JSON.stringify(scriptFrame(stack)),
    resolvePath: (text) => path.resolve(expandHome(String(text))),
    parentPath: (text) => path.dirname(String(text)),
    baseName: (text) => path.basename(String(text)),
    joinPath: (folder, name) => path.join(String(folder), String(name)),
    relativePath: (from, to) => path.relative(String(from), String(to)),
    homeFolder: () => os.homedir(),
    tempFolder: () => os.tmpdir(),
    currentFolder: () => process.cwd(),
    osName: () => `${os.type()} ${os.release()}`,
    fileSystem: () =>
      ({ win32: 'Windows', darwin: 'Macintosh' })[process.platform] || 'Unix',
    stat(text) {
      try {
        const stats = fs.statSync(String(text));
        return JSON.stringify({
          exists: true,
          folder: stats.isDirectory(),
          size: stats.size,
          modified: stats.mtimeMs,
          created: stats.birthtimeMs,
        });
      } catch (error) {
        // Only a failure of the file system means "no such file". Others, such as a stack
        // overflow in a script that includes itself, stay errors of the script.
        if (typeof error.code !== 'string') {
          throw error;
        }
        return JSON.stringify({ exists: false });
      }
    },
    readFile: (file, encoding) => {
      const text = fs.readFileSync(String(file)).toString(fileEncoding(encoding));
      return text.replace(/^\uFEFF/, '');
    },
    writeFile: (file, text, encoding) =>
      fs.writeFileSync(String(file), Buffer.from(String(text), fileEncoding(encoding))),
    makeFolder: (folder) => fs.mkdirSync(String(folder), { recursive: true }) !== null,
    removeFile: (file) => fs.unlinkSync(String(file)),
    removeFolder: (folder) => fs.rmdirSync(String(folder)),
    copyFile: (from, to) => fs.copyFileSync(String(from), String(to)),
    rename: (from, to) => fs.renameSync(String(from), String(to)),
    listFolder: (folder) =>
      JSON.stringify(
        fs
          .readdirSync(String(folder), { withFileTypes: true })
          .map((entry) => ({ name: entry.name, folder: entry.isDirectory() })),
      ),
  };
}

function describeError(error) {
  let message;
  try {
    message = String(error);
  } catch (conversion) {
    message = 'an error whose text cannot be read';
  }
  let line = 0;
  let file = null;
  if (error !== null && (typeof error === 'object' || typeof error === 'function')) {
    try {
      line = Number(error.line) || 0;
      file = error.fileName ? String(error.fileName) : null;
    } catch (ignored) {
      // A throwing getter leaves the place unknown.
    }
  }
  return { message, line, file };
}

function main() {
  const settings = JSON.parse(process.argv[2]);
  const channel = new Channel();
  const context = vm.createContext({}, { name: 'ExtendScript' });
  const bridge = createBridge(channel, context, settings);
  const shared = vm.runInContext('({})', context);
  for (const name of MODEL_FILES) {
    const file = path.join(__dirname, name);
    const install = vm.runInContext(fs.readFileSync(file, 'utf8'), context, { filename: file });
    install(bridge, shared);
  }
  let outcome;
  try {
    vm.runInContext('$', context).evalFile(settings.script);
    outcome = { ok: true };
  } catch (error) {
    outcome = { ok: false, error: describeError(error) };
  }
  channel.send({ done: outcome });
}

main();
