/**
 * Registers services on the Connect router and, at the same time, their unary methods in a
 * table the unary fast path serves from (unary-fast-path.ts). Handlers are written once, as
 * connect ServiceImpls; both paths call the same functions.
 */
import type { DescMessage, DescMethod, DescService, Message, MessageInitShape } from "@bufbuild/protobuf";
import type { ConnectRouter, HandlerContext, ServiceImpl } from "@connectrpc/connect";

/** What a register function needs: a ConnectRouter satisfies it, and so does UnaryMethodTable's registrar. */
export interface ServiceRegistrar {
  service<S extends DescService>(service: S, impl: ServiceImpl<S>): unknown;
}

export interface UnaryMethod {
  service: DescService;
  method: DescMethod;
  /** "sisyphus.kv.v1.KVService/Put", for metrics and logs. */
  name: string;
  input: DescMessage;
  output: DescMessage;
  call(request: Message, context: HandlerContext): Promise<MessageInitShape<DescMessage>>;
}

export class UnaryMethodTable {
  /** By request path, "/sisyphus.kv.v1.KVService/Put". */
  readonly byPath = new Map<string, UnaryMethod>();

  /** A registrar that registers on `router` and records the unary methods here. */
  registrar(router: ConnectRouter): ServiceRegistrar {
    return {
      service: (service, impl) => {
        router.service(service, impl);
        this.add(service, impl);
      },
    };
  }

  private add<S extends DescService>(service: S, impl: ServiceImpl<S>): void {
    for (const method of service.methods) {
      if (method.methodKind !== "unary") continue;
      const fn = (impl as Record<string, unknown>)[method.localName] as (request: Message, context: HandlerContext) => unknown;
      const name = `${service.typeName}/${method.name}`;
      this.byPath.set(`/${name}`, {
        service,
        method,
        name,
        input: method.input,
        output: method.output,
        call: async (request, context) => (await fn.call(impl, request, context)) as MessageInitShape<DescMessage>,
      });
    }
  }
}
