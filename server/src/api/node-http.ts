/**
 * The request and response objects connect-node's adapter hands to a Node handler (http/1.1 or
 * http2 compat), named once for the parts of the API layer that handle requests before it.
 */
import type { ConnectNodeAdapterOptions } from "@connectrpc/connect-node";

type NodeHandler = NonNullable<ConnectNodeAdapterOptions["fallback"]>;
export type NodeRequest = Parameters<NodeHandler>[0];
export type NodeResponse = Parameters<NodeHandler>[1];
