/**
 * The error table: every code maps to a gRPC status other than UNKNOWN (grpc-js turns any
 * non-numeric code into UNKNOWN) and to an HTTP error status, and the README's "Errors"
 * table lists every code exactly as the code says (UPDATE_README=1 rewrites it).
 */
import t from 'tap';
import { ERROR_TABLE, GrpcStatus, SpineError } from '../../../src/errors';
import { errorMsg, serviceError } from '../../../src/api/grpc/status';
import { errorsTable, generatedSection, writeGeneratedSection } from '../../helpers/readme';

t.test('every code maps to a gRPC status and an HTTP status', async (t) => {
  const statuses = new Set<number>(Object.values(GrpcStatus));
  for (const [code, spec] of Object.entries(ERROR_TABLE)) {
    t.ok(statuses.has(spec.grpc), `${code}: a gRPC status`);
    t.not(spec.grpc, GrpcStatus.UNKNOWN, `${code}: not UNKNOWN`);
    t.not(spec.grpc, GrpcStatus.OK, `${code}: not OK`);
    t.ok(Number.isInteger(spec.http) && spec.http >= 400 && spec.http <= 599, `${code}: HTTP ${spec.http}`);
    t.ok(spec.doc.length > 10, `${code}: documented`);
    t.match(code, /^[A-Z][A-Z_]+$/, `${code}: a stable machine code`);
  }
});

t.test('the gRPC layer sends the table status with error-code and error-field', async (t) => {
  for (const code of Object.keys(ERROR_TABLE) as (keyof typeof ERROR_TABLE)[]) {
    const err = new SpineError(code, `${code} happened`, { field: 'events[0].x' });
    const wire = serviceError(err);
    t.equal(wire.code, ERROR_TABLE[code].grpc, code);
    t.same(wire.metadata?.get('error-code'), [code]);
    t.same(wire.metadata?.get('error-field'), ['events[0].x']);
    t.same(errorMsg(err), { code, message: `${code} happened`, status: ERROR_TABLE[code].grpc, field: 'events[0].x' });
  }
  const noField = serviceError(new SpineError('NOT_FOUND', 'gone'));
  t.same(noField.metadata?.get('error-field'), [], 'no error-field without a field');
});

t.test("the README's error table lists every code", async (t) => {
  const expected = errorsTable();
  if (process.env.UPDATE_README === '1') writeGeneratedSection('errors', expected);
  const section = generatedSection('errors');
  t.ok(section !== undefined, 'README.md has the generated errors section');
  for (const code of Object.keys(ERROR_TABLE)) t.match(section ?? '', `| \`${code}\` |`, `${code} is in the README`);
  t.equal(section, expected, 'the table is as generated from ERROR_TABLE (UPDATE_README=1 to rewrite)');
});
