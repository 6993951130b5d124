/**
 * Command lines for the README's "first put and get" section, exactly as interop.test.ts runs
 * them (through /bin/sh, from the repository root, after `npm install`). They read the server's
 * URL from the shell variable SISYPHUS, so the README sets it once:
 *
 *   export SISYPHUS=http://127.0.0.1:7379
 *
 * Keys and values are bytes, base64 in JSON: "aGVsbG8=" is "hello", "d29ybGQ=" is "world".
 * `expect` is what the test requires the command's output to contain; it is not README text.
 */

export interface ReadmeCommand {
  title: string;
  command: string;
  /** The output must match this (the test's check, not for the README). */
  expect: RegExp;
}

const PUT = `'{"key":"aGVsbG8=","value":"d29ybGQ="}'`;
const GET = `'{"key":"aGVsbG8="}'`;
const WROTE = /"revision":\s*"\d+"/;
const READ = /"value":\s*"d29ybGQ="/;

/** Run by interop.test.ts against a real server. */
export const README_COMMANDS: readonly ReadmeCommand[] = [
  {
    title: "buf curl, gRPC: put hello=world (the schema comes from server reflection)",
    command: `npx buf curl --protocol grpc --http2-prior-knowledge --data ${PUT} "$SISYPHUS/sisyphus.kv.v1.KVService/Put"`,
    expect: WROTE,
  },
  {
    title: "buf curl, gRPC: get hello",
    command: `npx buf curl --protocol grpc --http2-prior-knowledge --data ${GET} "$SISYPHUS/sisyphus.kv.v1.KVService/Range"`,
    expect: READ,
  },
  {
    title: "buf curl, Connect: put hello=world",
    command: `npx buf curl --protocol connect --data ${PUT} "$SISYPHUS/sisyphus.kv.v1.KVService/Put"`,
    expect: WROTE,
  },
  {
    title: "buf curl, Connect: get hello",
    command: `npx buf curl --protocol connect --data ${GET} "$SISYPHUS/sisyphus.kv.v1.KVService/Range"`,
    expect: READ,
  },
  {
    title: "buf curl, gRPC-Web: put hello=world",
    command: `npx buf curl --protocol grpcweb --data ${PUT} "$SISYPHUS/sisyphus.kv.v1.KVService/Put"`,
    expect: WROTE,
  },
  {
    title: "buf curl, gRPC-Web: get hello",
    command: `npx buf curl --protocol grpcweb --data ${GET} "$SISYPHUS/sisyphus.kv.v1.KVService/Range"`,
    expect: READ,
  },
  {
    title: "curl, Connect JSON over HTTP/1.1: put hello=world",
    command: `curl -sS --fail-with-body -H 'Content-Type: application/json' --data ${PUT} "$SISYPHUS/sisyphus.kv.v1.KVService/Put"`,
    expect: WROTE,
  },
  {
    title: "curl, Connect JSON over HTTP/1.1: get hello",
    command: `curl -sS --fail-with-body -H 'Content-Type: application/json' --data ${GET} "$SISYPHUS/sisyphus.kv.v1.KVService/Range"`,
    expect: READ,
  },
  {
    title: "curl, Connect JSON over HTTP/2 (cleartext, prior knowledge): put hello=world",
    command: `curl -sS --fail-with-body --http2-prior-knowledge -H 'Content-Type: application/json' --data ${PUT} "$SISYPHUS/sisyphus.kv.v1.KVService/Put"`,
    expect: WROTE,
  },
  {
    title: "curl, Connect JSON over HTTP/2 (cleartext, prior knowledge): get hello",
    command: `curl -sS --fail-with-body --http2-prior-knowledge -H 'Content-Type: application/json' --data ${GET} "$SISYPHUS/sisyphus.kv.v1.KVService/Range"`,
    expect: READ,
  },
  {
    title: "curl: every key (key and range_end \"\\0\", both base64 \"AA==\"), keys only",
    command: `curl -sS --fail-with-body -H 'Content-Type: application/json' --data '{"key":"AA==","rangeEnd":"AA==","keysOnly":true}' "$SISYPHUS/sisyphus.kv.v1.KVService/Range"`,
    expect: /"key":\s*"aGVsbG8="/,
  },
  {
    title: "curl: liveness, readiness and Prometheus metrics",
    command: `curl -sS --fail "$SISYPHUS/healthz" && curl -sS --fail "$SISYPHUS/readyz" && curl -sS --fail "$SISYPHUS/metrics" | grep '^sisyphus_mvcc_revision'`,
    expect: /^ok\nready\nsisyphus_mvcc_revision \d+/,
  },
];

/**
 * grpcurl equivalents for the README. NOT RUN by any test: grpcurl cannot be installed in the
 * environment the tests run in. grpcurl takes host:port, not a URL; `${SISYPHUS#http://}` is the
 * POSIX shell's way of dropping the scheme from $SISYPHUS.
 */
export const GRPCURL_COMMANDS_NOT_RUN: readonly { title: string; command: string }[] = [
  { title: "grpcurl: list the services (server reflection)", command: `grpcurl -plaintext "\${SISYPHUS#http://}" list` },
  { title: "grpcurl: describe the KV service", command: `grpcurl -plaintext "\${SISYPHUS#http://}" describe sisyphus.kv.v1.KVService` },
  { title: "grpcurl: put hello=world", command: `grpcurl -plaintext -d ${PUT} "\${SISYPHUS#http://}" sisyphus.kv.v1.KVService/Put` },
  { title: "grpcurl: get hello", command: `grpcurl -plaintext -d ${GET} "\${SISYPHUS#http://}" sisyphus.kv.v1.KVService/Range` },
  {
    title: "grpcurl: watch hello (prints each change until Ctrl-C)",
    command: `grpcurl -plaintext -d '{"create":{"key":"aGVsbG8="}}' "\${SISYPHUS#http://}" sisyphus.kv.v1.WatchService/Watch`,
  },
  { title: "grpcurl: health check", command: `grpcurl -plaintext "\${SISYPHUS#http://}" grpc.health.v1.Health/Check` },
];
