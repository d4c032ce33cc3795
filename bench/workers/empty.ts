/** Cold-start baseline: an empty Worker answering 200. */
export default { fetch: (): Response => new Response("{}") };
