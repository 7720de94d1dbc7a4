// Small HTTP pieces of the update server, pure so they are tested alone.

/** Size of Pycom's client's recv() buffer, which decides how it finds the end of the head. */
export const PYCOM_RECV_SIZE = 100;

/**
 * The head of an HTTP/1.0 answer, as Pycom's server writes it (status line, `Content-type`) and
 * padded to exactly PYCOM_RECV_SIZE bytes: Pycom's client looks for the blank line only inside each
 * recv(100) and keeps only the text between the first and second blank line of that read, so a head
 * that fills its first read exactly is found whole and no body byte shares the read.
 */
export function httpVersion10Head(status: number, reason: string, type: string): Buffer {
  const start = `HTTP/1.0 ${status} ${reason}\r\nContent-type: ${type}\r\n`;
  const padName = 'X-Pad: ';
  const room = PYCOM_RECV_SIZE - start.length - padName.length - 4;
  if (room < 0) return Buffer.from(start + '\r\n', 'latin1');
  return Buffer.from(start + padName + '-'.repeat(room) + '\r\n\r\n', 'latin1');
}

/**
 * One `Range: bytes=...` range over a file of `size` bytes: `{start, end}` (end exclusive),
 * 'unsatisfiable' (a 416), or null when the header is ignored (not bytes, several ranges,
 * malformed: the whole file is sent, as RFC 9110 allows).
 */
export function parseRangeHeader(header: string, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = /^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$/i.exec(header);
  if (m === null || (m[1] === '' && m[2] === '')) return null;
  if (size === 0) return 'unsatisfiable';
  if (m[1] === '') {
    const n = parseInt(m[2], 10);
    if (n === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size };
  }
  const start = parseInt(m[1], 10);
  const last = m[2] === '' ? size - 1 : parseInt(m[2], 10);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(last)) return null;
  if (start >= size) return 'unsatisfiable';
  if (last < start) return null;
  return { start, end: Math.min(last, size - 1) + 1 };
}
