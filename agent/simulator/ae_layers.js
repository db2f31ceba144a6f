// Layers of the After Effects object model that script_host.js builds: Layer, AVLayer,
// TextLayer, ShapeLayer, CameraLayer, LightLayer and the layers collection of a composition.
// A layer mirrors one layer of the py-aep project; its properties are fetched from Python when
// the script first touches them (ae_properties.js).
//
// NOTE: layers cannot be added, removed, moved or duplicated.
(function (host, shared) {
  'use strict';

  const { hidden, request, notSupported, buildProperty, PropertyGroup } = shared;

  const LAYER_MATCH_NAMES = {
    text: 'ADBE Text Layer', shape: 'ADBE Vector Layer', camera: 'ADBE Camera Layer',
    light: 'ADBE Light Layer', av: 'ADBE AV Layer',
  };
  // Names that Layer.property() also finds inside these groups, as After Effects does.
  const SHORTCUT_GROUPS = ['ADBE Transform Group', 'ADBE Text Properties'];
  // Layer attributes that are the property of that match name, as in layer.position.
  const LAYER_SHORTCUTS = {
    transform: ['ADBE Transform Group'],
    marker: ['ADBE Marker'],
    timeRemap: ['ADBE Time Remapping'],
    effect: ['ADBE Effect Parade'],
    mask: ['ADBE Mask Parade'],
    audio: ['ADBE Audio Group'],
    layerStyle: ['ADBE Layer Styles'],
    anchorPoint: ['ADBE Transform Group', 'ADBE Anchor Point'],
    position: ['ADBE Transform Group', 'ADBE Position'],
    xPosition: ['ADBE Transform Group', 'ADBE Position_0'],
    yPosition: ['ADBE Transform Group', 'ADBE Position_1'],
    zPosition: ['ADBE Transform Group', 'ADBE Position_2'],
    scale: ['ADBE Transform Group', 'ADBE Scale'],
    orientation: ['ADBE Transform Group', 'ADBE Orientation'],
    xRotation: ['ADBE Transform Group', 'ADBE Rotate X'],
    yRotation: ['ADBE Transform Group', 'ADBE Rotate Y'],
    zRotation: ['ADBE Transform Group', 'ADBE Rotate Z'],
    rotation: ['ADBE Transform Group', 'ADBE Rotate Z'],
    opacity: ['ADBE Transform Group', 'ADBE Opacity'],
  };
  const TEXT_SHORTCUTS = {
    text: ['ADBE Text Properties'],
    sourceText: ['ADBE Text Properties', 'ADBE Text Document'],
  };
  // Layer attributes that a script may set; Python checks each value.
  const LAYER_SETTERS = [
    'name', 'enabled', 'comment', 'label', 'inPoint', 'outPoint', 'startTime', 'locked', 'shy',
    'solo', 'guideLayer',
  ];

  class Layer extends PropertyGroup {
    constructor(spec, comp) {
      super(spec, null, null, []);
      hidden(this, '_layer', this);
      hidden(this, '_comp', comp);
      hidden(this, '_childList', null);
    }

    _children() {
      if (this._childList === null) {
        const specs = request('properties', { layer: this._spec.id });
        this._childList = specs.map((child, index) => buildProperty(child, this, this, [index]));
      }
      return this._childList;
    }

    _byMatchNames(names) {
      let current = this;
      for (const name of names) {
        current = current ? current.property(name) : null;
      }
      return current;
    }

    _set(attribute, value) {
      this._spec = request('setLayer', { layer: this._spec.id, attribute, value });
    }

    get id() { return this._spec.id; }
    get index() { return this._comp._layers.indexOf(this) + 1; }
    get propertyIndex() { return this.index; }
    get propertyDepth() { return 0; }
    get matchName() { return LAYER_MATCH_NAMES[this._spec.kind] || 'ADBE AV Layer'; }
    get containingComp() { return this._comp; }
    get active() { return this._spec.enabled; }
    get nullLayer() { return this._spec.nullLayer; }
    get adjustmentLayer() { return this._spec.adjustmentLayer; }
    get threeDLayer() { return this._spec.threeDLayer; }
    get hasVideo() { return this._spec.hasVideo; }
    get hasAudio() { return this._spec.hasAudio; }
    get isNameSet() { return this._spec.isNameSet; }
    get parent() { return this._comp._layerById(this._spec.parent); }
    get time() { return 0; }

    property(key) {
      const found = super.property(key);
      if (found !== null || typeof key === 'number') {
        return found;
      }
      for (const group of SHORTCUT_GROUPS) {
        const inner = super.property(group);
        const shortcut = inner ? inner.property(key) : null;
        if (shortcut !== null) {
          return shortcut;
        }
      }
      return null;
    }

    remove() {
      throw notSupported('Removing a layer');
    }

    duplicate() {
      throw notSupported('Duplicating a layer');
    }
  }
  for (const attribute of LAYER_SETTERS) {
    Object.defineProperty(Layer.prototype, attribute, {
      get() { return this._spec[attribute]; },
      set(value) { this._set(attribute, value); },
    });
  }
  for (const [attribute, names] of Object.entries(LAYER_SHORTCUTS)) {
    Object.defineProperty(Layer.prototype, attribute, {
      get() { return this._byMatchNames(names); },
    });
  }

  class AVLayer extends Layer {
    get source() { return this._comp._project._itemById(this._spec.source); }
    get width() { return this._spec.width; }
    get height() { return this._spec.height; }

    replaceSource(item, fixExpressions) {
      if (!(item instanceof shared.AVItem)) {
        throw new Error('Unable to call "replaceSource" because of parameter 1: not an AVItem');
      }
      this._spec = request('replaceSource', {
        layer: this._spec.id, item: item.id, fixExpressions: Boolean(fixExpressions),
      });
    }
  }

  class TextLayer extends AVLayer {}
  for (const [attribute, names] of Object.entries(TEXT_SHORTCUTS)) {
    Object.defineProperty(TextLayer.prototype, attribute, {
      get() { return this._byMatchNames(names); },
    });
  }

  class ShapeLayer extends AVLayer {}
  class CameraLayer extends Layer {}
  class LightLayer extends Layer {}

  const LAYER_CLASSES = {
    text: TextLayer, shape: ShapeLayer, camera: CameraLayer, light: LightLayer, av: AVLayer,
  };

  class LayerCollection {
    constructor(comp) {
      hidden(this, '_comp', comp);
    }

    get length() { return this._comp._layers.length; }

    byName(name) {
      return this._comp._layers.find((layer) => layer.name === String(name)) || null;
    }

    precompose() {
      throw notSupported('Precomposing layers');
    }
  }
  for (const method of ['add', 'addBoxText', 'addCamera', 'addLight', 'addNull', 'addShape',
    'addSolid', 'addText', 'addVerticalText', 'addVerticalBoxText']) {
    LayerCollection.prototype[method] = function () {
      throw notSupported(`layers.${method}`);
    };
  }

  Object.assign(shared, { Layer, LAYER_CLASSES, LayerCollection });
  Object.assign(globalThis, {
    Layer, AVLayer, TextLayer, ShapeLayer, CameraLayer, LightLayer, LayerCollection,
  });
});
