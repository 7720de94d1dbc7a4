// otaflash polyfills for ES5 engines (Duktape 2.7, Espruino 2v29): load before otaflash*.es5*.js.
// Only what the lowered bundles call and one of those engines lacks; each is defined only when missing,
// so the file is harmless in an engine that has them all.
(function () {
  function def(obj, name, fn) {
    if (obj && typeof obj[name] !== 'function') {
      try { Object.defineProperty(obj, name, { value: fn, writable: true, configurable: true, enumerable: false }); } catch (e) { obj[name] = fn; }
    }
  }
  function toInt(n, dflt) { n = Number(n); return n !== n ? dflt : n < 0 ? Math.ceil(n) : Math.floor(n); }
  function rel(n, len, dflt) { n = n === undefined ? dflt : toInt(n, 0); return n < 0 ? Math.max(len + n, 0) : Math.min(n, len); }
  // (function declarations first: Espruino does not hoist them)
  function from(C) {
    return function (src, map, thisArg) {
      var n = src.length >>> 0, out = new C(n);
      for (var i = 0; i < n; i++) out[i] = map ? map.call(thisArg, src[i], i) : src[i];
      return out;
    };
  }
  function fill(v, start, end) {
    var n = this.length >>> 0;
    for (var i = rel(start, n, 0), e = rel(end, n, n); i < e; i++) this[i] = v;
    return this;
  }

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
  // Espruino lacks these (then `n <= Number.MAX_SAFE_INTEGER` is false for every n)
  if (Number.MAX_SAFE_INTEGER === undefined) Number.MAX_SAFE_INTEGER = 9007199254740991;
  if (Number.MIN_SAFE_INTEGER === undefined) Number.MIN_SAFE_INTEGER = -9007199254740991;
  def(Number, 'isInteger', function (n) { return typeof n === 'number' && isFinite(n) && Math.floor(n) === n; });
  def(Number, 'isSafeInteger', function (n) { return Number.isInteger(n) && Math.abs(n) <= 9007199254740991; });
  def(Math, 'imul', function (a, b) {
    var al = a & 0xffff, bl = b & 0xffff;
    return (al * bl + ((((a >>> 16) * bl + al * (b >>> 16)) << 16) >>> 0)) | 0;
  });

  def(Array, 'from', from(Array));
  def(Array.prototype, 'fill', fill);
  def(Array.prototype, 'find', function (p, t) { for (var i = 0; i < this.length; i++) if (p.call(t, this[i], i, this)) return this[i]; return undefined; });
  def(Array.prototype, 'findIndex', function (p, t) { for (var i = 0; i < this.length; i++) if (p.call(t, this[i], i, this)) return i; return -1; });

  var ctors = [];
  if (typeof Int8Array === 'function') ctors.push(Int8Array);
  if (typeof Uint8Array === 'function') ctors.push(Uint8Array);
  if (typeof Uint8ClampedArray === 'function') ctors.push(Uint8ClampedArray);
  if (typeof Int16Array === 'function') ctors.push(Int16Array);
  if (typeof Uint16Array === 'function') ctors.push(Uint16Array);
  if (typeof Int32Array === 'function') ctors.push(Int32Array);
  if (typeof Uint32Array === 'function') ctors.push(Uint32Array);
  if (typeof Float32Array === 'function') ctors.push(Float32Array);
  if (typeof Float64Array === 'function') ctors.push(Float64Array);
  for (var t = 0; t < ctors.length; t++) {
    var C = ctors[t];
    if (typeof C !== 'function') continue;
    def(C, 'from', from(C));
    def(C.prototype, 'fill', fill);
    // the delta decoders move their window with it (Duktape and Espruino lack it)
    def(C.prototype, 'copyWithin', function (target, start, end) {
      var n = this.length, t = rel(target, n, 0), s = rel(start, n, 0), e = rel(end, n, n);
      var count = Math.min(e - s, n - t);
      var i;
      // element by element in the direction that never reads a moved element (ranges may overlap)
      if (t < s) for (i = 0; i < count; i++) this[t + i] = this[s + i];
      else for (i = count - 1; i >= 0; i--) this[t + i] = this[s + i];
      return this;
    });
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
})();
