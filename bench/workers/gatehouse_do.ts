/** Cold start: Gatehouse on the Durable Object driver alone, built on the first request. */
import type { AuthServer } from "../../mod.ts";
import { durableObjectStorage, GatehouseStorageObject } from "../../storage/durable_object.ts";
import type { DurableObjectNamespaceLike } from "../../storage/durable_object.ts";
import { gatehouseServer, serve } from "./_gatehouse.ts";

export { GatehouseStorageObject };

let auth: AuthServer | undefined;
export default {
  fetch(
    req: Request,
    env: { STORE: DurableObjectNamespaceLike; SIGNING_JWK: string },
  ): Promise<Response> {
    auth ??= gatehouseServer("do.test", durableObjectStorage(env.STORE), env.SIGNING_JWK);
    return serve(auth, req);
  },
};
