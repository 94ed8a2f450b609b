/** Small string checks shared by the router and the response cache. */

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `s` has no lone surrogate (it encodes to UTF-8 and back unchanged). */
export function isWellFormed(s: string): boolean {
  return !LONE_SURROGATE.test(s);
}

/** True when `s` holds a control character. */
export function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // C0 controls, DEL and C1 controls.
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/** UTF-8 length of `s` in bytes. */
export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
