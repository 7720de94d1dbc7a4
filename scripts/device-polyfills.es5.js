// otaflash polyfills for ES5 engines (Duktape 2.7, Espruino 2v29): load before otaflash*.es5*.js.
// Only what the lowered bundles call and one of those engines lacks; each is defined only when missing,
// so the file is harmless in an engine that has them all.
(function (G) {
  function def(obj, name, fn) {
    if (obj && typeof obj[name] !== 'function') {
      try { Object.defineProperty(obj, name, { value: fn, writable: true, configurable: true, enumerable: false }); } catch (e) { obj[name] = fn; }
    }
  }
  function toInt(n, dflt) { n = Number(n); return n !== n ? dflt : n < 0 ? Math.ceil(n) : Math.floor(n); }
  function rel(n, len, dflt) { n = n === undefined ? dflt : toInt(n, 0); return n < 0 ? Math.max(len + n, 0) : Math.min(n, len); }

  // Espruino lacks Object.freeze: freezing only guards against the library's own mistakes
  def(Object, 'freeze', function (o) { return o; });
  def(Object, 'assign', function (target) {
    for (var i = 1; i < arguments.length; i++) {
      var s = arguments[i];
      if (s !== null && s !== undefined) for (var k in s) if (Object.prototype.hasOwnProperty.call(s, k)) target[k] = s[k];
    }
    return target;
  });
  def(Object, 'setPrototypeOf', function (o, p) { o.__proto__ = p; return o; });
  def(Number, 'isInteger', function (n) { return typeof n === 'number' && isFinite(n) && Math.floor(n) === n; });
  def(Number, 'isSafeInteger', function (n) { return Number.isInteger(n) && Math.abs(n) <= 9007199254740991; });
  def(Math, 'imul', function (a, b) {
    var al = a & 0xffff, bl = b & 0xffff;
    return (al * bl + ((((a >>> 16) * bl + al * (b >>> 16)) << 16) >>> 0)) | 0;
  });

  function from(C) {
    return function (src, map, thisArg) {
      var n = src.length >>> 0, out = new C(n);
      for (var i = 0; i < n; i++) out[i] = map ? map.call(thisArg, src[i], i) : src[i];
      return out;
    };
  }
  def(Array, 'from', from(Array));
  function fill(v, start, end) {
    var n = this.length >>> 0;
    for (var i = rel(start, n, 0), e = rel(end, n, n); i < e; i++) this[i] = v;
    return this;
  }
  def(Array.prototype, 'fill', fill);
  def(Array.prototype, 'find', function (p, t) { for (var i = 0; i < this.length; i++) if (p.call(t, this[i], i, this)) return this[i]; return undefined; });
  def(Array.prototype, 'findIndex', function (p, t) { for (var i = 0; i < this.length; i++) if (p.call(t, this[i], i, this)) return i; return -1; });

  var typed = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float32Array', 'Float64Array'];
  for (var t = 0; t < typed.length; t++) {
    var C = G[typed[t]];
    if (typeof C !== 'function') continue;
    def(C, 'from', from(C));
    def(C, 'of', (function (C) { return function () { return from(C)(arguments); }; })(C));
    def(C.prototype, 'fill', fill);
    // a copy (not a view), as %TypedArray%.prototype.slice
    def(C.prototype, 'slice', (function (C) {
      return function (start, end) {
        var n = this.length, s = rel(start, n, 0), e = rel(end, n, n);
        var out = new C(Math.max(e - s, 0));
        if (e > s) out.set(this.subarray(s, e));
        return out;
      };
    })(C));
  }
})(typeof globalThis !== 'undefined' ? globalThis : typeof window !== 'undefined' ? window : this);
