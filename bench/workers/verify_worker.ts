/** The verify probe as a module Worker (workerd, via Miniflare). */
import { probeHandler } from "../_verify_probe.ts";

const handle = probeHandler();
export default { fetch: (req: Request): Promise<Response> => handle(req) };
