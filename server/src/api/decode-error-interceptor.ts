/**
 * connect-node reports a request message that does not decode as INTERNAL ("parse binary: ...")
 * where the fault is the client's; etcd (grpc-go) and our unary fast path answer
 * INVALID_ARGUMENT. Unary calls on the fast path never reach connect-node's decoder; for the
 * streaming methods the decode error passes through the interceptor chain, and this maps it.
 */
import { Code, ConnectError, type Interceptor, type StreamResponse } from "@connectrpc/connect";

/** The prefix connect-es gives binary decode errors (its serialization.ts). */
const BINARY_DECODE_ERROR = "parse binary: ";

function remap(err: unknown, typeName: string): unknown {
  if (err instanceof ConnectError && err.code === Code.Internal && err.rawMessage.startsWith(BINARY_DECODE_ERROR)) {
    return new ConnectError(`cannot decode message ${typeName}: ${err.rawMessage.slice(BINARY_DECODE_ERROR.length)}`, Code.InvalidArgument, undefined, undefined, err);
  }
  return err;
}

export function decodeErrorInterceptor(): Interceptor {
  return (next) => async (req) => {
    const typeName = req.method.input.typeName;
    let res;
    try {
      res = await next(req);
    } catch (err) {
      throw remap(err, typeName);
    }
    if (!res.stream) return res;
    return { ...res, message: remapStream(res as StreamResponse, typeName) } as typeof res;
  };
}

async function* remapStream<T>(res: StreamResponse, typeName: string): AsyncGenerator<T> {
  try {
    for await (const message of res.message) yield message as T;
  } catch (err) {
    throw remap(err, typeName);
  }
}
