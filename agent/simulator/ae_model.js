// Items, the project and the application of the After Effects object model that
// script_host.js builds: app, app.project, CompItem, FootageItem, FolderItem, ImportOptions
// and the render queue. Every object mirrors one object of the py-aep project that the
// simulator's Python process keeps. Reads come from the snapshots Python sent. Every change is
// a request that Python applies at once, and its reply carries the new state, or an error
// that the script gets as an Error. Collections count from 1, as in ExtendScript.
//
// NOTE: items other than imported footage cannot be added, and no item can be removed.
(function (host, shared) {
  'use strict';

  const {
    hidden, pathOf, log, settings, request, notSupported, enumeration, indexedCollection,
    oneBased, Layer, LAYER_CLASSES, LayerCollection,
  } = shared;

  const CloseOptions = enumeration({
    DO_NOT_SAVE_CHANGES: 1212, PROMPT_TO_SAVE_CHANGES: 1213, SAVE_CHANGES: 1214,
  });
  const ImportAsType = enumeration({
    COMP_CROPPED_LAYERS: 3812, FOOTAGE: 3813, COMP: 3814, PROJECT: 3815,
  });

  const ITEM_SETTERS = ['name', 'comment', 'label'];
  const COMP_SETTERS = [
    'width', 'height', 'duration', 'frameRate', 'pixelAspect', 'bgColor', 'workAreaStart',
    'workAreaDuration', 'displayStartTime',
  ];

  class Item {
    constructor(spec, project) {
      hidden(this, '_spec', spec);
      hidden(this, '_project', project);
    }

    _set(attribute, value) {
      const spec = request('setItem', { item: this._spec.id, attribute, value });
      Object.assign(this._spec, spec);
    }

    get id() { return this._spec.id; }
    get typeName() { return this._spec.type; }
    get parentFolder() { return this._project._itemById(this._spec.parentFolder); }
    get selected() { return false; }

    remove() {
      throw notSupported('Removing a project item');
    }
  }
  for (const attribute of ITEM_SETTERS) {
    Object.defineProperty(Item.prototype, attribute, {
      get() { return this._spec[attribute]; },
      set(value) { this._set(attribute, value); },
    });
  }

  class FolderItem extends Item {
    constructor(spec, project) {
      super(spec, project);
      hidden(this, 'items', indexedCollection(new ItemCollection(() => this._members()),
        () => this._members()));
    }

    _members() {
      return this._project._items.filter((item) => item._spec.parentFolder === this.id);
    }

    get numItems() { return this._members().length; }

    item(index) {
      return oneBased(this._members(), index, 'item');
    }
  }

  class AVItem extends Item {
    get width() { return this._spec.width; }
    get height() { return this._spec.height; }
    get duration() { return this._spec.duration; }
    get frameRate() { return this._spec.frameRate; }
    get frameDuration() { return this._spec.frameRate ? 1 / this._spec.frameRate : 0; }
    get pixelAspect() { return this._spec.pixelAspect; }
    get hasVideo() { return this._spec.hasVideo; }
    get hasAudio() { return this._spec.hasAudio; }
    get footageMissing() { return Boolean(this._spec.footageMissing); }
    get useProxy() { return false; }
    get proxySource() { return null; }
    get time() { return 0; }

    get usedIn() {
      return this._project._items.filter((item) => item instanceof CompItem
        && item._layers.some((layer) => layer._spec.source === this.id));
    }
  }

  class CompItem extends AVItem {
    constructor(spec, project) {
      super(spec, project);
      hidden(this, '_layers', spec.layers.map((layerSpec) =>
        new (LAYER_CLASSES[layerSpec.kind] || Layer)(layerSpec, this)));
      delete spec.layers;
      hidden(this, 'layers', indexedCollection(new LayerCollection(this), () => this._layers));
    }

    _layerById(id) {
      return this._layers.find((layer) => layer._spec.id === id) || null;
    }

    get numLayers() { return this._layers.length; }
    get bgColor() { return this._spec.bgColor.slice(); }
    get displayStartTime() { return this._spec.displayStartTime; }
    get workAreaStart() { return this._spec.workAreaStart; }
    get workAreaDuration() { return this._spec.workAreaDuration; }
    get activeCamera() { return null; }
    get selectedLayers() { return []; }
    get selectedProperties() { return []; }

    // layer(index), layer(name), or layer(otherLayer, relativeIndex).
    layer(key, relativeIndex) {
      if (key instanceof Layer) {
        return oneBased(this._layers, key.index + Number(relativeIndex), 'layer');
      }
      if (typeof key === 'number') {
        return oneBased(this._layers, key, 'layer');
      }
      return this._layers.find((layer) => layer.name === String(key)) || null;
    }

    duplicate() {
      throw notSupported('Duplicating a composition');
    }
  }
  for (const attribute of COMP_SETTERS) {
    const getter = Object.getOwnPropertyDescriptor(CompItem.prototype, attribute)
      || Object.getOwnPropertyDescriptor(AVItem.prototype, attribute);
    Object.defineProperty(CompItem.prototype, attribute, {
      get: getter.get,
      set(value) { this._set(attribute, value); },
    });
  }

  class FootageSource {
    constructor(spec) {
      hidden(this, '_spec', spec);
    }

    get isStill() { return Boolean(this._spec.isStill); }
    get hasAlpha() { return Boolean(this._spec.hasAlpha); }
  }

  class FileSource extends FootageSource {
    get file() { return this._spec.file ? new File(this._spec.file) : null; }
    get missingFootagePath() { return this._spec.missing ? this._spec.file : ''; }
  }

  class SolidSource extends FootageSource {
    get color() { return this._spec.color.slice(); }
  }

  class PlaceholderSource extends FootageSource {}

  const SOURCE_CLASSES = { file: FileSource, solid: SolidSource, placeholder: PlaceholderSource };

  class FootageItem extends AVItem {
    get file() { return this._spec.mainSource.file ? new File(this._spec.mainSource.file) : null; }

    get mainSource() {
      return new (SOURCE_CLASSES[this._spec.mainSource.kind] || FootageSource)(
        this._spec.mainSource);
    }

    // Changes the file of this item, so every layer that shows it shows the new file.
    replace(file) {
      this._replace(file, false);
    }

    replaceWithSequence(file) {
      this._replace(file, true);
    }

    _replace(file, sequence) {
      const spec = request('replaceFootage', { item: this.id, path: pathOf(file), sequence });
      this._project._refreshLayers();
      Object.assign(this._spec, spec);
    }
  }

  class ItemCollection {
    constructor(members) {
      hidden(this, '_members', members);
    }

    get length() { return this._members().length; }

    addComp() {
      throw notSupported('items.addComp');
    }

    addFolder() {
      throw notSupported('items.addFolder');
    }
  }

  class ImportOptions {
    constructor(file) {
      this.file = null;
      if (file instanceof File) {
        this.file = file;
      } else if (file !== undefined) {
        this.file = new File(file);
      }
      this.sequence = false;
      this.forceAlphabetical = false;
      this.importAs = ImportAsType.FOOTAGE;
    }

    canImportAs(type) {
      return type === ImportAsType.FOOTAGE;
    }
  }

  function buildItem(spec, project) {
    const classes = { Composition: CompItem, Footage: FootageItem, Folder: FolderItem };
    return new (classes[spec.type] || Item)(spec, project);
  }

  class RenderQueueItem {
    constructor(comp) {
      hidden(this, '_comp', comp);
    }

    get comp() { return this._comp; }
    get render() { return true; }
  }

  class RenderQueue {
    constructor(items) {
      hidden(this, '_items', items);
      hidden(this, 'items', indexedCollection({ length: items.length }, () => this._items));
    }

    get numItems() { return this._items.length; }
    get rendering() { return false; }

    item(index) {
      return oneBased(this._items, index, 'item');
    }

    render() {
      throw notSupported('renderQueue.render (aerender renders the queue)');
    }

    showWindow() {}
  }

  class Project {
    constructor(snapshot) {
      hidden(this, '_file', snapshot.file);
      hidden(this, '_root', buildItem(snapshot.root, this));
      hidden(this, '_items', snapshot.items.map((spec) => buildItem(spec, this)));
      hidden(this, 'items', indexedCollection(new ItemCollection(() => this._items),
        () => this._items));
      hidden(this, 'renderQueue', new RenderQueue(
        snapshot.renderQueue.map((id) => this._itemById(id)).filter((comp) => comp !== null)));
    }

    _itemById(id) {
      if (id === this._root.id) {
        return this._root;
      }
      return this._items.find((item) => item.id === id) || null;
    }

    // Re-reads every layer's state after a change that can rename several layers.
    _refreshLayers() {
      const states = request('layers', {});
      for (const item of this._items) {
        if (item instanceof CompItem) {
          for (const layer of item._layers) {
            if (states[layer.id]) {
              layer._spec = states[layer.id];
            }
          }
        }
      }
    }

    get file() { return this._file ? new File(this._file) : null; }
    get numItems() { return this._items.length; }
    get rootFolder() { return this._root; }
    get activeItem() { return null; }
    get selection() { return []; }
    get dirty() { return true; }

    item(index) {
      return oneBased(this._items, index, 'item');
    }

    layerByID(id) {
      for (const item of this._items) {
        const layer = item instanceof CompItem ? item._layerById(id) : null;
        if (layer !== null) {
          return layer;
        }
      }
      return null;
    }

    importFile(options) {
      if (!(options instanceof ImportOptions) || !(options.file instanceof File)) {
        throw new Error('Unable to call "importFile" because of parameter 1: give an ' +
          'ImportOptions with a file');
      }
      const spec = request('importFile', {
        path: options.file.fsName, sequence: Boolean(options.sequence),
        forceAlphabetical: Boolean(options.forceAlphabetical),
      });
      const item = buildItem(spec, this);
      this._items.push(item);
      return item;
    }

    importFileWithDialog() {
      return null;
    }

    save(file) {
      if (file === undefined && !this._file) {
        throw new Error('The project was never saved, and a save without a file opens a ' +
          'dialog; give app.project.save a File');
      }
      const target = file === undefined ? this._file : pathOf(file);
      this._file = request('save', { path: target }).file;
      return true;
    }

    saveWithDialog() {
      return false;
    }

    close() {
      return true;
    }
  }

  // The application.

  let project = new Project(request('project', {}));
  const storedSettings = {};

  const app = {
    get project() { return project; },
    version: settings.version,
    buildName: settings.version,
    isRenderEngine: settings.mode === 'aerender',
    isWatchFolder: false,
    isUISuppressed: true,
    memoryInUse: 0,
    exitCode: 0,
    exitAfterLaunchAndEval: false,
    saveProjectOnCrash: false,
    onError: null,
    settings: {
      haveSetting: (section, key) => `${section}\u0000${key}` in storedSettings,
      getSetting: (section, key) => storedSettings[`${section}\u0000${key}`] || '',
      saveSetting: (section, key, value) => {
        storedSettings[`${section}\u0000${key}`] = String(value);
      },
    },
    open(file) {
      if (file === undefined) {
        return null;
      }
      project = new Project(request('open', { path: pathOf(file) }));
      return project;
    },
    newProject() {
      project = new Project(request('newProject', {}));
      return project;
    },
    beginSuppressDialogs() {},
    endSuppressDialogs() {},
    beginUndoGroup() {},
    endUndoGroup() {},
    purge() {},
    activate() {},
    quit() {
      log('app.quit() ignored: the simulator ends when the script ends');
    },
    scheduleTask() {
      throw notSupported('app.scheduleTask');
    },
    executeCommand() {
      throw notSupported('app.executeCommand');
    },
    findMenuCommandId() {
      throw notSupported('app.findMenuCommandId');
    },
  };

  shared.AVItem = AVItem;
  Object.assign(globalThis, {
    app, ImportOptions, Item, FolderItem, AVItem, CompItem, FootageItem, FootageSource,
    FileSource, SolidSource, PlaceholderSource, ItemCollection, RenderQueue, RenderQueueItem,
    Project, CloseOptions, ImportAsType,
  });
  if (settings.mode === 'aerender') {
    // aerender's commandLineRenderer.jsx keeps its state in this global, and scripts that
    // aerender runs write to its log through log_file.
    globalThis.gAECommandLineRenderer = {
      is_verbose_mode: true,
      log_file: { writeln: (text) => log(text), write: (text) => log(text) },
    };
  }
});
