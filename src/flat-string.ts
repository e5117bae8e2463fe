/**
 * The same text as one flat run of characters, for strings the daemon keeps as long as a container lives.
 *
 * V8 builds a joined string (path.join, a template literal, +) as a tree of its pieces, 32 bytes a node with
 * every piece kept alive, and a slice keeps the whole string it was cut from. A container's directory paths
 * and label texts made that way took about 2.5 KB each container, and a heap snapshot at 1000 containers
 * counted 40,000 such nodes; flat, the same text takes a few hundred bytes. Only for strings made once and
 * kept: the copy costs an encode and a decode.
 */
export function flatString(s: string): string {
  const copy = Buffer.from(s, 'utf8').toString('utf8');
  // A lone surrogate does not survive UTF-8: such a string is kept as it is rather than changed.
  return copy === s ? copy : s;
}
