import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseRequestTarget, checkHostHeader } from '../../src/server/request-path';
import { httpVersion10Head, parseRangeHeader } from '../../src/server/http-bits';
import { errorCode } from '../helpers';

test('request targets: decoded segments and parse_qs-style query', () => {
  const t = parseRequestTarget('/1.0.1/flash/my%20lib.py?current_ver=1.0.0&current_ver=2&x=&y=a+b');
  assert.equal(t.segments, ['1.0.1', 'flash', 'my lib.py']);
  assert.is(t.query.get('current_ver'), '1.0.0');
  assert.not.ok(t.query.has('x'));
  assert.is(t.query.get('y'), 'a b');
  assert.equal(parseRequestTarget('/').segments, []);
});

test('request targets: every escape refused as HTTP_BAD_PATH', () => {
  for (const bad of ['', '*', 'http://h/x', '/../x', '/a/..', '/a/./b', '/%2e%2e/x', '/%2E./x', '/a%2fb', '/a%2Fb', '/a\\b', '/a%5cb', '//x', '/a//b', '/a/', '/a%00b', '/a\u0000b', '/a%0ab', '/a%', '/a%zz', '/a#b', '/?q=%']) {
    assert.is(errorCode(() => parseRequestTarget(bad)), 'HTTP_BAD_PATH', JSON.stringify(bad));
  }
});

test('Host header: names, addresses, ports; nothing that rewrites a URL', () => {
  for (const ok of ['example.com', '192.168.1.144:8000', '[::1]:8000', 'localhost']) assert.is(checkHostHeader(ok), ok);
  for (const bad of ['a/b', 'a@b', 'a b', '"x"', 'a:b:c', '', 'a?', 'a#']) assert.is(errorCode(() => checkHostHeader(bad)), 'HTTP_BAD_HOST', bad);
});

test('Range: one byte range; suffix; 416 past the end; ignored when malformed or several', () => {
  assert.equal(parseRangeHeader('bytes=0-99', 1000), { start: 0, end: 100 });
  assert.equal(parseRangeHeader('bytes=900-', 1000), { start: 900, end: 1000 });
  assert.equal(parseRangeHeader('bytes=900-5000', 1000), { start: 900, end: 1000 });
  assert.equal(parseRangeHeader('bytes=-100', 1000), { start: 900, end: 1000 });
  assert.equal(parseRangeHeader('bytes=-5000', 1000), { start: 0, end: 1000 });
  assert.is(parseRangeHeader('bytes=1000-', 1000), 'unsatisfiable');
  assert.is(parseRangeHeader('bytes=-0', 1000), 'unsatisfiable');
  assert.is(parseRangeHeader('bytes=0-', 0), 'unsatisfiable');
  assert.is(parseRangeHeader('bytes=5-1', 1000), null);
  assert.is(parseRangeHeader('bytes=0-1,5-9', 1000), null);
  assert.is(parseRangeHeader('items=0-1', 1000), null);
});

test('the HTTP/1.0 head is 100 bytes, ends in one blank line, and carries Pycom\'s Content-type', () => {
  for (const [s, r, t] of [[200, 'OK', 'application/json'], [404, 'Not Found', 'text/plain; charset=utf-8'], [200, 'OK', 'application/octet-stream']] as const) {
    const h = httpVersion10Head(s, r, t).toString('latin1');
    assert.is(h.length, 100);
    assert.ok(h.startsWith(`HTTP/1.0 ${s} ${r}\r\nContent-type: ${t}\r\n`));
    assert.is(h.indexOf('\r\n\r\n'), 96);
  }
});

test.run();
