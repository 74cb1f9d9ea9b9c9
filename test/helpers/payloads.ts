/** Arbitrary payloads for property tests of the canonical form (fast-check). */
import fc from 'fast-check';

/**
 * Payload-shaped values: objects of any text in names and strings (a few short names
 * often, so that names collide and sort close; up to 20 members, past the insertion-sort
 * cut-off of the canonical walk), any safe number, -0 included.
 */
export const PAYLOAD_JSON = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true, min: -(2 ** 53 - 1), max: 2 ** 53 - 1 }),
    fc.integer(),
    fc.string({ unit: 'binary' }),
    fc.array(tie('value'), { maxLength: 5 }),
    tie('object'),
  ),
  object: fc.dictionary(fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('a', 'b', 'aa', 'B', 'é')), tie('value'), { maxKeys: 20 }),
})).object;
