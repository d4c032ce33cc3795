/** Cold start: Gatehouse on Workers KV alone, built on the first request (it needs `env`). */
import type { AuthServer } from "../../mod.ts";
import { workersKvStorage } from "../../storage/workers_kv.ts";
import type { KvNamespaceLike } from "../../storage/workers_kv.ts";
import { gatehouseServer, serve } from "./_gatehouse.ts";

let auth: AuthServer | undefined;
export default {
  fetch(req: Request, env: { OAUTH_KV: KvNamespaceLike; SIGNING_JWK: string }): Promise<Response> {
    auth ??= gatehouseServer("kv.test", workersKvStorage(env.OAUTH_KV), env.SIGNING_JWK);
    return serve(auth, req);
  },
};
