// Properties, property groups and TextDocument of the After Effects object model that
// script_host.js builds. A property mirrors one property of a layer of the py-aep project that
// the simulator's Python process keeps: its value comes from the snapshot Python sent, and
// setValue is a request that Python applies at once. Its reply carries the new state, or an
// error that the script gets as an Error. Also the helpers that ae_layers.js and ae_model.js
// share: request, notSupported, indexed collections and enumerations.
//
// NOTE: a property group cannot be called as a function (layer("Effects")), and properties
// cannot be added, removed or moved.
(function (host, shared) {
  'use strict';

  const { hidden } = shared;

  function request(call, args) {
    const reply = JSON.parse(host.request(JSON.stringify(Object.assign({ call }, args))));
    if (!reply.ok) {
      throw new Error(reply.error);
    }
    return reply.result;
  }

  function notSupported(feature) {
    return new Error(`${feature} is not supported by the aerender simulator`);
  }

  function enumeration(values) {
    return Object.freeze(Object.assign({}, values));
  }

  const PropertyType = enumeration({ PROPERTY: 6212, NAMED_GROUP: 6213, INDEXED_GROUP: 6214 });
  const PropertyValueType = enumeration({
    NO_VALUE: 6412, ThreeD_SPATIAL: 6413, ThreeD: 6414, TwoD_SPATIAL: 6415, TwoD: 6416,
    OneD: 6417, COLOR: 6418, CUSTOM_VALUE: 6419, MARKER: 6420, LAYER_INDEX: 6421,
    MASK_INDEX: 6422, SHAPE: 6423, TEXT_DOCUMENT: 6424,
  });
  const ParagraphJustification = enumeration({
    MULTIPLE_JUSTIFICATIONS: 7412, LEFT_JUSTIFY: 7413, RIGHT_JUSTIFY: 7414,
    CENTER_JUSTIFY: 7415, FULL_JUSTIFY_LASTLINE_LEFT: 7416, FULL_JUSTIFY_LASTLINE_RIGHT: 7417,
    FULL_JUSTIFY_LASTLINE_CENTER: 7418, FULL_JUSTIFY_LASTLINE_FULL: 7419,
  });

  // Fields of a TextDocument that travel to Python; a script's own `new TextDocument(text)`
  // sends only the fields it set, so setValue keeps the layer's other styles.
  const TEXT_FIELDS = [
    'text', 'font', 'fontSize', 'fillColor', 'strokeColor', 'strokeWidth', 'applyFill',
    'applyStroke', 'strokeOverFill', 'justification', 'tracking', 'leading', 'baselineShift',
    'fauxBold', 'fauxItalic', 'allCaps', 'smallCaps',
  ];

  class TextDocument {
    constructor(text) {
      this.text = text === undefined ? '' : String(text);
    }

    resetCharStyle() {}

    resetParagraphStyle() {}
  }

  function decodeValue(raw, propertyName) {
    if (raw === null || typeof raw !== 'object') {
      return raw;
    }
    if (Array.isArray(raw)) {
      return raw.slice();
    }
    if (raw.$type === 'TextDocument') {
      const document = new TextDocument(raw.text);
      for (const field of TEXT_FIELDS) {
        if (field in raw) {
          document[field] = Array.isArray(raw[field]) ? raw[field].slice() : raw[field];
        }
      }
      return document;
    }
    throw new Error(
      `the value of property "${propertyName}" is a ${raw.description}, which the aerender ` +
        'simulator cannot read',
    );
  }

  function encodeValue(value) {
    if (value instanceof TextDocument) {
      const encoded = { $type: 'TextDocument' };
      for (const field of TEXT_FIELDS) {
        if (value[field] !== undefined) {
          encoded[field] = value[field];
        }
      }
      return encoded;
    }
    if (value === undefined) {
      throw new Error('Unable to call "setValue" because of parameter 1: no value was given');
    }
    return value;
  }

  function camelName(name) {
    const words = String(name).split(/[^A-Za-z0-9]+/).filter((word) => word !== '');
    return words
      .map((word, index) =>
        index === 0 ? word.charAt(0).toLowerCase() + word.slice(1) : word.charAt(0).toUpperCase()
          + word.slice(1))
      .join('');
  }

  // A collection whose members a script reads as collection[1] ... collection[length].
  function indexedCollection(collection, members) {
    return new Proxy(collection, {
      get(target, key, receiver) {
        if (typeof key === 'string' && /^[0-9]+$/.test(key)) {
          return members()[Number(key) - 1];
        }
        return Reflect.get(target, key, receiver);
      },
      has(target, key) {
        if (typeof key === 'string' && /^[0-9]+$/.test(key)) {
          const index = Number(key);
          return index >= 1 && index <= members().length;
        }
        return Reflect.has(target, key);
      },
    });
  }

  function oneBased(list, index, method) {
    const number = Number(index);
    if (!Number.isInteger(number) || number < 1 || number > list.length) {
      throw new Error(
        `Unable to call "${method}" because of parameter 1. Value ${index} out of range 1 to ` +
          `${list.length}.`,
      );
    }
    return list[number - 1];
  }

  // Properties and groups.

  class PropertyBase {
    constructor(spec, parent, layer, path) {
      hidden(this, '_spec', spec);
      hidden(this, '_parent', parent);
      hidden(this, '_layer', layer);
      hidden(this, '_path', path);
    }

    get name() { return this._spec.name; }
    get matchName() { return this._spec.matchName; }
    get propertyIndex() { return this._path[this._path.length - 1] + 1; }
    get propertyDepth() { return this._path.length; }
    get parentProperty() { return this._parent; }
    get isEffect() { return Boolean(this._spec.isEffect); }
    get isMask() { return Boolean(this._spec.isMask); }
    get enabled() { return this._spec.enabled !== false; }
    get active() { return this.enabled; }
    get selected() { return false; }
    get elided() { return false; }
    get isModified() { return false; }
    get canSetEnabled() { return false; }

    propertyGroup(countUp) {
      let group = this;
      for (let step = 0; step < (countUp === undefined ? 1 : countUp); step++) {
        group = group ? group.parentProperty : null;
      }
      return group;
    }

    remove() {
      throw notSupported('Removing a property');
    }

    duplicate() {
      throw notSupported('Duplicating a property');
    }

    moveTo() {
      throw notSupported('Moving a property');
    }
  }

  class PropertyGroup extends PropertyBase {
    _children() {
      return this._childList;
    }

    get propertyType() { return this._spec.kind === 'indexed' ? 6214 : 6213; }
    get numProperties() { return this._children().length; }

    property(key) {
      const children = this._children();
      if (typeof key === 'number') {
        return key >= 1 && key <= children.length ? children[key - 1] : null;
      }
      const name = String(key);
      return children.find((child) => child.name === name || child.matchName === name) || null;
    }

    canAddProperty() {
      return false;
    }

    addProperty(name) {
      throw notSupported(`Adding property ${JSON.stringify(String(name))}`);
    }
  }

  class Property extends PropertyBase {
    get propertyType() { return 6212; }
    get propertyValueType() { return this._spec.valueType; }
    get value() { return decodeValue(this._spec.value, this.name); }
    get numKeys() { return this._spec.numKeys; }
    get canVaryOverTime() { return true; }
    get isTimeVarying() { return this._spec.numKeys > 0 || this.expressionEnabled; }
    get canSetExpression() { return Boolean(this._spec.canSetExpression); }
    get expressionError() { return ''; }
    get dimensionsSeparated() { return false; }
    get isSeparationFollower() { return false; }
    get isSeparationLeader() { return false; }
    get hasMin() { return false; }
    get hasMax() { return false; }
    get unitsText() { return ''; }

    get expression() { return this._spec.expression; }
    set expression(text) {
      this._update(request('setExpression', this._address({ expression: String(text) })));
    }

    get expressionEnabled() { return Boolean(this._spec.expressionEnabled); }
    set expressionEnabled(enabled) {
      this._update(request('setExpressionEnabled', this._address({ enabled: Boolean(enabled) })));
    }

    setValue(value) {
      this._update(request('setValue', this._address({ value: encodeValue(value) })));
    }

    setValueAtTime(time, value) {
      this._update(request('setValueAtTime', this._address({
        time: Number(time), value: encodeValue(value),
      })));
    }

    valueAtTime(time) {
      if (!this._spec.numKeys) {
        return this.value;
      }
      return decodeValue(request('valueAtTime', this._address({ time: Number(time) })), this.name);
    }

    _address(extra) {
      return Object.assign({ layer: this._layer._spec.id, path: this._path }, extra);
    }

    _update(spec) {
      Object.assign(this._spec, spec);
    }
  }

  function buildProperty(spec, parent, layer, path) {
    if (spec.kind === 'property') {
      return new Property(spec, parent, layer, path);
    }
    const group = new PropertyGroup(spec, parent, layer, path);
    hidden(group, '_childList', spec.children.map((child, index) =>
      buildProperty(child, group, layer, path.concat([index]))));
    addShortcuts(group, group._childList);
    return group;
  }

  // ExtendScript names each child of a group as an attribute too: transform.anchorPoint.
  function addShortcuts(group, children) {
    for (const child of children) {
      const key = camelName(child.name);
      if (key !== '' && !(key in group)) {
        Object.defineProperty(group, key, { get: () => child, configurable: true });
      }
    }
  }

  Object.assign(shared, {
    request, notSupported, enumeration, indexedCollection, oneBased, buildProperty,
    PropertyGroup,
  });
  Object.assign(globalThis, {
    TextDocument, PropertyBase, PropertyGroup, Property, PropertyType, PropertyValueType,
    ParagraphJustification,
  });
});
