import { type KmsgRecord, parseKmsgRecord, unescapeKmsg } from '../../../src/sources/kmsg/record';

describe('parseKmsgRecord', () => {
  it.each<[string, string, Partial<KmsgRecord> | undefined]>([
    [
      'a plain record',
      '6,426,149384028,-;hello world\n',
      { level: 6, facility: 0, seq: 426, usec: 149384028, flags: '-', message: 'hello world', dict: {} },
    ],
    [
      'a user record (facility 1)',
      '12,1296,1395009996,-;oomwatch-capture begin 1\n',
      { level: 4, facility: 1, message: 'oomwatch-capture begin 1' },
    ],
    [
      'dictionary lines',
      '6,193,293208,-;acpi PNP0A08:00: _OSC: OS supports\n SUBSYSTEM=acpi\n DEVICE=+acpi:PNP0A08:00\n',
      {
        message: 'acpi PNP0A08:00: _OSC: OS supports',
        dict: { SUBSYSTEM: 'acpi', DEVICE: '+acpi:PNP0A08:00' },
      },
    ],
    ['a caller field after the flags', '6,5,10,-,caller=T123;x\n', { seq: 5, flags: '-', message: 'x' }],
    ['a semicolon in the text', '6,5,10,-;a;b\n', { message: 'a;b' }],
    [
      'escaped bytes: newline, backslash, UTF-8',
      '6,5,10,-;a\\x0ab\\x5cc \\xc3\\xa9\n',
      { message: 'a\nb\\c é' },
    ],
    ['no trailing newline', '6,5,10,c;tail', { flags: 'c', message: 'tail' }],
    ['no header', 'hello\n', undefined],
    ['letters in the header', '6,x,10,-;a\n', undefined],
    ['too few fields', '6,12,;a\n', undefined],
    ['a seq beyond 2^53', '6,90071992547409930,10,-;a\n', undefined],
  ])('%s', (_name, text, expected) => {
    const r = parseKmsgRecord(text);
    if (expected === undefined) expect(r.ok).toBe(false);
    else {
      expect(r.ok).toBe(true);
      if (r.ok) expect(r.value).toMatchObject(expected);
    }
  });

  it('names the bad record in the error', () => {
    const r = parseKmsgRecord('garbage without header\n');
    expect(r.ok ? '' : r.error).toContain('"garbage without header\\n"');
  });

  it('unescape leaves text without escapes alone and decodes a comm cut inside a UTF-8 character', () => {
    expect(unescapeKmsg('plain')).toBe('plain');
    expect(unescapeKmsg('ab\\xc3')).toBe('ab\ufffd');
  });
});
